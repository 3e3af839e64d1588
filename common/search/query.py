"""Compile OpenSearch query DSL into one Python function over (id, _source) pairs.

A compiled query returns the document's score, or None when it does not match. Parsing,
field resolution and value coercion happen once, in `compile_query`; the function it returns
does only the per-document comparisons. Scores are simple: leaf queries score their `boost`
(1.0), `match` on a text field scores the share of the query's tokens the field holds, `bool`
sums its `must` and matching `should` clauses (a bool of only filter/must_not clauses scores
0.0, as in OpenSearch). No BM25: relative order among matches differs from OpenSearch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.errors import IllegalArgumentError
from common.search import predicates
from common.search.errors import QueryParsingError
from common.search.fields import extractor, query_value
from common.search.mappings import Field, Kind, Mapping
from common.search.predicates import Matcher, clause_params, match_none, number_param

Parser = Callable[[Any, Mapping], Matcher]

BOOL_KEYS = frozenset(
    {"must", "filter", "should", "must_not", "minimum_should_match", "boost", "_name"}
)
BOOL_OCCURS = ("must", "filter", "should", "must_not")
# OpenSearch's indices.query.bool.max_clause_count default.
MAX_CLAUSES = 1024


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A query ready to run: `matches(id, source)` gives a score or None."""

    matches: Matcher
    match_all: bool  # true when every document matches with score 1.0: no need to evaluate


def compile_query(query: Any, mapping: Mapping) -> CompiledQuery:
    """Parse and compile the body's `query` (None means match_all)."""
    if query is None:
        return CompiledQuery(_constant(1.0), match_all=True)
    name, body = _single_clause(query)
    if name == "match_all" and not _boosted(body):
        clause_params("match_all", body, {"boost", "_name"})
        return CompiledQuery(_constant(1.0), match_all=True)
    return CompiledQuery(compile_clause(query, mapping), match_all=False)


def _boosted(body: Any) -> bool:
    return isinstance(body, dict) and body.get("boost", 1.0) != 1.0


def compile_clause(query: Any, mapping: Mapping) -> Matcher:
    """Compile one query clause ({"<name>": {...}})."""
    name, body = _single_clause(query)
    parser = _PARSERS.get(name)
    if parser is None:
        raise QueryParsingError(f"unknown query [{name}]")
    return parser(body, mapping)


def _single_clause(query: Any) -> tuple[str, Any]:
    if not isinstance(query, dict):
        raise QueryParsingError("[_na] query malformed, must start with start_object")
    if not query:
        raise IllegalArgumentError("query malformed, empty clause found")
    name = next(iter(query))
    if len(query) > 1:
        raise QueryParsingError(
            f"[{name}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]"
        )
    body = query[name]
    if not isinstance(body, dict):
        raise QueryParsingError(f"[{name}] query malformed, no start_object after query name")
    return name, body


def _constant(score: float) -> Matcher:
    return lambda doc_id, doc: score


def _match_all(body: dict[str, Any], mapping: Mapping) -> Matcher:
    params = clause_params("match_all", body, {"boost", "_name"})
    return _constant(number_param("match_all", params, "boost", 1.0))


def _match_none(body: dict[str, Any], mapping: Mapping) -> Matcher:
    clause_params("match_none", body, {"_name"})
    return match_none


def _ids(body: dict[str, Any], mapping: Mapping) -> Matcher:
    params = clause_params("ids", body, {"values", "boost", "_name", "type"})
    values = params.get("values", [])
    if not isinstance(values, list) or any(isinstance(v, (dict, list)) for v in values):
        raise QueryParsingError("[ids] query does not support [values] of this type")
    wanted = frozenset(str(v) for v in values if v is not None)
    boost = number_param("ids", params, "boost", 1.0)
    return lambda doc_id, doc: boost if doc_id in wanted else None


def _exists(body: dict[str, Any], mapping: Mapping) -> Matcher:
    params = clause_params("exists", body, {"field", "boost", "_name"})
    name = params.get("field")
    if not isinstance(name, str) or not name:
        raise QueryParsingError("[exists] must be provided with a [field]")
    field = mapping.resolve(name)
    if field.kind is Kind.TEXT:  # "" has no tokens yet exists: presence is of the value
        field = Field(field.name, Kind.KEYWORD, field.source)
    read = extractor(field)
    boost = number_param("exists", params, "boost", 1.0)
    return lambda doc_id, doc: boost if read(doc_id, doc) else None


def _terms(body: dict[str, Any], mapping: Mapping) -> Matcher:
    fields = [k for k in body if k not in ("boost", "_name", "value_type")]
    if len(fields) != 1:
        raise QueryParsingError(
            "[terms] query does not support multiple fields"
            if fields
            else "[terms] query requires a field"
        )
    name = fields[0]
    values = body[name]
    if isinstance(values, dict):
        raise QueryParsingError("[terms] query does not support terms lookup")
    if not isinstance(values, list):
        raise QueryParsingError(f"[terms] query does not support [{name}]")
    if len(values) > 65536:  # index.max_terms_count
        raise IllegalArgumentError(
            f"The number of terms [{len(values)}] used in the Terms Query request has "
            "exceeded the allowed maximum of [65536]."
        )
    field = mapping.resolve(name)
    boost = number_param("terms", body, "boost", 1.0)
    wanted = [query_value(field, v, "terms") for v in values]
    return predicates.any_of(field, wanted, boost)


def _bool(body: dict[str, Any], mapping: Mapping) -> Matcher:
    unknown = [k for k in body if k not in BOOL_KEYS]
    if unknown:
        raise QueryParsingError(f"[bool] query does not support [{unknown[0]}]")
    occurs = {occur: _clauses(body.get(occur), mapping) for occur in BOOL_OCCURS}
    if sum(map(len, occurs.values())) > MAX_CLAUSES:
        raise IllegalArgumentError(f"too many clauses, maximum is [{MAX_CLAUSES}]")
    boost = number_param("bool", body, "boost", 1.0)
    if not any(occurs.values()):
        return _constant(boost)  # an empty bool is match_all
    spec = body.get("minimum_should_match")
    should = occurs["should"]
    if spec is None:
        needed = 1 if should and not (occurs["must"] or occurs["filter"]) else 0
    else:
        needed = predicates.minimum_should_match(spec, len(should))
    return predicates.boolean(
        occurs["must"], occurs["filter"], should, occurs["must_not"], needed, boost
    )


def _clauses(value: Any, mapping: Mapping) -> list[Matcher]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [compile_clause(item, mapping) for item in items]


def _constant_score(body: dict[str, Any], mapping: Mapping) -> Matcher:
    params = clause_params("constant_score", body, {"filter", "boost", "_name"})
    if "filter" not in params:
        raise QueryParsingError("[constant_score] requires a 'filter' element")
    inner = compile_clause(params["filter"], mapping)
    boost = number_param("constant_score", params, "boost", 1.0)
    return lambda doc_id, doc: None if inner(doc_id, doc) is None else boost


_PARSERS: dict[str, Parser] = {
    "match_all": _match_all,
    "match_none": _match_none,
    "ids": _ids,
    "exists": _exists,
    "terms": _terms,
    "bool": _bool,
    "constant_score": _constant_score,
    "term": predicates.parse_term,
    "prefix": predicates.parse_prefix,
    "range": predicates.parse_range,
    "match": predicates.parse_match,
}
