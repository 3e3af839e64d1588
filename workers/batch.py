"""Batch predict on a node: start a provider's batch job, read its status, cancel it.

Each step makes one call to the provider through the model's connector (its batch_predict,
batch_predict_status or cancel_batch_predict action, the last two built by default for
known providers: common/batch.py), records what it learnt in the task, and answers the API
call waiting on it. The job itself runs at the provider; no node holds it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from msgspec import structs

from common.batch import (
    ACTIVE_BATCH_LIMIT,
    CANCEL_FAILED,
    NO_STATUS,
    NOT_CREATED,
    active_batch_tasks,
    batch_action,
    job_parameters,
)
from common.cluster_settings import ClusterSettings
from common.endpoints import require_trusted
from common.errors import GatewayTimeoutError, MLCommonsError, NotFoundError
from common.messages import BatchJob, ErrorInfo, JobReply
from common.records import ActionType, ConnectorAction, FreeForm, MLTask, MLTaskState
from common.tasks import merge_remote_job, set_remote_job, set_state
from workers.deploy import load_model
from workers.model_cache import PreparedModel
from workers.remote.connector import build_request
from workers.remote.http import Answer, is_success
from workers.remote.outcome import inference_result
from workers.runtime import Runtime

log = logging.getLogger(__name__)
MISSING_TASK = "Failed to find task"
MISSING_MODEL = "Failed to retrieve the ML model for the given task ID"
NO_ANSWER = "The remote service did not answer the batch request in time"


def predict(rt: Runtime, job: BatchJob) -> None:
    """Start the remote job; the task becomes RUNNING with it, or FAILED with the reason."""
    task = rt.store.tasks.get(job.task_id)
    if task is None or task.is_final or task.remote_job is not None:
        reply(rt, job)  # a redelivered job: the task already tells how it went
        return
    try:
        model = _prepared(rt, task)
        action = batch_action(model.connector, ActionType.BATCH_PREDICT)
        remote_job = _described(_call(rt, model, action, job.parameters, job), NOT_CREATED)
    except MLCommonsError as failure:
        set_state(
            rt.store,
            job.task_id,
            MLTaskState.FAILED,
            error=failure.reason,
            worker_node=[rt.node.id],
        )
        reply(rt, job, failure)
        return
    # ML Commons records the job as RUNNING whatever the provider's first status says.
    set_remote_job(rt.store, job.task_id, remote_job, MLTaskState.RUNNING, worker_node=[rt.node.id])
    reply(rt, job)


def refresh(rt: Runtime, job: BatchJob) -> None:
    """Ask the provider how the job goes (a GET of the task), and answer the API."""
    if time.time() > job.deadline:
        return  # the API stopped waiting: nobody reads this answer
    try:
        refresh_task(rt, job)
    except MLCommonsError as failure:
        reply(rt, job, failure)
        return
    reply(rt, job)


def refresh_task(rt: Runtime, job: BatchJob) -> None:
    """Ask the provider how the job goes; merge its answer into remote_job and set the state.

    Shared by a GET of the task and the background refresh (refresh_active); raises the
    provider's or the lookup's failure.
    """
    task = rt.store.tasks.require(job.task_id, MISSING_TASK)
    if task.remote_job is not None:
        _refresh(rt, job, task, task.remote_job)


def refresh_active(rt: Runtime, cluster: ClusterSettings, budget_s: float) -> list[str]:
    """Refresh the oldest running batch tasks from their providers, as a GET of each would.

    ML Commons' MLBatchTaskUpdateJobRunner does this on a schedule. At most
    ACTIVE_BATCH_LIMIT tasks per run, and none once budget_s is spent (each call is bounded by
    the predict timeout), so a slow provider delays only its own tasks to a later run.
    Returns the ids of the tasks refreshed.
    """
    deadline = time.time() + budget_s
    done: list[str] = []
    for task_id in active_batch_tasks(rt.store.tasks.all(), ACTIVE_BATCH_LIMIT):
        if time.time() > deadline:
            break
        job = BatchJob(
            task_id=task_id,
            reply_key="",  # nobody waits: the task record is the outcome
            request_id=task_id,
            deadline=deadline,
            trusted=list(cluster.trusted_endpoints),
            private_ip_enabled=cluster.private_ip_enabled,
            max_json_size=cluster.max_json_size,
        )
        try:
            refresh_task(rt, job)
        except MLCommonsError as failure:  # as a GET would show it: the task stays as it was
            log.warning("background refresh of batch task %s failed: %s", task_id, failure.reason)
            continue
        done.append(task_id)
    return done


def _refresh(rt: Runtime, job: BatchJob, task: MLTask, remote_job: FreeForm) -> None:
    model = _prepared(rt, task)
    action = batch_action(model.connector, ActionType.BATCH_PREDICT_STATUS)
    status = _described(_call(rt, model, action, job_parameters(remote_job), job), NO_STATUS)
    merge_remote_job(rt.store, job.task_id, status)


def cancel(rt: Runtime, job: BatchJob) -> None:
    """Ask the provider to cancel the job; the task follows on its next status read."""
    if time.time() > job.deadline:
        return  # the API answered the client already: a late cancel would surprise it
    try:
        task = rt.store.tasks.require(job.task_id, MISSING_TASK)
        model = _prepared(rt, task)
        action = batch_action(model.connector, ActionType.CANCEL_BATCH_PREDICT)
        answer, _, _ = _call(rt, model, action, job_parameters(task.remote_job or {}), job)
        if not is_success(answer.status):
            inference_result(answer)  # raises the upstream's error as a predict would
        if answer.status != 200:
            raise MLCommonsError(CANCEL_FAILED)
    except MLCommonsError as failure:
        reply(rt, job, failure)
        return
    reply(rt, job)


def reply(rt: Runtime, job: BatchJob, failure: MLCommonsError | None = None) -> None:
    """Answer the API call waiting on this job."""
    error = None if failure is None else ErrorInfo.of(failure)
    rt.store.replies.push(job.reply_key, JobReply(request_id=job.request_id, error=error))


def _prepared(rt: Runtime, task: MLTask) -> PreparedModel:
    """The task's model with its connector and decrypted credentials (no deploy needed)."""
    model = rt.store.models.get(task.model_id or "")
    if model is None:
        raise NotFoundError(MISSING_MODEL)
    return load_model(rt, model)


