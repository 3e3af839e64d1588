"""Reading JSON request bodies the way OpenSearch does, with bounded nesting."""

from __future__ import annotations

from typing import Any

import msgspec
from flask import request

from common.errors import ParseError

# Deeper bodies are refused (400), whatever the endpoint: parameters are copied into messages
# and upstream requests, and every process that reads them again must be able to.
MAX_DEPTH = 100


def json_body(*, required: bool, empty_message: str = "request body is required") -> dict[str, Any]:
    """Return the JSON object body; a missing, malformed or too deep body is a 400."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise ParseError(empty_message)
        return {}
    try:
        body = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        # msgspec reports invalid UTF-8 inside a string as UnicodeDecodeError, not DecodeError.
        raise ParseError(f"Failed to parse the request body: {error}") from None
    except RecursionError:
        raise ParseError(f"The request body nests deeper than {MAX_DEPTH} levels") from None
    if not isinstance(body, dict):
        raise ParseError("request body must be a JSON object")
    if nesting_depth(body) > MAX_DEPTH:
        raise ParseError(f"The request body nests deeper than {MAX_DEPTH} levels")
    return body


def nesting_depth(value: Any) -> int:
    """Return how deeply objects and arrays nest in a parsed JSON value (no recursion)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest
