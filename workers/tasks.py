"""Thin Celery tasks: load the runtime, call the logic module, record the outcome."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from common.errors import MLCommonsError
from common.queueing import TASK_DEPLOY, TASK_PREDICT, TASK_REGISTER, TASK_UNDEPLOY
from common.tasks import set_state
from workers import deploy, predict, register
from workers.runtime import current

log = logging.getLogger(__name__)


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


@shared_task(name=TASK_PREDICT)
def predict_model(job: dict[str, Any]) -> None:
    """Serve one prediction and answer on the request's reply list."""
    rt = current()
    answer: dict[str, Any] = {"node": rt.node.id, "node_name": rt.node.name, "role": rt.node.role}
    try:
        answer["body"] = predict.run(rt, job)
    except MLCommonsError as error:
        answer["error"] = error.to_dict()
    except Exception:
        log.exception("predict failed on model %s", job.get("model_id"))
        answer["error"] = MLCommonsError("Internal error on worker node").to_dict()
    rt.store.push_reply(job["reply_key"], answer, ttl_s=int(rt.settings.predict_timeout_s) + 5)
