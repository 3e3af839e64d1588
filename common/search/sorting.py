"""The `sort` of a search: parsing its forms, ordering hits, and the `sort` values of each hit.

Forms: "field", {"field": "desc"}, {"field": {"order": "desc", "missing": "_first", "mode":
"max", "unmapped_type": "long"}}, "_score", "_doc", a list of these, or `field:desc,other` in
the URL. Like OpenSearch: ascending by default (`_score` descending), missing values last,
several values sorted by their minimum ascending and maximum descending, text fields refused.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from common.errors import IllegalArgumentError
from common.search.errors import QueryParsingError, QueryShardError
from common.search.fields import Doc, extractor, raw_values
from common.search.mappings import Field, Kind, Mapping

SORT_OPTIONS = frozenset({"order", "missing", "mode", "unmapped_type", "numeric_type", "format"})
MODES: dict[str, Callable[[Sequence[Any]], Any]] = {
    "min": min,
    "max": max,
    "sum": sum,
    "avg": statistics.fmean,
    "median": statistics.median,
}
LONG_MAX, LONG_MIN = 2**63 - 1, -(2**63)
# Kinds whose sort values OpenSearch writes as longs (dates as epoch millis, booleans as 0/1).
_LONG_KINDS = frozenset({Kind.LONG, Kind.DATE, Kind.BOOLEAN})
_STRING_KINDS = frozenset({Kind.KEYWORD, Kind.FLAT, Kind.DYNAMIC_KEYWORD, Kind.ID})
_UNMAPPED_TYPES = {
    "long": Kind.LONG,
    "integer": Kind.LONG,
    "short": Kind.LONG,
    "byte": Kind.LONG,
    "double": Kind.FLOAT,
    "float": Kind.FLOAT,
    "date": Kind.DATE,
    "boolean": Kind.BOOLEAN,
    "keyword": Kind.KEYWORD,
}


@dataclass(frozen=True, slots=True)
class SortKey:
    """One sort criterion as parsed; resolved against the matching documents in `order`."""

    name: str
    descending: bool
    missing: Any = "_last"
    mode: str | None = None
    unmapped_type: str | None = None


# A hit as the engine keeps it: (position in the index, id, source, score).
Hit = tuple[int, str, Doc, float]
SortValues = Callable[[int], list[Any]]


def parse_sort(value: Any) -> list[SortKey]:
    """Parse the body's `sort` (one entry or a list)."""
    entries = value if isinstance(value, list) else [value]
    keys: list[SortKey] = []
    for entry in entries:
        if isinstance(entry, str):
            keys.append(SortKey(entry, descending=entry == "_score"))
        elif isinstance(entry, dict):
            keys.extend(_parse_object(name, spec) for name, spec in entry.items())
        else:
            raise QueryParsingError(
                f"[sort] malformed: expected a field name or an object, got [{entry}]"
            )
    return keys


def parse_url_sort(value: str) -> list[SortKey]:
    """Parse the URL's `sort=field:desc,other` form."""
    keys: list[SortKey] = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        name, _, order = part.rpartition(":") if ":" in part else (part, "", "")
        descending = _descending(order) if order else name == "_score"
        keys.append(SortKey(name, descending))
    return keys


def _descending(order: Any) -> bool:
    if not isinstance(order, str) or order.lower() not in ("asc", "desc"):
        raise IllegalArgumentError(f"Unknown SortOrder [{order}]")
    return order.lower() == "desc"


def _parse_object(name: str, spec: Any) -> SortKey:
    if isinstance(spec, str):
        return SortKey(name, _descending(spec))
    if not isinstance(spec, dict):
        raise QueryParsingError(f"[field_sort] malformed sort for [{name}]")
    for option in spec:
        if option not in SORT_OPTIONS:
            raise QueryParsingError(f"[field_sort] unknown field [{option}]")
    mode = spec.get("mode")
    if mode is not None and (not isinstance(mode, str) or mode not in MODES):
        raise IllegalArgumentError(f"Unknown SortMode [{mode}]")
    unmapped = spec.get("unmapped_type")
    if unmapped is not None and (not isinstance(unmapped, str) or unmapped not in _UNMAPPED_TYPES):
        raise IllegalArgumentError(f"No mapper found for type [{unmapped}]")
    descending = _descending(spec["order"]) if "order" in spec else name == "_score"
    missing = spec.get("missing", "_last")
    if isinstance(missing, (dict, list)) or missing is None:
        raise QueryParsingError(f"[field_sort] malformed [missing] for [{name}]")
    return SortKey(name, descending, missing, mode, unmapped)


def tracks_score(keys: Sequence[SortKey]) -> bool:
    """True when no sort is given or a key sorts on _score: hits then carry their score."""
    return not keys or any(k.name == "_score" for k in keys)


