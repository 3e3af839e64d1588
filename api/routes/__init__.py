"""Blueprints, one per REST resource, registered by create_app."""

from __future__ import annotations

from api.routes import cluster, connectors, model_groups, models, predict, root, stats, tasks

BLUEPRINTS = (
    root.blueprint,
    cluster.blueprint,
    connectors.blueprint,
    model_groups.blueprint,
    models.blueprint,
    predict.blueprint,
    tasks.blueprint,
    stats.blueprint,
)
