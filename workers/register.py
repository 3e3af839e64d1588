"""Register a remote model: resolve its group, check its connector, write the record."""

from __future__ import annotations

import logging

from common.cluster_settings import effective
from common.deployment import start_deploy
from common.errors import MLCommonsError, NotFoundError
from common.ids import new_id
from common.messages import ErrorInfo, JobReply, RegisterJob
from common.model_groups import find_or_create_group
from common.nodes import alive, eligible
from common.records import FunctionName, MLModel, MLModelState, MLTaskState, now_ms
from common.store import Store
from common.tasks import set_state
from workers.runtime import Runtime

log = logging.getLogger(__name__)


def run(rt: Runtime, job: RegisterJob) -> None:
    """Run one registration; failures become a FAILED task with the reason."""
    task = rt.store.tasks.get(job.task_id)
    if task is None or task.is_final:
        return
    set_state(rt.store, job.task_id, MLTaskState.RUNNING, worker_node=[rt.node.id])
    try:
        rt.store.models.put(job.model_id, build_model(rt.store, job))
        ttl = job.deploy_setting.model_ttl_minutes if job.deploy_setting else None
        rt.store.model_access.set_ttl(job.model_id, ttl)
    except MLCommonsError as failure:
        fail(rt, job, failure)
        return
    set_state(rt.store, job.task_id, MLTaskState.COMPLETED, model_id=job.model_id)
    rt.store.replies.push(job.reply_key, JobReply(request_id=job.request_id, model_id=job.model_id))
    if job.deploy:
        deploy_after_register(rt, job.model_id)


def fail(rt: Runtime, job: RegisterJob, failure: MLCommonsError) -> None:
    """Mark the task FAILED and tell the waiting API call why."""
    set_state(rt.store, job.task_id, MLTaskState.FAILED, error=failure.reason)
    reply = JobReply(request_id=job.request_id, error=ErrorInfo.of(failure))
    rt.store.replies.push(job.reply_key, reply)


def build_model(store: Store, job: RegisterJob) -> MLModel:
    """Return the model record for a registration job."""
    if job.connector_id and store.connectors.get(job.connector_id) is None:
        raise NotFoundError(f"Failed to find connector:{job.connector_id}")
    group_id = _group_for(store, job)
    stamp = now_ms()
    return MLModel(
        name=job.name,
        model_group_id=group_id,
        algorithm=FunctionName.REMOTE,
        model_version=str(store.group_names.next_version(group_id)),
        description=job.description,
        model_state=MLModelState.REGISTERED,
        created_time=stamp,
        last_updated_time=stamp,
        last_registered_time=stamp,
        is_hidden=False,
        deploy_setting=job.deploy_setting,
        is_enabled=job.is_enabled,
        rate_limiter=job.rate_limiter,
        interface=job.interface,
        connector_id=job.connector_id,
        connector=None if job.connector_id else job.connector,
    )


def _group_for(store: Store, job: RegisterJob) -> str:
    if job.model_group_id:
        message = (
            f"Failed to find model group with the provided model group id: {job.model_group_id}"
        )
        store.model_groups.require(job.model_group_id, message)
        return job.model_group_id
    return find_or_create_group(store, new_id(), job.name, job.description)


def deploy_after_register(rt: Runtime, model_id: str) -> None:
    """Honour ?deploy=true: deploy on every live eligible node, if any."""
    cluster = effective(*rt.store.cluster_settings.read())
    nodes = eligible(
        alive(rt.store.nodes.all(), rt.settings.node_ttl_s), only_ml=cluster.only_run_on_ml_node
    )
    if not nodes:
        log.warning("model %s registered but not deployed: no eligible node", model_id)
        return
    start_deploy(rt.store, rt.celery, model_id, nodes)
