"""Reading provider requests: JSON bodies, bearer tokens and the input shapes providers accept."""

from __future__ import annotations

import json
from typing import Any, TypeGuard

from aiohttp import web

JSONDict = dict[str, Any]
# Distinguishes "body is not JSON" from a body that is the JSON literal null.
NOT_JSON: Any = object()


async def read_json(request: web.Request) -> Any:
    """The parsed body, or NOT_JSON when it does not parse."""
    try:
        return json.loads(await request.read())
    except ValueError:  # also covers JSONDecodeError and UnicodeDecodeError
        return NOT_JSON


async def json_object(request: web.Request) -> JSONDict | None:
    """The body when it is a JSON object, else None."""
    body = await read_json(request)
    return body if isinstance(body, dict) else None


def bearer_token(request: web.Request) -> str:
    """The token of a Bearer Authorization header; empty when there is none."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def is_text_list(value: Any) -> TypeGuard[list[str]]:
    """A non-empty list of strings."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def is_text_or_texts(value: Any) -> TypeGuard[str | list[str]]:
    """A string or a non-empty list of strings."""
    return isinstance(value, str) or is_text_list(value)


def as_texts(value: str | list[str]) -> list[str]:
    """value as a list of strings."""
    return [value] if isinstance(value, str) else value


def is_message_list(value: Any) -> TypeGuard[list[JSONDict]]:
    """A non-empty list of chat messages, each an object with a string role."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in value)
    )
