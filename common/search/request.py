"""A search request (body and URL parameters) parsed and checked once, as OpenSearch does."""

from __future__ import annotations

from collections.abc import Mapping as ParamMap
from dataclasses import dataclass, field
from typing import Any

from common.errors import IllegalArgumentError
from common.search.errors import QueryParsingError
from common.search.mappings import Mapping
from common.search.query import CompiledQuery, compile_query
from common.search.sorting import SortKey, parse_sort, parse_url_sort
from common.search.source import ALL, SourceFilter, parse_source, parse_url_source, token_name

MAX_RESULT_WINDOW = 10_000  # index.max_result_window's default
DEFAULT_TRACK_TOTAL_HITS = 10_000
TRACK_ALL = 2**31 - 1
INT_MAX = 2**31 - 1
# Search body keys OpenSearch knows that modelgate does not implement: refused, never ignored.
UNSUPPORTED = frozenset(
    {
        "aggs",
        "aggregations",
        "post_filter",
        "highlight",
        "search_after",
        "collapse",
        "suggest",
        "rescore",
        "script_fields",
        "docvalue_fields",
        "fields",
        "stored_fields",
        "min_score",
        "terminate_after",
        "indices_boost",
        "stats",
        "ext",
        "profile",
        "slice",
        "pit",
        "explain",
    }
)
# Accepted and without effect: version and seq_no_primary_term are always on (ML Commons forces
# them), and a search over records in memory never times out.
WITHOUT_EFFECT = frozenset({"version", "seq_no_primary_term", "timeout"})
HANDLED = frozenset(
    {"query", "from", "size", "sort", "_source", "track_total_hits", "track_scores"}
)
URL_HANDLED = frozenset(
    {"size", "from", "sort", "_source", "_source_includes", "_source_excludes"}
    | {"track_total_hits", "track_scores", "rest_total_hits_as_int"}
)
# Accepted and without effect here: output formatting, shard and cluster routing (one copy of
# each record), and the query-string options that only mean something with `q` (refused).
URL_WITHOUT_EFFECT = frozenset(
    {"pretty", "human", "error_trace", "allow_no_indices", "ignore_unavailable"}
    | {"expand_wildcards", "ignore_throttled", "preference", "routing", "request_cache"}
    | {"timeout", "version", "seq_no_primary_term", "search_type", "typed_keys"}
    | {"batched_reduce_size", "max_concurrent_shard_requests", "pre_filter_shard_size"}
    | {"ccs_minimize_roundtrips", "allow_partial_search_results", "cancel_after_time_interval"}
    | {"df", "default_operator", "analyzer", "analyze_wildcard", "lenient"}
)
URL_UNSUPPORTED = frozenset(
    {"q", "scroll", "filter_path", "explain", "terminate_after", "stored_fields"}
    | {"docvalue_fields", "search_pipeline", "suggest_field", "suggest_text", "stats"}
    | {"source", "source_content_type"}
)


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """Everything a search needs, parsed: the compiled query, paging, sort, source filter."""

    query: CompiledQuery
    start: int = 0
    size: int = 10
    sort: list[SortKey] = field(default_factory=list)
    source: SourceFilter = ALL
    track_total_hits: int | None = DEFAULT_TRACK_TOTAL_HITS  # None: leave hits.total out
    track_scores: bool = False
    total_as_int: bool = False  # rest_total_hits_as_int: hits.total as a bare number


def parse_request(
    body: dict[str, Any], params: ParamMap[str, str], mapping: Mapping, *, path: str = "_search"
) -> SearchRequest:
    """Parse a search body and its URL parameters (URL values win, as in OpenSearch)."""
    _check_keys(body)
    _check_params(params, path)
    start = _url_int(params, "from", _body_int(body, "from", 0))
    size = _url_int(params, "size", _body_int(body, "size", 10))
    if start + size > MAX_RESULT_WINDOW:
        raise IllegalArgumentError(
            "Result window is too large, from + size must be less than or equal to: "
            f"[{MAX_RESULT_WINDOW}] but was [{start + size}]. See the scroll api for a more "
            "efficient way to request large data sets. This limit can be set by changing the "
            "[index.max_result_window] index level setting."
        )
    sort = parse_sort(body["sort"]) if body.get("sort") is not None else []
    if params.get("sort"):
        sort += parse_url_sort(params["sort"])
    url_source = parse_url_source(
        params.get("_source"), params.get("_source_includes"), params.get("_source_excludes")
    )
    return SearchRequest(
        query=compile_query(body.get("query"), mapping),
        start=start,
        size=size,
        sort=sort,
        source=url_source or (parse_source(body["_source"]) if "_source" in body else ALL),
        track_total_hits=_track_total_hits(
            params.get("track_total_hits", body.get("track_total_hits"))
        ),
        track_scores=_flag(
            "track_scores", params.get("track_scores", body.get("track_scores", False))
        ),
        total_as_int=_flag("rest_total_hits_as_int", params.get("rest_total_hits_as_int", False)),
    )


def _check_params(params: ParamMap[str, str], path: str) -> None:
    for name in params:
        if name in URL_HANDLED or name in URL_WITHOUT_EFFECT:
            continue
        if name in URL_UNSUPPORTED:
            raise IllegalArgumentError(
                f"the [{name}] parameter is not supported by modelgate's search"
            )
        raise IllegalArgumentError(f"request [{path}] contains unrecognized parameter: [{name}]")


def _check_keys(body: dict[str, Any]) -> None:
    for key, value in body.items():
        if key in HANDLED or key in WITHOUT_EFFECT:
            continue
        if key in UNSUPPORTED:
            raise QueryParsingError(f"[{key}] is not supported by modelgate's search")
        raise QueryParsingError(f"Unknown key for a {token_name(value)} in [{key}].")


def _body_int(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    number = _integer(value)
    if number is None:
        raise QueryParsingError(f"[{name}] must be an integer, found [{value}]")
    return _non_negative(name, number)


def _integer(value: Any) -> int | None:
    """Read an int the way OpenSearch's parser coerces one: 10, 10.0 and "10", nothing else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if text.lstrip("-").isdigit() and text.isascii() else None
    if not isinstance(value, int) or not -INT_MAX - 1 <= value <= INT_MAX:
        return None
    return value


def _url_int(params: ParamMap[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    number = _integer(raw)
    if number is None:
        raise IllegalArgumentError(f"Failed to parse int parameter [{name}] with value [{raw}]")
    # OpenSearch reads these with paramAsInt(name, -1): -1 means "not given".
    return default if number == -1 else _non_negative(name, number)


def _non_negative(name: str, number: int) -> int:
    if number < 0:
        raise IllegalArgumentError(f"[{name}] parameter cannot be negative, found [{number}]")
    return number


def _track_total_hits(value: Any) -> int | None:
    if value is None:
        return DEFAULT_TRACK_TOTAL_HITS
    if value is True or value == "true":
        return TRACK_ALL
    if value is False or value == "false":
        return None
    number = _integer(value)
    if number is None:
        raise IllegalArgumentError(
            f"[track_total_hits] must be a boolean or an integer, got [{value}]"
        )
    if number == -1:
        return TRACK_ALL
    if number < 0:
        raise IllegalArgumentError(
            f"[track_total_hits] parameter must be positive or equals to -1, got {number}"
        )
    return number


def _flag(name: str, value: Any) -> bool:
    if value is True or value == "true":
        return True
    if value is False or value == "false":
        return False
    raise IllegalArgumentError(
        f"Failed to parse value [{value}] as only [true] or [false] are allowed."
    )
