"""The leaf queries (term, terms, prefix, range, match) and bool, compiled to matchers.

Each builder resolves its field and coerces its values once, then returns a closure that only
reads the document's values and compares. The comparison follows the field's kind: a text
field holds analysed tokens (term is not analysed, match is), a keyword field the exact string.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

from common.errors import IllegalArgumentError
from common.search.analysis import analyze
from common.search.errors import QueryParsingError, QueryShardError
from common.search.fields import NATIVE, Doc, Extractor, extractor, keyword_text, query_value
from common.search.mappings import Field, Kind, Mapping

Matcher = Callable[[str, Doc], float | None]
Test = Callable[[Any], bool]

STRING_KINDS = frozenset({Kind.TEXT, Kind.KEYWORD, Kind.FLAT, Kind.DYNAMIC_KEYWORD, Kind.ID})
TERM_PARAMS = frozenset({"value", "boost", "_name", "case_insensitive"})
PREFIX_PARAMS = frozenset({"value", "boost", "_name", "case_insensitive", "rewrite"})
RANGE_PARAMS = frozenset(
    {"gt", "gte", "lt", "lte", "from", "to", "include_lower", "include_upper"}
    | {"format", "time_zone", "boost", "_name", "relation"}
)
MATCH_PARAMS = frozenset(
    {"query", "operator", "minimum_should_match", "boost", "_name", "zero_terms_query"}
    | {"lenient", "analyzer"}
)
_CONDITIONAL = re.compile(r"\s*<\s*")


def match_none(doc_id: str, doc: Doc) -> float | None:
    """Match no document."""
    return None


def clause_params(query: str, body: dict[str, Any], allowed: set[str] | frozenset[str]) -> Any:
    """Return `body` after refusing any parameter the query does not know."""
    for key in body:
        if key not in allowed:
            raise QueryParsingError(f"[{query}] query does not support [{key}]")
    return body


def number_param(query: str, params: dict[str, Any], key: str, default: float) -> float:
    """Read a numeric parameter such as boost."""
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise QueryParsingError(f"[{query}] query does not support [{key}] value [{value}]")
    try:
        number = float(value)
    except ValueError:
        raise QueryParsingError(f"[{query}] failed to parse [{key}] value [{value}]") from None
    if not math.isfinite(number) or number < 0:
        raise IllegalArgumentError(f"[{query}] query: negative or non-finite [{key}] not allowed")
    return number


def bool_param(query: str, params: dict[str, Any], key: str) -> bool:
    """Read a boolean parameter (true/false, or their strings)."""
    value = params.get(key, False)
    if value is True or value == "true":
        return True
    if value is False or value == "false":
        return False
    raise QueryParsingError(f"[{query}] failed to parse [{key}] value [{value}] as a boolean")


def single_field(
    query: str, body: dict[str, Any], allowed: frozenset[str], short: str | None
) -> tuple[str, dict[str, Any]]:
    """Split {"<field>": value-or-params} into the field name and its parameters."""
    fields = list(body)
    if not fields:
        raise QueryParsingError(f"[{query}] query malformed, no field")
    if len(fields) > 1:
        raise QueryParsingError(
            f"[{query}] query doesn't support multiple fields, "
            f"found [{fields[0]}] and [{fields[1]}]"
        )
    name, value = fields[0], body[fields[0]]
    if isinstance(value, dict):
        return name, clause_params(query, value, allowed)
    if isinstance(value, list):
        raise QueryParsingError(f"[{query}] query does not support array of values")
    if short is None:
        raise QueryParsingError(f"[{query}] query malformed, no start_object after field [{name}]")
    return name, {short: value}


def _required(query: str, params: dict[str, Any], key: str) -> Any:
    if params.get(key) is None:
        raise QueryParsingError(f"[{query}] query requires a non-null [{key}]")
    return params[key]


# --- term, terms -----------------------------------------------------------------------------
def parse_term(body: dict[str, Any], mapping: Mapping) -> Matcher:
    """{"term": {"field": value}} or {"term": {"field": {"value": v, ...}}}."""
    name, params = single_field("term", body, TERM_PARAMS, "value")
    field = mapping.resolve(name)
    value = query_value(field, _required("term", params, "value"), "term")
    boost = number_param("term", params, "boost", 1.0)
    if bool_param("term", params, "case_insensitive"):
        return _matching(field, _insensitive_equals(field, str(value)), boost)
    return any_of(field, [value], boost)


def any_of(field: Field, wanted: list[Any], boost: float) -> Matcher:
    """Match when the field holds any of the (already coerced) values."""
    if field.kind is Kind.OBJECT or not wanted:
        return match_none
    if field.kind is Kind.DYNAMIC:
        tests = [_dynamic_equals(w) for w in wanted]
        return _matching(field, lambda v: any(test(v) for test in tests), boost)
    # frozenset.__contains__ runs in C; the values it sees are hashable scalars
    return _matching(field, frozenset(wanted).__contains__, boost)


def _matching(field: Field, test: Test, boost: float) -> Matcher:
    """Match when any of the field's values passes `test`."""
    if field.kind is Kind.OBJECT:
        return match_none
    read = extractor(field)

    def matches(doc_id: str, doc: Doc) -> float | None:
        for value in read(doc_id, doc):  # a loop, not any(): no generator per document
            if test(value):
                return boost
        return None

    native = NATIVE.get(field.kind)
    if native is None or len(field.source) != 1 or field.kind is Kind.TEXT or field.ignore_above:
        return matches
    key = field.source[0]

    def top_level(doc_id: str, doc: Doc) -> float | None:
        # the common case, one value of the field's own type, without the extractor's call
        value = doc.get(key)
        if value.__class__ is native:
            return boost if test(value) else None
        return None if value is None else matches(doc_id, doc)

    return top_level