def _call(
    rt: Runtime,
    model: PreparedModel,
    action: ConnectorAction,
    parameters: FreeForm,
    job: BatchJob,
) -> tuple[Answer, str | None, str | None]:
    """Send one request for action; return the answer, its response_filter and post-process."""
    # The action may be a default one the connector does not list: build from a connector
    # holding exactly it, so build_request applies the same templating and signing rules.
    connector = structs.replace(model.connector, actions=[action])
    outbound = build_request(
        PreparedModel(model.generation, connector, model.credential),
        parameters,
        action.action_type,
    )
    require_trusted(outbound.url, job.trusted)
    send = outbound.send(rt.http, max_body=job.max_json_size, allow_private=job.private_ip_enabled)
    answer = rt.http.run(_bounded(send, rt.settings.predict_timeout_s))
    return answer, outbound.response_filter, outbound.post_process


async def _bounded(send: Coroutine[Any, Any, Answer], seconds: float) -> Answer:
    try:
        async with asyncio.timeout(seconds):
            return await send
    except TimeoutError:
        raise GatewayTimeoutError(NO_ANSWER) from None


def _described(call: tuple[Answer, str | None, str | None], missing: str) -> FreeForm:
    """The job description in an answer: the dataAsMap ML Commons would make of it."""
    answer, response_filter, post_process = call
    result = inference_result(answer, response_filter=response_filter, post_process=post_process)
    outputs = result["output"]
    described = outputs[0].get("dataAsMap") if outputs else None
    if not isinstance(described, dict):
        raise NotFoundError(missing)
    return described
