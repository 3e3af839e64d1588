"""One dispatcher per API process: requests from many threads go to Redis in shared pushes.

Combining, not a thread of its own: a request thread that gets the push lock pushes every
request pending at that moment (one LPUSH per queue, one round trip), and a thread whose
request went with someone else's push just returns. An idle process pays no hand-off; a busy
one sends many requests per round trip. A failed push fails every request that was in it.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import redis

from common.stores.predicts import PredictQueues


class _Ticket:
    __slots__ = ("queue", "payload", "sent", "error")

    def __init__(self, queue: str, payload: bytes) -> None:
        self.queue = queue
        self.payload = payload
        self.sent = False
        self.error: redis.RedisError | None = None


class Dispatcher:
    """Batch predict requests into as few round trips as the load allows."""

    def __init__(self, queues: PredictQueues) -> None:
        self._queues = queues
        self._pending: list[_Ticket] = []
        self._pending_lock = threading.Lock()
        self._push_lock = threading.Lock()

    def send(self, queue: str, payload: bytes) -> None:
        """Enqueue one request; return once it is in Redis, or raise the push's RedisError."""
        ticket = _Ticket(queue, payload)
        with self._pending_lock:
            self._pending.append(ticket)
        with self._push_lock:
            if not ticket.sent and ticket.error is None:
                self._push_pending()
        if ticket.error is not None:
            raise ticket.error

    def _push_pending(self) -> None:
        with self._pending_lock:
            batch, self._pending = self._pending, []
        by_queue: dict[str, list[bytes]] = defaultdict(list)
        for ticket in batch:
            by_queue[ticket.queue].append(ticket.payload)
        try:
            self._queues.push_many(by_queue)
        except redis.RedisError as error:
            for ticket in batch:
                ticket.error = error
            return
        for ticket in batch:
            ticket.sent = True