def _insensitive_equals(field: Field, value: str) -> Test:
    wanted = value.lower()
    if field.kind is Kind.DYNAMIC:
        return lambda v: isinstance(v, str) and wanted in [t.lower() for t in analyze(v)]
    return lambda v: isinstance(v, str) and v.lower() == wanted


def _dynamic_equals(wanted: Any) -> Test:
    """Equality on an unmapped field, following each value's JSON type as dynamic mapping does."""
    text = keyword_text(wanted)
    number = _number_or_none(wanted)

    def test(value: Any) -> bool:
        if isinstance(value, str):
            return text in analyze(value)
        if isinstance(value, bool):
            return text == keyword_text(value)
        return number is not None and value == number

    return test


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# --- prefix ----------------------------------------------------------------------------------
def parse_prefix(body: dict[str, Any], mapping: Mapping) -> Matcher:
    """{"prefix": {"field": "pre"}} on text (per token) and keyword fields."""
    name, params = single_field("prefix", body, PREFIX_PARAMS, "value")
    field = mapping.resolve(name)
    if field.kind not in STRING_KINDS | {Kind.DYNAMIC, Kind.OBJECT}:
        raise QueryShardError(
            f"Can only use prefix queries on keyword and text fields - not on [{name}] "
            f"which is of type [{field.kind.value}]"
        )
    prefix = _required("prefix", params, "value")
    if isinstance(prefix, (dict, list)):
        raise QueryParsingError("[prefix] query does not support complex values")
    prefix = keyword_text(prefix)
    boost = number_param("prefix", params, "boost", 1.0)
    if bool_param("prefix", params, "case_insensitive"):
        lowered = prefix.lower()
        test: Test = lambda v: isinstance(v, str) and v.lower().startswith(lowered)  # noqa: E731
    else:
        test = lambda v: isinstance(v, str) and v.startswith(prefix)  # noqa: E731
    if field.kind is Kind.DYNAMIC:
        # an unmapped string is text: its tokens carry the prefix
        return _matching(field, lambda v: isinstance(v, str) and any(map(test, analyze(v))), boost)
    return _matching(field, test, boost)


