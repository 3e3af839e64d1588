"""Blueprints, one per REST resource, registered by create_app."""

from __future__ import annotations

from api.routes import (
    batch,
    cluster,
    connectors,
    controllers,
    model_groups,
    models,
    predict,
    root,
    stats,
    tasks,
)

BLUEPRINTS = (
    root.blueprint,
    cluster.blueprint,
    connectors.blueprint,
    model_groups.blueprint,
    models.blueprint,
    predict.blueprint,
    tasks.blueprint,
    stats.blueprint,
    batch.blueprint,
    controllers.blueprint,
)
