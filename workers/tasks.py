"""Thin Celery tasks: load the runtime, call the logic module, record the outcome."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from common.queueing import TASK_DEPLOY, TASK_REGISTER, TASK_UNDEPLOY
from common.tasks import set_state
from workers import deploy, register
from workers.runtime import current


@shared_task(name=TASK_REGISTER)
def register_model(task_id: str, job: dict[str, Any]) -> None:
    """Register a remote model."""
    try:
        register.run(current(), task_id, job)
    except Exception:
        set_state(current().store, task_id, "FAILED", error="Internal error while registering")
        raise


@shared_task(name=TASK_DEPLOY)
def deploy_model(task_id: str, model_id: str) -> None:
    """Deploy a model on this node."""
    deploy.run(current(), task_id, model_id)


@shared_task(name=TASK_UNDEPLOY)
def undeploy_model(model_id: str) -> None:
    """Drop a model from this node's memory."""
    current().cache.drop(model_id)
