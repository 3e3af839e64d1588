"""POST /_plugins/_ml/models/<id>/_predict served without Flask's per-request machinery.

A predict is most of what the API serves under load, and Flask's part of it (a request
context, a werkzeug Request, URL matching, a Response object, the hook chains) was about a
third of the API's CPU per predict. This WSGI middleware answers plain predict requests
itself, in an app context (for services() and the caller), with the same functions as the
Flask route at every step: the size limits (api/limits.py), authentication and the
predict action's permission (api/auth_hook.py), the body (api/routes/body.py, PredictSchema),
the predict (api/routes/predict.serve_predict), the metrics (api/metrics.py) and the error
envelope (api/errors.answer_error). Every other request, and any predict that is not plain
(a query string, a body without a length, an unusual path), goes to Flask unchanged.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from api.auth import set_current_user
from api.auth_hook import AUTH_EXTENSION, authenticate, refusal_headers
from api.errors import answer_error
from api.limits import check_sizes
from api.metrics import EXTENSION as METRICS_EXTENSION
from api.metrics import ApiMetrics
from api.routes.body import parse_json
from api.routes.predict import serve_predict
from api.schemas import PredictSchema, load
from api.services import Services
from common.security.authenticator import Authenticator
from common.security.errors import AuthenticationError, LoginBlockedError

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
ENDPOINT = "predict.predict"
# The ids modelgate and ML Commons make (URL-safe base64); any other path goes to Flask.
_PREDICT_PATH = re.compile(r"/_plugins/_ml/models/([A-Za-z0-9_-]{1,512})/_predict")
_JSON = ("Content-Type", "application/json")


class PredictFastPath:
    """The app's WSGI entry: plain predicts here, everything else to Flask."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._flask: WsgiApp = app.wsgi_app
        self._svc: Services = app.extensions["modelgate"]
        self._auth: Authenticator | None = app.extensions.get(AUTH_EXTENSION)
        self._metrics: ApiMetrics | None = app.extensions.get(METRICS_EXTENSION)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        model_id = _plain_predict(environ)
        if model_id is None:
            return self._flask(environ, start_response)
        with self._app.app_context():
            status, headers, body = self._serve(environ, model_id)
        start_response(status, headers)
        return [body]

    def _serve(
        self, environ: dict[str, Any], model_id: str
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        try:
            # Flask's before-request hooks: refused here, a request is not a predict (nor
            # counted as one).
            length = check_sizes(environ, int(environ["CONTENT_LENGTH"]))
            if self._auth is not None:
                path = environ["PATH_INFO"]
                set_current_user(authenticate(self._auth, environ, ENDPOINT, path))
        except Exception as error:  # rendered as the Flask route's error handlers would
            return _error(error)
        started = time.perf_counter()
        try:
            raw = environ["wsgi.input"].read(length) if length else b""
            served = serve_predict(
                self._svc, model_id, load(PredictSchema, parse_json(raw, required=False))
            )
        except Exception as error:  # counted as the metrics' view wrapper counts it
            if self._metrics is not None:
                self._metrics.failed(model_id, error, started)
            return _error(error)
        reply = served.reply
        if self._metrics is not None:
            self._metrics.answered(model_id, reply.node, reply.role, started)
        body = (reply.body or "").encode()
        return "200 OK", [_JSON, ("Content-Length", str(len(body))), *served.headers()], body


def _plain_predict(environ: dict[str, Any]) -> str | None:
    """The model id of a plain predict request, else None (Flask serves it)."""
    if environ.get("REQUEST_METHOD") != "POST" or environ.get("QUERY_STRING"):
        return None
    length = environ.get("CONTENT_LENGTH")
    if not length or not length.isdigit():  # chunked, or a length for Flask to refuse
        return None
    match = _PREDICT_PATH.fullmatch(environ.get("PATH_INFO", ""))
    return None if match is None else match.group(1)


def _error(error: Exception) -> tuple[str, list[tuple[str, str]], bytes]:
    response, status = answer_error(error)
    response.status_code = status
    headers = list(response.headers.items())
    if isinstance(error, AuthenticationError | LoginBlockedError):
        headers.extend(refusal_headers(error).items())
    return response.status, headers, response.get_data()
