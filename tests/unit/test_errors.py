"""Tests for api.errors: every failure answers with the OpenSearch error envelope (spec 0.3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from marshmallow import ValidationError
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.test import TestResponse

from api import create_app
from api.errors import register_error_handlers
from common.errors import (
    ConflictError,
    GatewayTimeoutError,
    IllegalArgumentError,
    MLCommonsError,
    NodeUnavailableError,
    NotFoundError,
    ParseError,
    RemoteModelError,
    RemoteTransportError,
    StatusError,
)
from common.messages import PredictReply
from common.settings import Settings

SECRET = "secret-token-123"


def _envelope(response: TestResponse, status: int, *, ordered: bool = True) -> dict[str, Any]:
    """Check the response is exactly the OpenSearch envelope; return its error object.

    Key order is checked only for the real app, which turns Flask's key sorting off.
    """
    assert response.status_code == status
    assert response.mimetype == "application/json"
    text = response.get_data(as_text=True)
    assert "<html" not in text.lower()
    body = response.get_json()
    assert isinstance(body, dict)
    assert (list if ordered else sorted)(body) == ["error", "status"]
    assert body["status"] == status
    error = body["error"]
    expected_keys = ["root_cause", "type", "reason"]
    assert (list(error) if ordered else sorted(error)) == (
        expected_keys if ordered else sorted(expected_keys)
    )
    assert error["root_cause"] == [{"type": error["type"], "reason": error["reason"]}]
    assert isinstance(error["reason"], str)
    return dict(error)


# the real app


class _NoRedis:
    """Stands in for the Redis client: these requests must be answered before any store access."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a unit test reached Redis ({name})")


@pytest.fixture(scope="module")
def client() -> FlaskClient:
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0"))  # building connects nowhere
    store = app.extensions["modelgate"].store
    store.redis = store.blocking = _NoRedis()
    return app.test_client()


@pytest.mark.parametrize("path", ["/nope", "/_plugins/_ml/nope", "/_plugins/_ml/models/x/_nope"])
def test_unknown_path_is_a_400_no_handler(client, path):
    error = _envelope(client.get(path), 400)
    assert error["type"] == "illegal_argument_exception"
    assert error["reason"] == f"no handler found for uri [{path}] and method [GET]"


def test_unknown_path_reports_the_method(client):
    error = _envelope(client.post("/nope"), 400)
    assert error["reason"] == "no handler found for uri [/nope] and method [POST]"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("delete", "/_cluster/settings", ["GET", "PUT"]),
        ("get", "/_plugins/_ml/models/m1/_deploy", ["POST"]),
        ("put", "/_plugins/_ml/models/m1/_predict", ["POST"]),
    ],
)
def test_wrong_method_is_a_405(client, method, path, allowed):
    error = _envelope(getattr(client, method)(path), 405)
    prefix = f"Incorrect HTTP method for uri [{path}] and method [{method.upper()}], allowed: ["
    assert error["reason"].startswith(prefix)
    assert error["reason"].endswith("]")
    listed = error["reason"][len(prefix) : -1].split(", ")
    assert set(allowed) <= set(listed)
    assert method.upper() not in listed


@pytest.mark.parametrize("data", ["not json", "{", '{"persistent": ', "[1, 2]", '"text"', "42"])
def test_non_json_body_on_put_cluster_settings_is_a_parse_exception(client, data):
    response = client.put("/_cluster/settings", data=data, content_type="application/json")
    error = _envelope(response, 400)
    assert error["type"] == "parse_exception"


def test_empty_body_on_put_cluster_settings_is_a_parse_exception(client):
    error = _envelope(client.put("/_cluster/settings"), 400)
    assert error["type"] == "parse_exception"


# a throwaway app: one route per error


def _raiser(error: BaseException) -> Callable[[], Any]:
    def view() -> Any:
        raise error

    return view


def _error_from_queue(info: bytes) -> MLCommonsError:
    """An error as a worker's predict reply carries it back to the API."""
    raw = b'{"request_id":"r","node":"n","node_name":"ml-1","role":"ml","error":' + info + b"}"
    error = PredictReply.decode(raw).error
    assert error is not None
    return error.to_error()


