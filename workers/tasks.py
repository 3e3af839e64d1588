"""Thin Celery tasks: load the runtime, call the logic module, record the outcome."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from common.errors import MLCommonsError
from common.queueing import TASK_DEPLOY, TASK_REGISTER, TASK_UNDEPLOY
from common.tasks import set_state
from workers import deploy, register
from workers.runtime import current


@shared_task(name=TASK_REGISTER)
def register_model(task_id: str, job: dict[str, Any]) -> None:
    """Register a remote model."""
    rt = current()
    try:
        register.run(rt, task_id, job)
    except Exception:
        error = MLCommonsError("Internal error while registering")
        set_state(rt.store, task_id, "FAILED", error=error.reason)
        if job.get("reply_key"):
            rt.store.push_reply(job["reply_key"], {"error": error.to_dict()}, ttl_s=60)
        raise


@shared_task(name=TASK_DEPLOY)
def deploy_model(task_id: str, model_id: str) -> None:
    """Deploy a model on this node; an unexpected failure still reports, so the task settles."""
    rt = current()
    try:
        deploy.run(rt, task_id, model_id)
    except Exception:
        deploy.report(rt.store, task_id, rt.node.id, "Internal error while deploying")
        raise


@shared_task(name=TASK_UNDEPLOY)
def undeploy_model(model_id: str) -> None:
    """Drop a model from this node's memory."""
    current().cache.drop(model_id)
