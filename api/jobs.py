"""The only Celery-touching code in api/: send jobs by name, wait for predict replies."""

from __future__ import annotations

import json
import time
from typing import Any

from api.services import Services
from common.errors import GatewayTimeoutError, MLCommonsError
from common.ids import new_id
from common.queueing import TASK_REGISTER, role_queue
from common.tasks import set_state


def register(svc: Services, task_id: str, request: dict[str, Any], *, only_ml: bool) -> None:
    """Send a register job to eligible nodes and wait (bounded) until the model record exists.

    ML Commons registers remote models synchronously, and clients use the returned model_id
    at once; the job still runs on a worker and its task record tells the whole story.
    """
    reply_key = svc.store.reply_key(new_id())
    try:
        svc.celery.send_task(
            TASK_REGISTER,
            args=[task_id, {**request, "reply_key": reply_key}],
            queue=role_queue(only_ml=only_ml),
        )
    except Exception:
        set_state(svc.store, task_id, "FAILED", error="Could not queue the register job")
        raise MLCommonsError("Could not queue the register job", status=503) from None
    reply = svc.store.wait_reply(reply_key, svc.settings.predict_timeout_s)
    if reply is not None and "error" in reply:
        raise MLCommonsError.from_dict(reply["error"])


def predict(svc: Services, job: dict[str, Any], *, only_ml: bool) -> dict[str, Any]:
    """Queue a predict request for the eligible nodes and block on its reply (BLPOP, no polling).

    Predicts go through a plain Redis list, not Celery: see workers/predict_consumer.py for
    the measurement behind that. Waiting is one BLPOP on a per-request reply list.
    """
    timeout = svc.settings.predict_timeout_s
    reply_key = svc.store.reply_key(new_id())
    queue = role_queue(only_ml=only_ml)
    request = {**job, "reply_key": reply_key, "queue": queue, "deadline": time.time() + timeout}
    svc.store.push_predict(queue, json.dumps(request))
    reply = svc.store.wait_reply(reply_key, timeout)
    if reply is None:
        raise GatewayTimeoutError(
            f"No worker node answered the predict request within {timeout:g}s"
        )
    if "error" in reply:
        raise MLCommonsError.from_dict(reply["error"])
    return reply
