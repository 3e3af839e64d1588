"""GET|POST /_plugins/_security/authinfo: who the caller is, as the Security plugin answers.

Registered only with security on (api/auth_hook.py): without the Security plugin OpenSearch
has no such route.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from api.auth import current_user
from common.security.errors import AuthenticationError
from common.security.roles import describe
from common.security.user import ADMIN_ROLE

blueprint = Blueprint("security", __name__)
GLOBAL_TENANT = "global_tenant"


@blueprint.route("/_plugins/_security/authinfo", methods=["GET", "POST"])
@blueprint.route("/_opendistro/_security/authinfo", methods=["GET", "POST"])
def authinfo() -> dict[str, Any]:
    """The authenticated user, their roles and tenants, in the plugin's field order."""
    user = current_user()
    if user is None:  # the hook authenticates every request first; this keeps that promise
        raise AuthenticationError()
    # Every user has a private tenant; all_access also reaches the global one.
    tenants = {user.name: True}
    if ADMIN_ROLE in user.roles:
        tenants = {GLOBAL_TENANT: True, **tenants}
    return {
        "user": describe(user),
        "user_name": user.name,
        "user_requested_tenant": None,
        "remote_address": _remote_address(),
        "backend_roles": list(user.backend_roles),
        "custom_attribute_names": [],
        "roles": list(user.roles),
        "tenants": tenants,
        "principal": None,
        "peer_certificates": "0",
        "sso_logout_url": None,
    }


def _remote_address() -> str | None:
    host = request.remote_addr
    if not host:
        return None
    port = request.environ.get("REMOTE_PORT")
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host
