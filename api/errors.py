"""The single place exceptions become HTTP responses, always in the OpenSearch envelope."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, jsonify, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from common.errors import MLCommonsError

log = logging.getLogger(__name__)


def envelope(error_type: str, reason: str, status: int) -> tuple[Response, int]:
    """Build {"error":{"root_cause":[...],"type":...,"reason":...},"status":N}."""
    cause = {"type": error_type, "reason": reason}
    return jsonify({"error": {"root_cause": [cause], **cause}, "status": status}), status


def answer_error(error: Exception) -> tuple[Response, int]:
    """The envelope for an error raised by modelgate's code or its libraries (not werkzeug's
    HTTP errors): its own status, a validation 400, a 503 for Redis, else a bare 500."""
    if isinstance(error, MLCommonsError):
        return envelope(error.error_type, error.reason, error.status)
    if isinstance(error, ValidationError):
        reasons = "; ".join(_flatten_messages(error.messages))
        return envelope("illegal_argument_exception", reasons, 400)
    if isinstance(error, redis.RedisError):
        log.warning("Redis unavailable: %s", type(error).__name__)
        return envelope("status_exception", "The record store is unavailable, retry later", 503)
    log.exception("unhandled error")
    return envelope("exception", "Internal error", 500)


def _flatten_messages(messages: Any, path: str = "") -> list[str]:
    if isinstance(messages, dict):
        out: list[str] = []
        for key, value in messages.items():
            if key == "_schema":  # whole-object rules speak ML Commons' words: no field path
                out.extend(_flatten_messages(value))
                continue
            out.extend(_flatten_messages(value, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(messages, list):
        return [m for item in messages for m in _flatten_messages(item, path)]
    return [f"{path}: {messages}" if path else str(messages)]


def _no_handler() -> tuple[Response, int]:
    reason = f"no handler found for uri [{request.path}] and method [{request.method}]"
    return envelope("illegal_argument_exception", reason, 400)


def register_error_handlers(app: Flask) -> None:
    """Attach handlers so every error, ours or werkzeug's, answers with the envelope."""

    for ours in (MLCommonsError, ValidationError, redis.RedisError, Exception):
        app.register_error_handler(ours, answer_error)

    @app.errorhandler(NotFound)
    def _no_route(error: NotFound) -> tuple[Response, int]:
        return _no_handler()

    @app.after_request
    def _no_redirect(response: Response) -> Response:
        # werkzeug answers a path with "//" in it (also "%2F/") with an HTML 308 to the merged
        # path, and Flask sends routing redirects past the error handlers. OpenSearch does not
        # redirect: such a path has no handler.
        if isinstance(request.routing_exception, RequestRedirect):
            answer, status = _no_handler()
            answer.status_code = status
            return answer
        return response

    @app.errorhandler(MethodNotAllowed)
    def _bad_method(error: MethodNotAllowed) -> tuple[Response, int]:
        methods = set(error.valid_methods or []) - {"HEAD", "OPTIONS"}  # Flask adds these
        allowed = ", ".join(sorted(methods))
        reason = (
            f"Incorrect HTTP method for uri [{request.path}] and method [{request.method}], "
            f"allowed: [{allowed}]"
        )
        return envelope("exception", reason, 405)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        return envelope(
            "parse_exception" if status == 400 else "exception", str(error.description), status
        )
