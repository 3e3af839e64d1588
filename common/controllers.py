"""Model controllers: per-user rate limiters of a model (ML Commons' MLController).

The limits are enforced on predict with the model-level token bucket script
(common/stores/rate_limits.py), one bucket per model and user, shared by every API process.
"""

from __future__ import annotations

from typing import Any

from msgspec import structs

from common.records import Controller, UserRateLimit

INDEX = ".plugins-ml-controller"
SUFFIX_NO_MODEL = "the corresponding model controller with the provided model ID"
MISSING_CONTROLLER = "Failed to find model controller with the provided model ID"
NO_ACCESS = "User doesn't have privilege to perform this operation on this model controller."
DISABLED = (
    'Controller is currently disabled. To enable it, update the setting "plugins.ml_commons.'
    'controller_enabled" to true.'
)
DEPLOYING = (
    "Creating a model controller during its corresponding model in DEPLOYING state is not "
    "allowed, please either create the model controller after it is deployed or before "
    "deploying it."
)
NOT_CREATED = (
    "Model controller haven't been created for the model. Consider calling create model "
    "controller api instead."
)


def with_model_id(message: str, model_id: str, hidden: bool) -> str:
    """ML Commons' getErrorMessage: the model id is named unless the model is hidden."""
    return message if hidden else f"{message} Model ID: {model_id}"


def user_bucket(model_id: str, user_name: str) -> str:
    """The rate-limit bucket of one user of one model (model ids hold no colon)."""
    return f"{model_id}:user:{user_name}"


def parse_limits(given: dict[str, dict[str, Any]]) -> dict[str, UserRateLimit]:
    """Build the per-user limiters of a validated body; an empty limiter is dropped."""
    limits: dict[str, UserRateLimit] = {}
    for user, fields in given.items():
        limit = fields.get("limit")
        unit = fields.get("unit")
        if limit is None and unit is None:
            continue
        limits[user] = UserRateLimit(
            limit=None if limit is None else _text(limit),
            unit=None if unit is None else str(unit).upper(),
        )
    return limits


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def merge(current: Controller, given: dict[str, UserRateLimit]) -> Controller:
    """MLController.update: a known user's given fields replace theirs; new users are added."""
    merged = dict(current.user_rate_limiter)
    for user, limit in given.items():
        held = merged.get(user)
        if held is None:
            merged[user] = limit
            continue
        merged[user] = UserRateLimit(
            limit=limit.limit if limit.limit is not None else held.limit,
            unit=limit.unit if limit.unit is not None else held.unit,
        )
    return structs.replace(current, user_rate_limiter=merged)
