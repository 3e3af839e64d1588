"""How much work waits: predict lists, each node's in-flight list, and Celery's job queues.

Read by `modelgate status` and the API's metrics endpoint (at each scrape, never per request).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from celery import Celery

from common.errors import QueueUnavailableError
from common.queueing import QUEUE_ML, QUEUE_ML_OR_DATA, job_queue_depths, node_queue
from common.store import Store

SHARED_QUEUES = (QUEUE_ML, QUEUE_ML_OR_DATA)
PREDICT, IN_FLIGHT, CELERY = "predict", "in_flight", "celery"


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """One queue's length: `predict` requests waiting, `in_flight` (taken by a node and not
    yet answered) or `celery` lifecycle jobs waiting."""

    kind: str
    queue: str
    depth: int


def queue_names(node_ids: Iterable[str]) -> list[str]:
    """The shared queues, then each node's own queue."""
    return [*SHARED_QUEUES, *(node_queue(node_id) for node_id in node_ids)]


def predict_depths(store: Store, node_ids: list[str]) -> list[QueueDepth]:
    """Lengths of the predict lists and of each node's in-flight list, in one round trip."""
    queues = queue_names(node_ids)
    pipe = store.queue_redis.pipeline(transaction=False)
    for queue in queues:
        pipe.llen(store.predicts.queue_key(queue))
    for node_id in node_ids:
        pipe.llen(store.predicts.inflight_key(node_id))
    lengths = [int(n) for n in pipe.execute()]
    waiting = [QueueDepth(PREDICT, q, n) for q, n in zip(queues, lengths, strict=False)]
    taken = lengths[len(queues) :]
    return waiting + [QueueDepth(IN_FLIGHT, i, n) for i, n in zip(node_ids, taken, strict=True)]


def celery_depths(celery: Celery, node_ids: list[str]) -> list[QueueDepth]:
    """Jobs waiting in each Celery queue, asked of the broker (Redis or AMQP alike).

    Raises:
        QueueUnavailableError: the broker cannot be reached.
    """
    # The transport's own error classes; making the Connection object does not connect.
    errors = celery.connection_for_read().connection_errors
    try:
        counts = job_queue_depths(celery, queue_names(node_ids))
    except errors as error:
        raise QueueUnavailableError(f"The job broker is unavailable: {error}") from None
    return [QueueDepth(CELERY, queue, count) for queue, count in counts.items()]
