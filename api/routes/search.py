"""A minimal OpenSearch search response over one record kind (match_all, from/size)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import request

from api.routes.body import json_body
from common.errors import IllegalArgumentError, ParseError

R = TypeVar("R")


def search_response(
    pairs: list[tuple[str, R]], index: str, view: Callable[[R], dict[str, Any]]
) -> dict[str, Any]:
    """Answer a search body with the standard hits envelope; only match_all is supported."""
    body = json_body(required=False)
    size = _count(body.get("size", request.args.get("size", 10)), "size")
    start = _count(body.get("from", request.args.get("from", 0)), "from")
    hits = [
        {
            "_index": index,
            "_id": rid,
            "_version": 1,
            "_seq_no": n,
            "_primary_term": 1,
            "_score": 1.0,
            "_source": view(doc),
        }
        for n, (rid, doc) in enumerate(pairs)
    ][start : start + size]
    return {
        "took": 1,
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {
            "total": {"value": len(pairs), "relation": "eq"},
            "max_score": 1.0 if hits else None,
            "hits": hits,
        },
    }


def _count(value: object, name: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise ParseError(f"[{name}] must be an integer, got [{value}]") from None
    if number < 0:
        raise IllegalArgumentError(f"[{name}] parameter cannot be negative, found [{number}]")
    return number


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