def order(hits: list[Hit], keys: Sequence[SortKey], mapping: Mapping) -> SortValues:
    """Sort `hits` in place by `keys`; return what gives the n-th hit's `sort` values."""
    columns = [_column(hits, key, mapping) for key in keys]
    positions = list(range(len(hits)))
    # Stable sorts from the last key to the first give the multi-key order; ties keep index
    # order, as OpenSearch breaks them by document.
    for key, (_, values) in reversed(list(zip(keys, columns, strict=True))):
        positions.sort(key=_position_key(values, _missing_rank(key)), reverse=key.descending)
    hits[:] = [hits[i] for i in positions]
    shown = list(zip(keys, columns, strict=True))
    # Only the page's hits show their sort values: build them on demand.
    return lambda n: [_shown(key, kind, values[positions[n]]) for key, (kind, values) in shown]


def _position_key(values: list[Any], missing_rank: int) -> Callable[[int], Any]:
    """Key positions by their value; a missing value ranks before or after every value."""
    if None not in values:  # the common case: list.__getitem__ runs in C
        return values.__getitem__
    missing = (missing_rank,)
    keys = [missing if v is None else (1, v) for v in values]
    return keys.__getitem__


def _missing_rank(key: SortKey) -> int:
    """Rank of a missing value against present values (rank 1), before the reverse flag."""
    last = key.missing != "_first"
    if key.descending:
        return 0 if last else 2
    return 2 if last else 0


def _column(hits: list[Hit], key: SortKey, mapping: Mapping) -> tuple[Kind | None, list[Any]]:
    """Return the kind sorted on and each hit's value for `key` (None when missing)."""
    if key.name == "_score":
        return None, [hit[3] for hit in hits]
    if key.name == "_doc":
        return None, [hit[0] for hit in hits]
    field = _sortable(mapping.resolve(key.name), key, hits)
    mode = MODES[key.mode or ("max" if key.descending else "min")]
    read = extractor(field)
    fallback = _missing_value(key, field)
    values: list[Any] = []
    kind = field.kind
    for _, doc_id, doc, _ in hits:
        found = read(doc_id, doc)
        if len(found) == 1:  # the common case: one value
            single = found[0]
            values.append(
                single if single.__class__ is int or kind not in _LONG_KINDS else int(single)
            )
        else:
            values.append(_typed(kind, mode(found)) if found else fallback)
    return field.kind, values


def _sortable(field: Field, key: SortKey, hits: list[Hit]) -> Field:
    """Refuse text fields, as OpenSearch does; give an unmapped field the type of its values."""
    if field.kind is Kind.TEXT:
        raise IllegalArgumentError(_fielddata(key.name))
    if field.kind not in (Kind.DYNAMIC, Kind.DYNAMIC_KEYWORD, Kind.OBJECT):
        return field
    sample = next((v for _, _, doc, _ in hits for v in raw_values(doc, field.source)), None)
    kind = _dynamic_kind(field.kind, sample)
    if kind is Kind.TEXT:
        raise IllegalArgumentError(_fielddata(key.name))
    if kind is None and key.unmapped_type is not None:
        kind = _UNMAPPED_TYPES[key.unmapped_type]
    if kind is None:
        raise QueryShardError(f"No mapping found for [{key.name}] in order to sort on")
    return Field(field.name, kind, field.source, field.ignore_above)


def _dynamic_kind(kind: Kind, sample: Any) -> Kind | None:
    """The kind dynamic mapping gives a field whose first value is `sample` (None: unmapped)."""
    if kind is Kind.DYNAMIC_KEYWORD:
        return Kind.DYNAMIC_KEYWORD if isinstance(sample, str) else None
    if kind is Kind.OBJECT or sample is None or isinstance(sample, (dict, list)):
        return None
    if isinstance(sample, str):
        return Kind.TEXT
    if isinstance(sample, bool):
        return Kind.BOOLEAN
    return Kind.FLOAT if isinstance(sample, float) else Kind.LONG


def _fielddata(name: str) -> str:
    return (
        "Text fields are not optimised for operations that require per-document field data "
        "like aggregations and sorting, so these operations are disabled by default. Please "
        f"use a keyword field instead. Alternatively, set fielddata=true on [{name}] in order "
        "to load field data by uninverting the inverted index. Note that this can use "
        "significant memory."
    )


def _typed(kind: Kind, value: Any) -> Any:
    if kind in _LONG_KINDS:
        return int(value)
    if kind is Kind.FLOAT:
        return float(value)
    return value


def _missing_value(key: SortKey, field: Field) -> Any:
    """A custom `missing` value sorts as a present value; _first/_last leave it None."""
    if key.missing in ("_first", "_last"):
        return None
    if field.kind in _STRING_KINDS:
        return str(key.missing)
    try:
        return _typed(field.kind, float(key.missing))
    except (TypeError, ValueError):
        raise IllegalArgumentError(f"failed to parse [missing] value [{key.missing}]") from None


def _shown(key: SortKey, kind: Kind | None, value: Any) -> Any:
    """Return a sort value as OpenSearch writes it in a hit.

    A missing number shows as the extreme that sorts it where it went (Long.MAX_VALUE when
    last in ascending order, and so on); a missing string shows as null.
    """
    if value is not None or kind is None or kind in _STRING_KINDS:
        return value
    high = (key.missing == "_first") == key.descending
    if kind is Kind.FLOAT:
        return "Infinity" if high else "-Infinity"
    return LONG_MAX if high else LONG_MIN
