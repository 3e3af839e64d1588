"""ML Commons' profile body (RestMLProfileAction): which node holds which model, and how its
latest predicts went there (MLModelProfile, MLPredictRequestStats)."""

from __future__ import annotations

import zlib
from typing import Any

from msgspec import structs

from api.cluster_stats import holdings, select_nodes
from api.services import Services
from common.records import MLModel, MLModelState
from common.stores.node_stats import NodeCounters

# What ML Commons prints for a remote model's predictor: a Java object's class@hash.
PREDICTOR_CLASS = "org.opensearch.ml.engine.algorithms.remote.RemoteModel"
NODE_VIEW, MODEL_VIEW = "node", "model"
# Profiles are keyed node -> model -> the model's profile on that node.
Profiles = dict[str, dict[str, dict[str, Any]]]


def render_profile(svc: Services, model_ids: str | None, view: str) -> dict[str, Any]:
    """Build the profile body; `{}` when no live node holds a wanted model, and (as in ML
    Commons) for a view that is neither `node` nor `model`."""
    profiles = collect(svc, _wanted(model_ids))
    if not profiles or view not in (NODE_VIEW, MODEL_VIEW):
        return {}
    if view == MODEL_VIEW:
        return {"models": by_model(profiles)}
    return {"nodes": {node_id: {"models": models} for node_id, models in profiles.items()}}


def _wanted(model_ids: str | None) -> set[str] | None:
    if model_ids is None:
        return None
    return {part.strip() for part in model_ids.split(",") if part.strip()}


def collect(svc: Services, wanted: set[str] | None) -> Profiles:
    """Return the profile of each wanted model on each live node that holds or is loading it."""
    models = [(i, m) for i, m in svc.store.models.all() if wanted is None or i in wanted]
    held = holdings(svc, models)
    nodes = [node.id for node in select_nodes(svc, None)]
    counters = svc.store.node_stats.read(nodes)
    profiles: Profiles = {}
    for model_id, model in models:
        holders = held.get(model_id, set())
        for node_id in nodes:
            state = _state_on(node_id, model, holders)
            if state is not None:
                profile = _profile(node_id, model_id, model, holders, state, counters.get(node_id))
                profiles.setdefault(node_id, {})[model_id] = profile
    return profiles


def _state_on(node_id: str, model: MLModel, holders: set[str]) -> MLModelState | None:
    if node_id in holders:
        return MLModelState.DEPLOYED
    # A node planned for a deploy still running is loading the model, as ML Commons shows.
    planned = node_id in (model.planning_worker_nodes or [])
    return (
        MLModelState.DEPLOYING if planned and model.model_state == MLModelState.DEPLOYING else None
    )


def _profile(
    node_id: str,
    model_id: str,
    model: MLModel,
    holders: set[str],
    state: MLModelState,
    counters: NodeCounters | None,
) -> dict[str, Any]:
    profile: dict[str, Any] = {"model_state": state.value}
    if state == MLModelState.DEPLOYED:
        profile["predictor"] = f"{PREDICTOR_CLASS}@{_java_hash(node_id, model_id)}"
    if model.planning_worker_nodes:
        profile["target_worker_nodes"] = list(model.planning_worker_nodes)
    if holders:
        profile["worker_nodes"] = sorted(holders)
    served = None if counters is None else counters.models.get(model_id)
    if served is not None and served.recent is not None:
        profile["predict_request_stats"] = structs.asdict(served.recent)
    return profile


def _java_hash(node_id: str, model_id: str) -> str:
    # Stable per node and model, printed like Integer.toHexString(hashCode()).
    return format(zlib.crc32(f"{node_id}/{model_id}".encode()), "x")


def by_model(profiles: Profiles) -> dict[str, Any]:
    """Regroup node -> model profiles by model, as `?view=model` asks (MLProfileModelResponse)."""
    grouped: dict[str, Any] = {}
    for node_id, models in profiles.items():
        for model_id, profile in models.items():
            entry = grouped.setdefault(model_id, _model_entry(profile))
            rest = {
                k: v for k, v in profile.items() if k not in ("target_worker_nodes", "worker_nodes")
            }
            entry["nodes"][node_id] = rest
    return grouped


def _model_entry(profile: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for key in ("target_worker_nodes", "worker_nodes"):
        if key in profile:
            entry[key] = profile[key]
    entry["nodes"] = {}
    return entry
