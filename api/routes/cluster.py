"""PUT/GET /_cluster/settings for the plugins.ml_commons.* settings."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from api.routes.body import json_body
from api.schemas import ClusterSettingsSchema, load
from api.services import services
from common import cluster_settings as cs
from common.view import SETTINGS

blueprint = Blueprint("cluster", __name__)


def _flat_wanted() -> bool:
    return request.args.get("flat_settings", "false") == "true"


def _render(flat: dict[str, Any]) -> dict[str, Any]:
    return flat if _flat_wanted() else cs.nest(flat)


@blueprint.put("/_cluster/settings")
def put_settings() -> dict[str, Any]:
    """Validate every change first, then store them: a bad value changes nothing."""
    body = load(ClusterSettingsSchema, json_body(required=True))
    changes = {
        scope: cs.validate(cs.flatten(body[scope], scope), scope)
        for scope in ("persistent", "transient")
    }
    svc = services()
    for scope, updates in changes.items():
        if updates:
            svc.store.cluster_settings.write(scope, updates)
    # This process's view learns of the change by pub/sub like every other; without this a
    # request right after the call could still act on the old value here.
    svc.view.drop(SETTINGS)
    echoed = {scope: {k: v for k, v in u.items() if v is not None} for scope, u in changes.items()}
    return {"acknowledged": True, **{scope: _render(flat) for scope, flat in echoed.items()}}


@blueprint.get("/_cluster/settings")
def get_settings() -> dict[str, Any]:
    """Return stored settings; include_defaults=true adds every default."""
    persistent, transient = services().store.cluster_settings.read()
    answer = {"persistent": _render(persistent), "transient": _render(transient)}
    if request.args.get("include_defaults", "false") == "true":
        answer["defaults"] = _render(cs.defaults())
    return answer
