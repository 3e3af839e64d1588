"""Model group and model access control (ModelAccessControlHelper, MLModelGroupManager,
TransportUpdateModelGroupAction): models inherit the permission of their group.

Active only with a user (security on) and plugins.ml_commons.model_access_control_enabled.
"""

from __future__ import annotations

from typing import Any

from common.errors import IllegalArgumentError
from common.records import ModelGroup
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

NO_MODEL_ACCESS = "User doesn't have privilege to perform this operation on this model"
NO_GROUP_ACCESS = "User doesn't have privilege to perform this operation on this model group"
NO_GROUP_DELETE = "User doesn't have privilege to delete this model group"
NO_REGISTER = "You don't have permissions to perform this operation on this model."
GROUP_MISSING = "Fail to find model group"


def active(user: User | None, enabled: bool) -> bool:
    """True when model access rules apply (isSecurityEnabledAndModelAccessControlEnabled)."""
    return user is not None and enabled


def may_access(user: User | None, group: ModelGroup, enabled: bool) -> bool:
    """ML Commons' checkModelGroupPermission, admins and security off allowed first."""
    if user is None or not enabled or user.is_admin:
        return True
    if group.owner is None:  # registered before access control: public
        return True
    if group.access == RESTRICTED:
        return shares_role(user, group.backend_roles)
    if group.access == PRIVATE:
        return is_owner(group.owner, user)
    return True


def visible(user: User | None, enabled: bool) -> Visible | None:
    """The model-group search filter for this caller; None when every group is visible."""
    if user is None or not enabled or user.is_admin:
        return None
    return visible_to(user)


def no_relink(group_id: str) -> str:
    """The refusal to move a model into a group the user cannot access (403)."""
    return (
        "User Doesn't have privilege to re-link this model to the target model group due to "
        f"no access to the target model group with model group ID {group_id}"
    )


def unavailable_name(name: str, group_id: str) -> str:
    """The refusal to register a model whose name is a group the user cannot access."""
    return (
        f"The name {{{name}}} you provided is unavailable because it is used by another model "
        f"group with id {{{group_id}}} to which you do not have access. Please provide a "
        "different name."
    )


def on_register(request: AccessRequest, user: User) -> AccessFields:
    """Check a register request's access fields (validateRequestForAccessControl, in order).

    Raises:
        IllegalArgumentError: with ML Commons' message for the first rule broken.
    """
    mode = request.mode
    if mode is None:
        if request.names_roles and request.adds_all:
            raise IllegalArgumentError(
                "You cannot specify backend roles and add all backend roles at the same time."
            )
        mode = RESTRICTED if request.adds_all or request.names_roles else PRIVATE
    if mode in (PUBLIC, PRIVATE) and (request.names_roles or request.adds_all):
        raise IllegalArgumentError(
            "You can specify backend roles only for a model group with the restricted access mode."
        )
    if mode == RESTRICTED:
        _check_restricted_register(request, user)
    roles = list(user.backend_roles) if request.adds_all else request.backend_roles
    return AccessFields(owner=owner_of(user), access=mode, backend_roles=roles or None)


def _check_restricted_register(request: AccessRequest, user: User) -> None:
    if user.is_admin and request.adds_all:
        raise IllegalArgumentError("Admin users cannot add all backend roles to a model group.")
    if not user.is_admin and not user.backend_roles:
        raise IllegalArgumentError(
            "You must have at least one backend role to register a restricted model group."
        )
    if not request.names_roles and not request.adds_all:
        raise IllegalArgumentError(
            "You must specify one or more backend roles or add all backend roles to register a "
            "restricted model group."
        )
    if request.names_roles and request.adds_all:
        raise IllegalArgumentError(
            "You cannot specify backend roles and add all backend roles at the same time."
        )
    if (
        not user.is_admin
        and not request.adds_all
        and not holds_all(user, request.backend_roles or ())
    ):
        raise IllegalArgumentError("You don't have the backend roles specified.")


def changes_access(body: dict[str, Any]) -> bool:
    """An update body touching access control (hasAccessControlChange: any field given)."""
    return any(body.get(field) is not None for field in _ACCESS_FIELDS)


_ACCESS_FIELDS = ("access_mode", "add_all_backend_roles", "backend_roles")


def check_update(
    request: AccessRequest, has_access_change: bool, user: User, group: ModelGroup
) -> None:
    """Check a group update under access control (validateRequestForAccessControl, in order).

    Raises:
        IllegalArgumentError: with ML Commons' message for the first rule broken.
    """
    owner = is_owner(group.owner, user)
    if has_access_change and not owner and not user.is_admin:
        raise IllegalArgumentError("Only owner or admin can update access control data.")
    if not user.is_admin and not owner and not _has_role_access(user, group):
        raise IllegalArgumentError("You don't have permission to update this model group.")
    if owner and not user.is_admin and not _owner_still_allowed(user, group):
        raise IllegalArgumentError(
            "You don't have the specified backend role to update this model group. For more "
            "information, contact your administrator."
        )
    mode = request.mode
    if mode in (PUBLIC, PRIVATE) and (request.names_roles or request.adds_all):
        raise IllegalArgumentError(
            "You can specify backend roles only for a model group with the restricted access mode."
        )
    if mode is None or mode == RESTRICTED:
        _check_restricted_update(request, user, mode)


def _check_restricted_update(request: AccessRequest, user: User, mode: str | None) -> None:
    if user.is_admin and request.adds_all:
        raise IllegalArgumentError("Admin users cannot add all backend roles to a model group.")
    if request.adds_all and not user.backend_roles:
        raise IllegalArgumentError("You don't have any backend roles.")
    if not request.names_roles and request.add_all is False:
        raise IllegalArgumentError(
            "You have to specify backend roles when add all backend roles is set to false."
        )
    if request.names_roles and request.adds_all:
        raise IllegalArgumentError(
            "You cannot specify backend roles and add all backend roles at the same time."
        )
    if mode == RESTRICTED and not request.names_roles and not request.adds_all:
        raise IllegalArgumentError(
            "You must specify one or more backend roles or add all backend roles to register a "
            "restricted model group."
        )
    if (
        not user.is_admin
        and request.names_roles
        and not holds_all(user, request.backend_roles or ())
    ):
        raise IllegalArgumentError("You don't have the backend roles specified.")


def _has_role_access(user: User, group: ModelGroup) -> bool:
    """isUserHasBackendRole: public yes, private no, restricted by a shared role."""
    if group.access == PUBLIC:
        return True
    if group.access == PRIVATE:
        return False
    return shares_role(user, group.backend_roles)


def _owner_still_allowed(user: User, group: ModelGroup) -> bool:
    """isOwnerStillHasPermission: an owner of a restricted group must still share a role."""
    if group.access == RESTRICTED:
        return shares_role(user, group.backend_roles)
    return True


def updated_access(request: AccessRequest, user: User | None) -> dict[str, Any]:
    """The access and backend_roles an update writes (TransportUpdateModelGroupAction).

    A mode other than restricted clears the roles; roles or add_all without a mode make the
    group restricted; add_all takes the updating user's roles. Empty roles are not shown.
    """
    changes: dict[str, Any] = {}
    if request.mode is not None:
        changes["access"] = request.mode
        if request.mode != RESTRICTED:
            changes["backend_roles"] = None
    elif request.backend_roles is not None or request.adds_all:
        changes["access"] = RESTRICTED
    if request.backend_roles is not None:
        changes["backend_roles"] = request.backend_roles or None
    if request.adds_all and user is not None:
        changes["backend_roles"] = list(user.backend_roles) or None
    return changes
