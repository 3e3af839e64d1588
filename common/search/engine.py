"""Run a parsed search over one index's records and build OpenSearch's search response.

The query runs on each record's public view (what GET returns, credentials removed), so a
query can neither return nor match a credential. A match_all without sort needs no view but
the page's: the views of the other records are never built.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from common.search.fields import Doc
from common.search.mappings import Mapping
from common.search.request import SearchRequest
from common.search.sorting import Hit, SortValues, order, tracks_score

R = TypeVar("R")
SHARDS = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}


def run_search(
    request: SearchRequest,
    pairs: Sequence[tuple[str, R]],
    view: Callable[[R], Doc],
    index: str,
    mapping: Mapping,
    *,
    visible: Callable[[Doc], bool] | None = None,
) -> dict[str, Any]:
    """Answer `request` over `pairs` (id, record) in index order; `view` gives each _source.

    `visible` is a filter ANDed to the query (access control): records it refuses are
    neither matched, counted nor paged, as if they were not in the index.
    """
    started = time.perf_counter()
    if visible is not None:
        pairs = [pair for pair in pairs if visible(view(pair[1]))]
    if request.query.match_all and all(k.name == "_doc" for k in request.sort):
        total, page, page_sort = _match_all_page(request, pairs, view)
        scored = request.sort == [] or request.track_scores
        max_score = 1.0 if total and scored else None
    else:
        hits = _matching(request, pairs, view)
        total = len(hits)
        scored = tracks_score(request.sort) or request.track_scores
        max_score = max((h[3] for h in hits), default=None) if scored else None
        page, page_sort = _ordered_page(hits, request, mapping)
    return {
        "took": int((time.perf_counter() - started) * 1000),
        "timed_out": False,
        "_shards": SHARDS,
        "hits": {
            **_total(total, request),
            # no hit is collected with size 0, so OpenSearch has no maximum to show
            "max_score": max_score if request.size else None,
            "hits": [
                _hit(index, hit, request, scored, None if page_sort is None else page_sort(n))
                for n, hit in enumerate(page)
            ],
        },
    }


def _ordered_page(
    hits: list[Hit], request: SearchRequest, mapping: Mapping
) -> tuple[list[Hit], SortValues | None]:
    """Order the matching hits and cut the page; give the page's sort values if sorted."""
    end = request.start + request.size
    if not request.sort:  # OpenSearch's default order: score, highest first; ties in index order
        hits.sort(key=_score, reverse=True)
        return hits[request.start : end], None
    values = order(hits, request.sort, mapping)
    return hits[request.start : end], lambda n: values(request.start + n)


def _match_all_page(
    request: SearchRequest, pairs: Sequence[tuple[str, R]], view: Callable[[R], Doc]
) -> tuple[int, list[Hit], SortValues | None]:
    """Page through every record in index order, building only the page's views."""
    descending = bool(request.sort) and request.sort[0].descending
    positions = range(len(pairs) - 1, -1, -1) if descending else range(len(pairs))
    chosen = positions[request.start : request.start + request.size]
    page = [(n, pairs[n][0], view(pairs[n][1]), 1.0) for n in chosen]
    sort_values = (lambda n: [chosen[n]]) if request.sort else None
    return len(pairs), page, sort_values


def _matching(
    request: SearchRequest, pairs: Sequence[tuple[str, R]], view: Callable[[R], Doc]
) -> list[Hit]:
    matches = request.query.matches
    hits: list[Hit] = []
    for position, (record_id, record) in enumerate(pairs):
        doc = view(record)
        score = matches(record_id, doc)
        if score is not None:
            hits.append((position, record_id, doc, score))
    return hits


def _score(hit: Hit) -> float:
    return hit[3]


def _total(count: int, request: SearchRequest) -> dict[str, Any]:
    limit = request.track_total_hits
    if limit is None:
        return {}
    value, relation = (limit, "gte") if count > limit else (count, "eq")
    if request.total_as_int:
        return {"total": value}
    return {"total": {"value": value, "relation": relation}}


def _hit(
    index: str, hit: Hit, request: SearchRequest, scored: bool, sort: list[Any] | None
) -> dict[str, Any]:
    position, record_id, doc, score = hit
    answer: dict[str, Any] = {
        "_index": index,
        "_id": record_id,
        "_version": 1,
        "_seq_no": position,
        "_primary_term": 1,
        "_score": score if scored else None,
    }
    if request.source.fetch:
        answer["_source"] = request.source.apply(doc)
    if sort is not None:
        answer["sort"] = sort
    return answer
