"""Thin Celery tasks: decode the message, load the runtime, call the logic module."""

from __future__ import annotations

from celery import shared_task

from common.errors import MLCommonsError
from common.messages import DeployJob, RegisterJob, UndeployJob
from common.queueing import TASK_DEPLOY, TASK_REGISTER, TASK_UNDEPLOY
from workers import deploy, register
from workers.runtime import current


@shared_task(name=TASK_REGISTER)
def register_model(message: str) -> None:
    """Register a remote model."""
    rt = current()
    job = RegisterJob.decode(message)
    try:
        register.run(rt, job)
    except Exception:
        register.fail(rt, job, MLCommonsError("Internal error while registering"))
        raise


@shared_task(name=TASK_DEPLOY)
def deploy_model(message: str) -> None:
    """Deploy a model on this node; an unexpected failure still reports, so the task settles."""
    rt = current()
    job = DeployJob.decode(message)
    try:
        deploy.run(rt, job)
    except Exception:
        deploy.report(rt.store, job.task_id, rt.node.id, "Internal error while deploying")
        raise


@shared_task(name=TASK_UNDEPLOY)
def undeploy_model(message: str) -> None:
    """Drop a model from this node's memory."""
    deploy.drop_model(current(), UndeployJob.decode(message).model_id)
