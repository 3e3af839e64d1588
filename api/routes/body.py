"""Reading JSON request bodies the way OpenSearch does, with bounded nesting."""

from __future__ import annotations

from typing import Any

import msgspec
from flask import request

from common.errors import ParseError
from common.json_depth import MAX_DEPTH, nesting_depth


def json_body(*, required: bool, empty_message: str = "request body is required") -> dict[str, Any]:
    """Return the JSON object body; a missing, malformed or too deep body is a 400."""
    return parse_json(request.get_data(cache=True), required=required, empty_message=empty_message)


def parse_json(
    raw: bytes, *, required: bool, empty_message: str = "request body is required"
) -> dict[str, Any]:
    """json_body over bytes already read."""
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
    # Counting brackets in the text is cheap; walking a large body is not.
    could_nest = raw.count(b"[") + raw.count(b"{") > MAX_DEPTH
    if could_nest and nesting_depth(body) > MAX_DEPTH:
        raise ParseError(f"The request body nests deeper than {MAX_DEPTH} levels")
    return body
