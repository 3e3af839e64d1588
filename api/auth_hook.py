"""Authentication and role checks before any route runs, when security is on.

Each request authenticates with HTTP basic auth against the internal users; the User is
kept for current_user() (api/auth.py), and an action none of the user's roles permits is
refused (403). The hook reads headers only, never the body: api/limits.py's size checks,
registered before it, still refuse an oversized body first, unread.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import Flask, Response, g, request

from api.auth import set_current_user
from api.route_actions import action_for
from api.routes.security import blueprint as security_blueprint
from common.security.authenticator import Authenticator
from common.security.directory import UserDirectory
from common.security.errors import AuthenticationError, ForbiddenError, LoginBlockedError
from common.security.failures import FailurePolicy, LoginFailures
from common.security.roles import denial, permits
from common.security.user import User
from common.settings import Settings

CHALLENGE = 'Basic realm="OpenSearch Security"'
_REFUSAL_HEADERS = "modelgate_refusal_headers"
AUTH_EXTENSION = "modelgate_auth"


def register_auth(app: Flask, settings: Settings) -> None:
    """With security on: authenticate and authorize every request, and serve authinfo."""
    if not settings.security_enabled:
        return
    store = app.extensions["modelgate"].store
    policy = FailurePolicy(
        settings.auth_allowed_tries, settings.auth_time_window_s, settings.auth_block_s
    )
    # Failures are counted on the records' Redis: every API process shares the count.
    failures = LoginFailures(store.redis, store.keys, policy)
    auth = Authenticator(UserDirectory(settings.users_path), failures)
    app.extensions[AUTH_EXTENSION] = auth  # the predict fast path (api/fast_predict.py)
    app.before_request(functools.partial(_authenticate, auth))
    app.after_request(_refusal_headers)
    app.register_blueprint(security_blueprint)


def _authenticate(auth: Authenticator) -> None:
    # This runs on every request: the request is looked up once.
    req = request._get_current_object()  # type: ignore[attr-defined]
    try:
        set_current_user(authenticate(auth, req.environ, req.endpoint, req.path))
    except (AuthenticationError, LoginBlockedError) as refused:
        g.setdefault(_REFUSAL_HEADERS, refusal_headers(refused))
        raise


def authenticate(
    auth: Authenticator, environ: dict[str, Any], endpoint: str | None, path: str
) -> User:
    """The caller of a request, allowed to run the route's action; or raise the refusal."""
    # Headers are read from the WSGI environ (werkzeug's header view costs more).
    user = auth.authenticate(environ.get("HTTP_AUTHORIZATION"), environ.get("REMOTE_ADDR", ""))
    action = action_for(endpoint, path)
    if action is not None and not permits(user.roles, action):
        raise ForbiddenError(denial(action, user))
    return user


def refusal_headers(refused: AuthenticationError | LoginBlockedError) -> dict[str, str]:
    """What goes with a refusal: the Basic challenge of a 401, as the Security plugin sends
    it, or how long a blocked address waits."""
    if isinstance(refused, LoginBlockedError):
        return {"Retry-After": str(refused.retry_after_s)}
    return {"WWW-Authenticate": CHALLENGE}


def _refusal_headers(response: Response) -> Response:
    # The error handler (api/errors.py) builds the envelope; the headers that go with a
    # refusal (refusal_headers) are added here.
    if response.status_code in (401, 429):
        response.headers.update(g.get(_REFUSAL_HEADERS, {}))
    return response
