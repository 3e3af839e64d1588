"""OpenSearch's `_search` over one record kind: the query DSL, paging, sort, _source."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from flask import request

from api.routes.body import json_body
from common.search.engine import run_search
from common.search.mappings import mapping_for
from common.search.request import parse_request

R = TypeVar("R")


def search_response(
    pairs: Sequence[tuple[str, R]],
    index: str,
    view: Callable[[R], dict[str, Any]],
    *,
    visible: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """Answer a GET or POST `_search` on `index` over (id, record) pairs in index order.

    `view` turns a record into its public _source; queries match that view, never the
    stored record, so a credential can be neither returned nor matched. `visible` (access
    control) keeps only the records the caller may see, before matching and counting.
    """
    mapping = mapping_for(index)
    parsed = parse_request(json_body(required=False), request.args, mapping, path=request.path)
    return run_search(parsed, pairs, view, index, mapping, visible=visible)


def as_is(doc: dict[str, Any]) -> dict[str, Any]:
    """The view of pairs whose records are already views (RecordStore.viewed)."""
    return doc


def delete_response(index: str, record_id: str, *, found: bool) -> dict[str, Any]:
    """Return OpenSearch's delete-document response."""
    return {
        "_index": index,
        "_id": record_id,
        "_version": 2 if found else 1,
        "result": "deleted" if found else "not_found",
        "forced_refresh": True,
        "_shards": {"total": 1, "successful": 1, "failed": 0},
        "_seq_no": 0,
        "_primary_term": 1,
    }
