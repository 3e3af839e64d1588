"""Access checks of the routes: the caller (api/auth.py) against common/security's rules.

Every function lets everything through when security is off (no user) or the kind's access
control setting is off, as ML Commons does.
"""

from __future__ import annotations

from api.auth import current_user
from api.services import Services
from common.errors import MLResourceNotFoundError, StatusError
from common.records import Connector, MLModel, ModelGroup
from common.security import connector_access, model_access
from common.security.user import User


def connector_rules_on(svc: Services, user: User | None) -> bool:
    """True when connector access control applies to this caller."""
    return connector_access.active(user, svc.view.cluster().connector_access_control)


def model_rules_on(svc: Services, user: User | None) -> bool:
    """True when model access control applies to this caller."""
    return model_access.active(user, svc.view.cluster().model_access_control)


def may_use_connector(svc: Services, connector: Connector) -> bool:
    """True when the caller may see, use, update or delete this connector."""
    user = current_user()
    return connector_access.may_use(user, connector, connector_rules_on(svc, user))


def group_of(svc: Services, group_id: str, *, cached: bool = False) -> ModelGroup:
    """The group a permission check needs; missing is ML Commons' 500 "Fail to find model group"."""
    group = svc.view.model_group(group_id) if cached else svc.store.model_groups.get(group_id)
    if group is None:
        raise MLResourceNotFoundError(model_access.GROUP_MISSING)
    return group


def may_access_group(svc: Services, group_id: str, *, cached: bool = False) -> bool:
    """True when the caller may act on models of this group (and on the group itself)."""
    user = current_user()
    if not model_rules_on(svc, user) or (user is not None and user.is_admin):
        return True
    return model_access.may_access(user, group_of(svc, group_id, cached=cached), True)


def require_model_access(
    svc: Services,
    model: MLModel,
    message: str = model_access.NO_MODEL_ACCESS,
    *,
    status: int = 403,
    cached: bool = False,
) -> None:
    """Refuse an operation on a model whose group the caller may not access."""
    if not may_access_group(svc, model.model_group_id, cached=cached):
        raise StatusError(message, status=status)
