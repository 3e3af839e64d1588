"""Reading JSON request bodies the way OpenSearch does."""

from __future__ import annotations

from typing import Any

from flask import request

from common.errors import ParseError


def json_body(*, required: bool, empty_message: str = "request body is required") -> dict[str, Any]:
    """Return the JSON object body; a missing or malformed body is a 400 parse_exception."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise ParseError(empty_message)
        return {}
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ParseError("request body must be a JSON object")
    return body
