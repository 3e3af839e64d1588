"""A field's indexed values in one document, and query values coerced to the field's kind.

Each extractor is built once per query and returns, for a document, the values OpenSearch
would have indexed for that field: tokens for text, strings for keywords and flat_object
leaves, numbers for numeric and date fields, booleans for booleans.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from common.search.analysis import analyze
from common.search.errors import QueryParsingError, QueryShardError
from common.search.mappings import Field, Kind

Doc = dict[str, Any]
Extractor = Callable[[str, Doc], Sequence[Any]]

# Date math OpenSearch accepts after "now": now-1d, now+2h (rounding with "/" is not supported).
_DATE_MATH = re.compile(r"now(?:([+-])(\d+)([smhdwMy]))?$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def raw_values(doc: Any, path: tuple[str, ...]) -> list[Any]:
    """Return the non-null scalars and objects at `path`, arrays flattened at every step."""
    current: list[Any] = [doc]
    for part in path:
        following: list[Any] = []
        for item in current:
            if isinstance(item, dict) and part in item:
                _append_flat(following, item[part])
        current = following
    return current


def _append_flat(out: list[Any], value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _append_flat(out, item)
    elif value is not None:
        out.append(value)


def leaves(values: list[Any]) -> list[Any]:
    """Return every scalar under these values (objects and arrays opened)."""
    out: list[Any] = []
    pending = list(reversed(values))
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(reversed([v for v in item.values() if v is not None]))
        elif isinstance(item, list):
            pending.extend(reversed([v for v in item if v is not None]))
        else:
            out.append(item)
    return out


def keyword_text(value: Any) -> str:
    """Return a scalar as a keyword field indexes it (JSON spelling for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _scalars(path: tuple[str, ...]) -> Callable[[Doc], list[Any]]:
    """Return a reader for the scalars at `path`, with a fast path for top-level fields."""
    if len(path) == 1:
        key = path[0]

        def top(doc: Doc) -> list[Any]:
            value = doc.get(key)
            if value is None:
                return []
            if isinstance(value, list):
                return [v for v in leaves(value) if not isinstance(v, dict)]
            return [] if isinstance(value, dict) else [value]

        return top
    return lambda doc: [v for v in raw_values(doc, path) if not isinstance(v, (dict, list))]


def extractor(field: Field) -> Extractor:
    """Return a function giving a document's indexed values for `field`.

    A top-level field holding one value of its own JSON type (a string for a keyword, an int
    for a date) is the common case: it takes a fast path, everything else the general one.
    """
    general = _general_extractor(field)
    native = NATIVE.get(field.kind)
    if native is None or len(field.source) != 1:
        return general
    key = field.source[0]
    limit = field.ignore_above
    if field.kind is Kind.TEXT:

        def text(doc_id: str, doc: Doc) -> Sequence[Any]:
            value = doc.get(key)
            if value.__class__ is str:
                return analyze(value)
            return () if value is None else general(doc_id, doc)

        return text
    if limit is not None:

        def limited(doc_id: str, doc: Doc) -> Sequence[Any]:
            value = doc.get(key)
            if value.__class__ is str and len(value) <= limit:  # only strings have a limit
                return (value,)
            return () if value is None else general(doc_id, doc)

        return limited

    def scalar(doc_id: str, doc: Doc) -> Sequence[Any]:
        value = doc.get(key)
        if value.__class__ is native:
            return (value,)
        return () if value is None else general(doc_id, doc)

    return scalar


def _general_extractor(field: Field) -> Extractor:
    if field.kind is Kind.ID:
        return lambda doc_id, doc: (doc_id,)
    if field.kind in (Kind.FLAT, Kind.OBJECT):
        path = field.source + field.below
        return lambda doc_id, doc: [keyword_text(v) for v in leaves(raw_values(doc, path))]
    read = _scalars(field.source)
    if field.kind is Kind.TEXT:
        return lambda doc_id, doc: [t for v in read(doc) if isinstance(v, str) for t in analyze(v)]
    convert = _CONVERT[field.kind]
    limit = field.ignore_above
    if limit is not None:
        return lambda doc_id, doc: [
            s for s in map(convert, read(doc)) if s is not None and len(s) <= limit
        ]
    return lambda doc_id, doc: [c for c in map(convert, read(doc)) if c is not None]


def _as_keyword(value: Any) -> str | None:
    return keyword_text(value)


def _as_dynamic_keyword(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _as_number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _as_date(value: Any) -> int | None:
    try:
        return parse_date(value)
    except QueryShardError:
        return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(str(value))


def _as_self(value: Any) -> Any:
    return value


# The JSON type a field's value has when it needs no conversion (the extractor's fast path).
NATIVE: dict[Kind, type] = {
    Kind.TEXT: str,
    Kind.KEYWORD: str,
    Kind.DYNAMIC_KEYWORD: str,
    Kind.LONG: int,
    Kind.DATE: int,
    Kind.FLOAT: float,
    Kind.BOOLEAN: bool,
}
_CONVERT: dict[Kind, Callable[[Any], Any]] = {
    Kind.KEYWORD: _as_keyword,
    Kind.DYNAMIC_KEYWORD: _as_dynamic_keyword,
    Kind.LONG: _as_number,
    Kind.FLOAT: _as_number,
    Kind.DATE: _as_date,
    Kind.BOOLEAN: _as_bool,
    Kind.DYNAMIC: _as_self,
}


def parse_date(value: Any, *, now_ms: int | None = None) -> int:
    """Return epoch millis for an epoch-millis number or string, an ISO date or `now` math."""
    if isinstance(value, bool):
        raise QueryShardError(f"failed to parse date field [{value}]")
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    math = _DATE_MATH.match(text)
    if math:
        return _date_math(math, time.time_ns() // 1_000_000 if now_ms is None else now_ms)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryShardError(f"failed to parse date field [{text}]") from None
    if parsed.tzinfo is None:  # OpenSearch reads a date without a zone as UTC
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _date_math(match: re.Match[str], now: int) -> int:
    sign, amount, unit = match.groups()
    if sign is None:
        return now
    if unit in _UNIT_MS:
        delta = int(amount) * _UNIT_MS[unit]
    else:  # months and years: calendar-free approximation of 30 and 365 days
        days = 30 if unit == "M" else 365
        delta = int(timedelta(days=days * int(amount)).total_seconds() * 1000)
    return now + delta if sign == "+" else now - delta


def query_value(field: Field, value: Any, query: str) -> Any:
    """Coerce a query's value to the field's kind; a value the field cannot hold is a 400."""
    if value is None:
        raise QueryParsingError(f"[{query}] value cannot be null")
    if isinstance(value, (dict, list)):
        raise QueryParsingError(
            f"[{query}] query does not support complex values for [{field.name}]"
        )
    kind = field.kind
    if kind in (Kind.LONG, Kind.FLOAT):
        number = _as_number(value)
        if number is None:
            raise QueryShardError(f'failed to create query: For input string: "{value}"')
        return number
    if kind is Kind.DATE:
        return parse_date(value)
    if kind is Kind.BOOLEAN:
        flag = _as_bool(value)
        if flag is None:
            raise QueryShardError(
                f"failed to create query: Can't parse boolean value [{value}], "
                "expected [true] or [false]"
            )
        return flag
    if kind is Kind.DYNAMIC:
        return value
    return keyword_text(value)
