"""GET /_plugins/_ml/stats and /_plugins/_ml/profile: counters and holdings of the nodes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from api.cluster_stats import parse_stats, render_stats
from api.model_profile import NODE_VIEW, render_profile
from api.services import services

blueprint = Blueprint("stats", __name__)


@blueprint.get("/_plugins/_ml/stats")
@blueprint.get("/_plugins/_ml/stats/<stat>")
@blueprint.get("/_plugins/_ml/<node_id>/stats")
@blueprint.get("/_plugins/_ml/<node_id>/stats/<stat>")
def stats(node_id: str | None = None, stat: str | None = None) -> dict[str, Any]:
    """Cluster-level stats, then each selected node's (RestMLStatsAction)."""
    return render_stats(services(), parse_stats(stat), node_id)


@blueprint.get("/_plugins/_ml/profile")
@blueprint.get("/_plugins/_ml/profile/models")
@blueprint.get("/_plugins/_ml/profile/models/<model_id>")
def profile(model_id: str | None = None) -> dict[str, Any]:
    """Which live node holds which model (RestMLProfileAction); `?view=model` regroups."""
    return render_profile(services(), model_id, request.args.get("view", NODE_VIEW))