# --- range -----------------------------------------------------------------------------------
def parse_range(body: dict[str, Any], mapping: Mapping) -> Matcher:
    """{"range": {"field": {"gte": a, "lt": b}}} on numbers, dates, strings."""
    name, params = single_field("range", body, RANGE_PARAMS, None)
    field = mapping.resolve(name)
    _check_time_zone(params)
    lower, lower_inclusive = _bound(params, ("gt", "gte"), "from", "include_lower")
    upper, upper_inclusive = _bound(params, ("lt", "lte"), "to", "include_upper")
    boost = number_param("range", params, "boost", 1.0)
    if field.kind is Kind.DYNAMIC:
        return _matching(
            field, _dynamic_range(lower, lower_inclusive, upper, upper_inclusive), boost
        )
    low = None if lower is None else query_value(field, lower, "range")
    high = None if upper is None else query_value(field, upper, "range")
    return _matching(field, _between(low, lower_inclusive, high, upper_inclusive), boost)


def _check_time_zone(params: dict[str, Any]) -> None:
    zone = params.get("time_zone")
    if zone is not None and str(zone).upper() not in ("UTC", "Z", "+00:00", "GMT", "ETC/UTC"):
        raise IllegalArgumentError(f"[range] time_zone [{zone}] is not supported: use UTC")


def _bound(
    params: dict[str, Any], names: tuple[str, str], legacy: str, legacy_inclusive: str
) -> tuple[Any, bool]:
    exclusive, inclusive = names
    if params.get(inclusive) is not None:
        return params[inclusive], True
    if params.get(exclusive) is not None:
        return params[exclusive], False
    inclusive_flag = bool_param("range", {legacy_inclusive: True, **params}, legacy_inclusive)
    return params.get(legacy), inclusive_flag


def _between(low: Any, low_inclusive: bool, high: Any, high_inclusive: bool) -> Test:
    """Test a value against the bounds; values and bounds share a type (coerced before)."""
    above = operator.ge if low_inclusive else operator.gt
    below = operator.le if high_inclusive else operator.lt
    if low is None and high is None:
        return lambda value: True
    if high is None:
        return lambda value: above(value, low)
    if low is None:
        return lambda value: below(value, high)
    return lambda value: above(value, low) and below(value, high)


def _dynamic_range(low: Any, low_inclusive: bool, high: Any, high_inclusive: bool) -> Test:
    """Range on an unmapped field: numbers against numeric bounds, strings' tokens as text."""
    low_number = None if low is None else _number_or_none(low)
    high_number = None if high is None else _number_or_none(high)
    if (low is not None and low_number is None) or (high is not None and high_number is None):
        numeric: Test = lambda value: False  # noqa: E731 - a bound that is not a number
    else:
        numeric = _between(low_number, low_inclusive, high_number, high_inclusive)
    textual = _between(
        None if low is None else keyword_text(low),
        low_inclusive,
        None if high is None else keyword_text(high),
        high_inclusive,
    )

    def test(value: Any) -> bool:
        if isinstance(value, str):
            return any(map(textual, analyze(value)))
        return not isinstance(value, bool) and numeric(value)

    return test


# --- match -----------------------------------------------------------------------------------
def parse_match(body: dict[str, Any], mapping: Mapping) -> Matcher:
    """{"match": {"field": "some words"}}: analysed on text fields, exact on keywords."""
    name, params = single_field("match", body, MATCH_PARAMS, "query")
    field = mapping.resolve(name)
    query = _required("match", params, "query")
    boost = number_param("match", params, "boost", 1.0)
    operator = str(params.get("operator", "or")).lower()
    if operator not in ("or", "and"):
        raise IllegalArgumentError(f"operator needs to be either [and] or [or], got [{operator}]")
    if field.kind in (Kind.TEXT, Kind.DYNAMIC):
        return _match_text(field, query, params, operator == "and", boost)
    try:
        value = query_value(field, query, "match")
    except QueryShardError:
        if bool_param("match", params, "lenient"):
            return match_none
        raise
    return any_of(field, [value], boost)


