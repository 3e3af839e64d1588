"""The API's side of the queues: register jobs to Celery, predicts to the predict lists.

Both wait, bounded, for the worker's answer in this process's inbox (api/listener.py).
"""

from __future__ import annotations

import time

import redis

from api.services import Services
from common.errors import GatewayTimeoutError, QueueUnavailableError
from common.messages import JobReply, PredictReply, PredictRequest, RegisterJob
from common.queueing import TASK_REGISTER, role_queue
from common.records import MLTaskState
from common.tasks import set_state


def register(svc: Services, job: RegisterJob, *, only_ml: bool) -> None:
    """Send a register job to eligible nodes and wait (bounded) until the model record exists.

    ML Commons registers remote models synchronously, and clients use the returned model_id
    at once; the job still runs on a worker and its task record tells the whole story.
    """
    waiter = svc.listener.expect(job.request_id)
    try:
        svc.celery.send_task(TASK_REGISTER, args=[job.text()], queue=role_queue(only_ml=only_ml))
    except Exception:  # any broker or connection failure: Celery has no common base for them
        svc.listener.forget(waiter)
        reason = "Could not queue the register job"
        set_state(svc.store, job.task_id, MLTaskState.FAILED, error=reason)
        raise QueueUnavailableError(reason) from None
    try:
        reply = waiter.wait(JobReply, svc.settings.predict_timeout_s)
    finally:
        svc.listener.forget(waiter)
    if reply is not None and reply.error is not None:
        raise reply.error.to_error()


def predict(svc: Services, request: PredictRequest) -> PredictReply:
    """Queue a predict request for the eligible nodes and wait for its answer.

    Predicts go through a plain Redis list, not Celery: see workers/predict_consumer.py.
    """
    waiter = svc.listener.expect(request.request_id)
    try:
        try:
            svc.dispatcher.send(request.queue, request.encode())
        except redis.RedisError:
            raise QueueUnavailableError("The predict queue is unavailable, retry later") from None
        reply = waiter.wait(PredictReply, request.deadline - time.time())
    finally:
        svc.listener.forget(waiter)
    if reply is None:
        timeout = svc.settings.predict_timeout_s
        raise GatewayTimeoutError(
            f"No worker node answered the predict request within {timeout:g}s"
        )
    if reply.error is not None:
        raise reply.error.to_error()
    return reply
