"""Tasks that have not reached a final state, so the sweeper can settle a dead node's work."""

from __future__ import annotations

import time

from common.stores.connection import Redis
from common.stores.keys import KeyBuilder


class ActiveTasks:
    """`<prefix>:task:active`: task id scored by when it started."""

    def __init__(self, redis: Redis, keys: KeyBuilder) -> None:
        self._redis = redis
        self.key = keys.key("task", "active")

    def add(self, task_id: str) -> None:
        """Track a task that has not reached a final state."""
        self._redis.zadd(self.key, {task_id: time.time()})

    def remove(self, task_id: str) -> None:
        """Stop tracking a task that reached a final state."""
        self._redis.zrem(self.key, task_id)

    def older_than(self, seconds: float) -> list[str]:
        """Return unfinished tasks started more than `seconds` ago."""
        limit = time.time() - seconds
        return list(self._redis.zrangebyscore(self.key, "-inf", limit))
