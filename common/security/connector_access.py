"""Connector access control (ML Commons' ConnectorAccessControlHelper and the create rules).

Active only with a user (security on) and plugins.ml_commons.connector_access_control_enabled.
"""

from __future__ import annotations

from common.errors import IllegalArgumentError
from common.records import Connector
from common.security.access import (
    PRIVATE,
    PUBLIC,
    RESTRICTED,
    AccessFields,
    AccessRequest,
    Visible,
    holds_all,
    is_owner,
    owner_of,
    shares_role,
    visible_to,
)
from common.security.user import User

NO_ACCESS = "You don't have permission to access this connector"
NO_DELETE = "You are not allowed to delete this connector"


def no_update(connector_id: str) -> str:
    """The refusal of a connector update (a 400 in ML Commons)."""
    return f"You don't have permission to update the connector, connector id: {connector_id}"


def no_use(connector_id: str) -> str:
    """The refusal to register a model on someone else's connector (a 400)."""
    return f"You don't have permission to use the connector provided, connector id: {connector_id}"


def active(user: User | None, enabled: bool) -> bool:
    """True when connector access rules apply (ML Commons: !accessControlNotEnabled)."""
    return user is not None and enabled


def may_use(user: User | None, connector: Connector, enabled: bool) -> bool:
    """ML Commons' hasPermission: see, use, update or delete a connector."""
    if user is None or not enabled or user.is_admin:
        return True
    if connector.owner is None:  # created before access control: public
        return True
    if connector.access == PUBLIC:
        return True
    if connector.access == PRIVATE:
        return is_owner(connector.owner, user)
    return connector.access == RESTRICTED and shares_role(user, connector.backend_roles)


def visible(user: User | None, enabled: bool) -> Visible | None:
    """The search filter for this caller; None when every connector is visible."""
    if user is None or not enabled or user.is_admin:
        return None
    return visible_to(user)


def on_create(request: AccessRequest, user: User) -> AccessFields:
    """Check a create request's access fields (validateRequest4AccessControl, in order).

    Raises:
        IllegalArgumentError: with ML Commons' message for the first rule broken.
    """
    if user.is_admin and request.adds_all:
        raise IllegalArgumentError("Admin can't add all backend roles")
    mode = request.mode
    if mode is None:
        mode = RESTRICTED if request.names_roles or request.adds_all else PRIVATE
    if mode in (PUBLIC, PRIVATE) and (request.names_roles or request.adds_all):
        raise IllegalArgumentError(
            "You can specify backend roles only for a connector with the restricted access mode."
        )
    if mode == RESTRICTED:
        _check_restricted(request, user)
    roles = list(user.backend_roles) if request.adds_all else request.backend_roles
    return AccessFields(owner=owner_of(user), access=mode, backend_roles=roles)


def _check_restricted(request: AccessRequest, user: User) -> None:
    if request.adds_all:
        if request.names_roles:
            raise IllegalArgumentError(
                "You can't specify backend roles and add all backend roles to true at same time."
            )
        if not user.backend_roles:
            raise IllegalArgumentError(
                "You must have at least one backend role to create a connector."
            )
        return
    if not request.names_roles:
        raise IllegalArgumentError(
            "You must specify at least one backend role or make the connector public/private "
            "for registering it."
        )
    if not user.is_admin and not holds_all(user, request.backend_roles or ()):
        raise IllegalArgumentError("You don't have the backend roles specified.")
