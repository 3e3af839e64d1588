"""How much work waits: predict lists, each node's in-flight list, and Celery's job queues.

Read by `modelgate status` and the API's metrics endpoint (at each scrape, never per request).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from celery import Celery

from common.errors import QueueUnavailableError
from common.queueing import QUEUE_ML, QUEUE_ML_OR_DATA, node_queue
from common.store import Store

SHARED_QUEUES = (QUEUE_ML, QUEUE_ML_OR_DATA)
PREDICT, IN_FLIGHT, CELERY = "predict", "in_flight", "celery"
REDIS_DRIVER = "redis"  # kombu's driver_type of the Redis transport


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
    with celery.connection_for_read() as conn:
        try:
            return _count_all(conn, queue_names(node_ids))
        except conn.connection_errors as error:
            raise QueueUnavailableError(f"The job broker is unavailable: {error}") from None


def _count_all(conn: Any, queues: list[str]) -> list[QueueDepth]:
    depths = []
    channel = conn.channel()
    try:
        for queue in queues:
            count, channel = _message_count(conn, channel, queue)
            depths.append(QueueDepth(CELERY, queue, count))
    finally:
        channel.close()
    return depths


def _message_count(conn: Any, channel: Any, queue: str) -> tuple[int, Any]:
    # On Redis a passive declare finds no queue under a global_keyprefix (kombu 5.5 does not
    # prefix its EXISTS); a plain declare there creates nothing and counts the same list. On
    # AMQP it must stay passive: declaring with other arguments than the nodes' would fail.
    passive = conn.transport.driver_type != REDIS_DRIVER
    try:
        return int(channel.queue_declare(queue=queue, passive=passive).message_count), channel
    except conn.channel_errors:
        # A queue never declared or drained away (Redis drops an empty list) holds nothing;
        # AMQP closes the channel on that answer, so the next queue needs a fresh one.
        return 0, conn.channel()
