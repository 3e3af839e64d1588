"""`_source` filtering: true/false, include and exclude patterns with `*` wildcards.

As in OpenSearch, a pattern is matched against a field's full dotted path ("connector.name"),
`*` matches any characters (dots too), and a field is kept when it or one of its parent
objects matches an include pattern, and neither it nor a parent matches an exclude pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from common.search.errors import QueryParsingError

Pattern = re.Pattern[str]


@dataclass(frozen=True, slots=True)
class SourceFilter:
    """Which parts of `_source` a hit shows; `fetch=False` leaves `_source` out."""

    fetch: bool = True
    includes: tuple[Pattern, ...] = ()
    excludes: tuple[Pattern, ...] = ()

    @property
    def whole(self) -> bool:
        """True when the source is shown unfiltered."""
        return not self.includes and not self.excludes

    def apply(self, source: dict[str, Any]) -> dict[str, Any]:
        """Return the filtered copy of a document's source."""
        if self.whole:
            return source
        return _filter_object(source, "", not self.includes, self)


ALL = SourceFilter()


def compile_patterns(patterns: list[str]) -> tuple[Pattern, ...]:
    """Turn OpenSearch's simple wildcard patterns into anchored regexes."""
    return tuple(
        re.compile(".*".join(re.escape(part) for part in p.split("*")), re.DOTALL)
        for p in patterns
        if p
    )


def parse_source(value: Any) -> SourceFilter:
    """Parse the body's `_source`: a boolean, a pattern, a list, or includes/excludes."""
    if isinstance(value, bool):
        return SourceFilter(fetch=value)
    if isinstance(value, (str, list)):
        return SourceFilter(includes=compile_patterns(_patterns("_source", value)))
    if isinstance(value, dict):
        unknown = [k for k in value if k not in ("includes", "include", "excludes", "exclude")]
        if unknown:
            raise QueryParsingError(
                f"Unknown key for a {token_name(value[unknown[0]])} in [{unknown[0]}]."
            )
        includes = _patterns("includes", value.get("includes", value.get("include", [])))
        excludes = _patterns("excludes", value.get("excludes", value.get("exclude", [])))
        return SourceFilter(
            includes=compile_patterns(includes), excludes=compile_patterns(excludes)
        )
    raise QueryParsingError(
        f"Expected one of [VALUE_BOOLEAN, START_OBJECT] but found [{token_name(value)}]"
    )


def parse_url_source(
    source: str | None, includes: str | None, excludes: str | None
) -> SourceFilter | None:
    """Parse `_source`, `_source_includes` and `_source_excludes` URL parameters (None: unset)."""
    if source is None and includes is None and excludes is None:
        return None
    fetch = source != "false"
    include_list = [] if source in (None, "true", "false") else _split(source or "")
    if includes is not None:
        include_list = _split(includes)
    exclude_list = _split(excludes) if excludes is not None else []
    return SourceFilter(
        fetch=fetch,
        includes=compile_patterns(include_list),
        excludes=compile_patterns(exclude_list),
    )


def _split(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]


def _patterns(name: str, value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in items):
        raise QueryParsingError(f"Unknown key for a {token_name(value)} in [{name}].")
    return list(items)


def token_name(value: Any) -> str:
    """Name a JSON value the way OpenSearch's parser names its token."""
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if isinstance(value, (int, float)):
        return "VALUE_NUMBER"
    return "VALUE_NULL" if value is None else "VALUE_STRING"


def _matches(patterns: tuple[Pattern, ...], path: str) -> bool:
    return any(p.fullmatch(path) for p in patterns)


def _filter_object(
    obj: dict[str, Any], prefix: str, included: bool, rules: SourceFilter
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = prefix + key
        if _matches(rules.excludes, path):
            continue
        keep = included or _matches(rules.includes, path)
        kept = _filter_value(value, path, keep, rules)
        if kept is not _DROP:
            out[key] = kept
    return out


_DROP = object()


def _filter_value(value: Any, path: str, included: bool, rules: SourceFilter) -> Any:
    if isinstance(value, dict):
        inner = _filter_object(value, path + ".", included, rules)
        return inner if inner or (included and not value) else _DROP
    if isinstance(value, list):
        items = [_filter_value(item, path, included, rules) for item in value]
        kept = [item for item in items if item is not _DROP]
        return kept if kept or (included and not value) else _DROP
    return value if included else _DROP
