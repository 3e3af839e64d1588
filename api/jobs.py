"""The API's side of the queues: send register jobs to Celery, predicts to the predict lists.

Both wait, bounded, for the worker's reply on a reply list (common/stores/replies.py).
"""

from __future__ import annotations

import time

from api.services import Services
from common.errors import GatewayTimeoutError, MLCommonsError
from common.messages import JobReply, PredictReply, PredictRequest, RegisterJob
from common.queueing import TASK_REGISTER, role_queue
from common.records import MLTaskState
from common.tasks import set_state


class QueueUnavailableError(MLCommonsError):
    """The broker refused a job: nothing was queued."""

    status = 503


def register(svc: Services, job: RegisterJob, *, only_ml: bool) -> None:
    """Send a register job to eligible nodes and wait (bounded) until the model record exists.

    ML Commons registers remote models synchronously, and clients use the returned model_id
    at once; the job still runs on a worker and its task record tells the whole story.
    """
    try:
        svc.celery.send_task(TASK_REGISTER, args=[job.text()], queue=role_queue(only_ml=only_ml))
    except Exception:  # any broker or connection failure: Celery has no common base for them
        reason = "Could not queue the register job"
        set_state(svc.store, job.task_id, MLTaskState.FAILED, error=reason)
        raise QueueUnavailableError(reason) from None
    reply = svc.store.replies.wait(job.reply_key, JobReply, svc.settings.predict_timeout_s)
    if reply is not None and reply.error is not None:
        raise reply.error.to_error()


def predict(svc: Services, request: PredictRequest) -> PredictReply:
    """Queue a predict request for the eligible nodes and block on its reply (BLPOP, no polling).

    Predicts go through a plain Redis list, not Celery: see workers/predict_consumer.py for
    the measurement behind that.
    """
    svc.store.predicts.push(request)
    wait_s = request.deadline - time.time()
    reply = svc.store.replies.wait(request.reply_key, PredictReply, wait_s)
    if reply is None:
        timeout = svc.settings.predict_timeout_s
        raise GatewayTimeoutError(
            f"No worker node answered the predict request within {timeout:g}s"
        )
    if reply.error is not None:
        raise reply.error.to_error()
    return reply