def _match_text(
    field: Field, query: Any, params: dict[str, Any], all_terms: bool, boost: float
) -> Matcher:
    if isinstance(query, (dict, list)):
        raise QueryParsingError(f"[match] unknown token after [{field.name}]")
    terms = tuple(dict.fromkeys(analyze(keyword_text(query))))
    if not terms:
        zero = str(params.get("zero_terms_query", "none")).lower()
        return (lambda doc_id, doc: boost) if zero == "all" else match_none
    spec = params.get("minimum_should_match")
    needed = len(terms) if all_terms else 1
    if spec is not None and not all_terms:
        needed = max(minimum_should_match(spec, len(terms)), 1)
    read = extractor(field)
    if field.kind is Kind.DYNAMIC:
        read = _dynamic_tokens(read)
    if len(terms) == 1:
        term = terms[0]
        return lambda doc_id, doc: boost if term in read(doc_id, doc) else None
    share = boost / len(terms)

    def matches(doc_id: str, doc: Doc) -> float | None:
        tokens = read(doc_id, doc)
        found = 0
        for term in terms:
            if term in tokens:
                found += 1
        return found * share if found >= needed else None

    return matches


def _dynamic_tokens(read: Extractor) -> Extractor:
    """Read an unmapped field's values as the terms dynamic mapping indexes for each."""

    def tokens(doc_id: str, doc: Doc) -> Sequence[Any]:
        return [
            t
            for v in read(doc_id, doc)
            for t in (analyze(v) if isinstance(v, str) else (keyword_text(v),))
        ]

    return tokens


def minimum_should_match(spec: Any, optional: int) -> int:
    """Lucene's minimum_should_match: 2, -1, "75%", "-25%", "3<90%" over `optional` clauses."""
    if isinstance(spec, bool) or not isinstance(spec, (int, str)):
        raise QueryParsingError(f"[minimum_should_match] cannot be [{spec}]")
    text = _CONDITIONAL.sub("<", str(spec).strip())
    try:
        if "<" in text:
            return _conditional(text, optional)
        return _simple(text, optional)
    except ValueError:
        raise IllegalArgumentError(f"invalid minimum_should_match [{spec}]") from None


def _conditional(text: str, optional: int) -> int:
    result = optional
    for part in text.split():
        bound, _, rest = part.partition("<")
        if optional <= int(bound):
            return result
        result = _simple(rest, optional)
    return result


def _simple(text: str, optional: int) -> int:
    if text.endswith("%"):
        calc = optional * int(text[:-1]) / 100
        result = optional + math.trunc(calc) if calc < 0 else math.trunc(calc)
    else:
        number = int(text)
        result = optional + number if number < 0 else number
    return max(result, 0)


# --- bool ------------------------------------------------------------------------------------
def boolean(
    must: list[Matcher],
    filters: list[Matcher],
    should: list[Matcher],
    must_not: list[Matcher],
    needed: int,
    boost: float,
) -> Matcher:
    """Combine clauses: filters and must_not decide, must and should also score."""
    if not should:
        needed = 0  # minimum_should_match has nothing to count without should clauses

    def matches(doc_id: str, doc: Doc) -> float | None:
        for clause in filters:
            if clause(doc_id, doc) is None:
                return None
        for clause in must_not:
            if clause(doc_id, doc) is not None:
                return None
        score = 0.0
        for clause in must:
            got = clause(doc_id, doc)
            if got is None:
                return None
            score += got
        return _with_should(should, needed, doc_id, doc, score, boost)

    return matches


def _with_should(
    should: list[Matcher], needed: int, doc_id: str, doc: Doc, score: float, boost: float
) -> float | None:
    hits = 0
    for clause in should:
        got = clause(doc_id, doc)
        if got is not None:
            hits += 1
            score += got
    return score * boost if hits >= needed else None
