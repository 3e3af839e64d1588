"""Thin Celery tasks: decode the message, load the runtime, call the logic module."""

from __future__ import annotations

from collections.abc import Callable

from celery import shared_task

from common.batch import TASK_BATCH_CANCEL, TASK_BATCH_PREDICT, TASK_BATCH_STATUS
from common.errors import MLCommonsError
from common.messages import BatchJob, DeployJob, RegisterJob, UndeployJob
from common.queueing import TASK_DEPLOY, TASK_REGISTER, TASK_SYNC_UP, TASK_UNDEPLOY
from common.records import MLTaskState
from workers import batch, deploy, register, sync_up
from workers.runtime import Runtime, current
from workers.stats import DEPLOY, REGISTER


@shared_task(name=TASK_REGISTER)
def register_model(message: str) -> None:
    """Register a remote model."""
    rt = current()
    job = RegisterJob.decode(message)
    with rt.stats.job(REGISTER, failed=lambda: _task_failed(rt, job.task_id)):
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
    with rt.stats.job(DEPLOY, failed=lambda: _deploy_failed(rt, job.task_id)):
        try:
            deploy.run(rt, job)
        except Exception:
            deploy.report(rt.store, job.task_id, rt.node.id, "Internal error while deploying")
            raise


@shared_task(name=TASK_UNDEPLOY)
def undeploy_model(message: str) -> None:
    """Drop a model from this node's memory."""
    deploy.drop_model(current(), UndeployJob.decode(message).model_id)


@shared_task(name=TASK_SYNC_UP, ignore_result=True)
def sync_up_cluster() -> None:
    """Undeploy models idle past their TTL and refresh running batch jobs (once per interval)."""
    sync_up.run(current())


@shared_task(name=TASK_BATCH_PREDICT)
def batch_predict(message: str) -> None:
    """Start a batch predict job at the model's provider."""
    _batch_step(batch.predict, message)


@shared_task(name=TASK_BATCH_STATUS)
def batch_predict_status(message: str) -> None:
    """Read a batch job's status from its provider into the task."""
    _batch_step(batch.refresh, message)


@shared_task(name=TASK_BATCH_CANCEL)
def cancel_batch_predict(message: str) -> None:
    """Cancel a batch job at its provider."""
    _batch_step(batch.cancel, message)


def _batch_step(step: Callable[[Runtime, BatchJob], None], message: str) -> None:
    rt = current()
    job = BatchJob.decode(message)
    try:
        step(rt, job)
    except Exception:
        # The waiting API call gets an answer now rather than its timeout; Celery logs it.
        batch.reply(rt, job, MLCommonsError("Internal error while running the batch job"))
        raise


def _task_failed(rt: Runtime, task_id: str) -> bool:
    # register.run settles failures itself; the task record tells how it went.
    task = rt.store.tasks.get(task_id)
    return task is not None and task.state == MLTaskState.FAILED


def _deploy_failed(rt: Runtime, task_id: str) -> bool:
    # deploy.run reports this node's outcome; an error recorded there is this node's failure.
    return rt.store.deployments.results(task_id).get(rt.node.id) is not None
