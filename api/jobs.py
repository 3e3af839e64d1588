"""The only Celery-touching code in api/: send jobs by name, wait for predict replies."""

from __future__ import annotations

from typing import Any

from api.services import Services
from common.errors import GatewayTimeoutError, MLCommonsError
from common.ids import new_id
from common.queueing import TASK_PREDICT, TASK_REGISTER, role_queue


def enqueue_register(svc: Services, task_id: str, request: dict[str, Any], *, only_ml: bool) -> None:
    """Send a register job to the shared queue of eligible nodes."""
    svc.celery.send_task(TASK_REGISTER, args=[task_id, request], queue=role_queue(only_ml=only_ml))


def predict(svc: Services, job: dict[str, Any], *, only_ml: bool) -> dict[str, Any]:
    """Send a predict job and block on its reply list (BLPOP, no polling).

    Celery's result backend is not used here: AsyncResult.get costs a subscribe, a GET and an
    unsubscribe per call and is not safe to share across the API's threads; one BLPOP on a
    per-request list is a single round trip.
    """
    timeout = svc.settings.predict_timeout_s
    reply_key = svc.store.reply_key(new_id())
    svc.celery.send_task(
        TASK_PREDICT,
        args=[{**job, "reply_key": reply_key}],
        queue=role_queue(only_ml=only_ml),
        expires=timeout,
        # Celery would otherwise saferepr() the arguments for its logs on every send.
        argsrepr="predict",
        kwargsrepr="",
    )
    reply = svc.store.wait_reply(reply_key, timeout)
    if reply is None:
        raise GatewayTimeoutError(f"No worker node answered the predict request within {timeout:g}s")
    if "error" in reply:
        raise MLCommonsError.from_dict(reply["error"])
    return reply
