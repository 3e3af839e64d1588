"""Who is calling: the authenticated user of the current request.

The authentication hook (api/auth_hook.py, registered by create_app when security is on)
checks a request's credentials before any route runs and keeps the resulting User on
flask.g; routes and access rules ask for it through current_user(). With security off there
is no user (ML Commons: user == null, every access check passes).
"""

from __future__ import annotations

from flask import g

from common.security.user import User

_USER_KEY = "modelgate_user"


def current_user() -> User | None:
    """The authenticated user of the current request; None when security is off."""
    user: User | None = g.get(_USER_KEY)
    return user


def set_current_user(user: User | None) -> None:
    """Record the request's authenticated user (the authentication hook calls this)."""
    setattr(g, _USER_KEY, user)