ERRORS: dict[str, tuple[BaseException, int, str, str]] = {
    "not_found": (
        NotFoundError("Failed to find model"),
        404,
        "status_exception",
        "Failed to find model",
    ),
    "illegal": (IllegalArgumentError("bad input"), 400, "illegal_argument_exception", "bad input"),
    "parse": (ParseError("bad json"), 400, "parse_exception", "bad json"),
    "conflict": (ConflictError("in use"), 409, "status_exception", "in use"),
    "remote": (
        RemoteModelError('Error from remote service: {"error":"bad key"}', status=401),
        401,
        "status_exception",
        'Error from remote service: {"error":"bad key"}',
    ),
    "transport": (
        RemoteTransportError("Error communicating with remote model: refused"),
        500,
        "status_exception",
        "Error communicating with remote model: refused",
    ),
    "status": (StatusError("throttled", status=429), 429, "status_exception", "throttled"),
    "node": (NodeUnavailableError("no node"), 400, "illegal_argument_exception", "no node"),
    "timeout": (GatewayTimeoutError("no answer"), 504, "status_exception", "no answer"),
    "base": (MLCommonsError("plain"), 500, "exception", "plain"),
    "from_queue": (
        _error_from_queue(b'{"type":"m_l_exception","reason":"r","status":418}'),
        418,
        "m_l_exception",
        "r",
    ),
    "validation": (
        ValidationError({"name": ["Field may not be null."]}),
        400,
        "illegal_argument_exception",
        "name: Field may not be null.",
    ),
    "validation_plain": (
        ValidationError("url can't be null"),
        400,
        "illegal_argument_exception",
        "url can't be null",
    ),
    "bad_request": (
        BadRequest("Failed to decode JSON"),
        400,
        "parse_exception",
        "Failed to decode JSON",
    ),
    "too_large": (RequestEntityTooLarge(), 413, "exception", RequestEntityTooLarge.description),
    "redis_down": (
        redis.ConnectionError(f"Error connecting to redis://:{SECRET}@host"),
        503,
        "status_exception",
        "The record store is unavailable, retry later",
    ),
    "runtime": (RuntimeError(SECRET), 500, "exception", "Internal error"),
    "key_error": (KeyError(SECRET), 500, "exception", "Internal error"),
}


@pytest.fixture(scope="module")
def raising_client() -> FlaskClient:
    app = Flask(__name__)
    register_error_handlers(app)
    for name, (error, *_rest) in ERRORS.items():
        app.add_url_rule(f"/{name}", name, _raiser(error))
    return app.test_client()


@pytest.mark.parametrize("name", list(ERRORS))
def test_each_error_maps_to_status_type_and_reason(raising_client, name):
    _error, status, error_type, reason = ERRORS[name]
    error = _envelope(raising_client.get(f"/{name}"), status, ordered=False)
    assert error["type"] == error_type
    assert error["reason"] == reason


@pytest.mark.parametrize("name", ["runtime", "key_error", "redis_down"])
def test_unexpected_errors_reveal_nothing(raising_client, name):
    text = raising_client.get(f"/{name}").get_data(as_text=True)
    assert SECRET not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text
    assert "KeyError" not in text
    assert ".py" not in text


def test_nested_validation_messages_are_flattened():
    app = Flask(__name__)
    register_error_handlers(app)
    error = ValidationError({"actions": {0: {"_schema": ["url can't be null"]}}, "name": ["bad"]})
    app.add_url_rule("/v", "v", _raiser(error))
    reason = _envelope(app.test_client().get("/v"), 400, ordered=False)["reason"]
    # Whole-object rules keep ML Commons' exact words; field errors name their field.
    assert reason == "url can't be null; name: bad"


def test_throwaway_app_unknown_path_and_method_are_json_too(raising_client):
    missing = _envelope(raising_client.get("/missing"), 400, ordered=False)
    assert missing["type"] == "illegal_argument_exception"
    assert _envelope(raising_client.post("/runtime"), 405, ordered=False)["type"] == "exception"
