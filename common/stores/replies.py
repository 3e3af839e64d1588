"""The reply protocol: a worker answers one waiting API call on a list of its own.

One writer (add_push, used by both the sync and the asyncio clients' pipelines) and one TTL
rule (Settings.reply_ttl_s), so an answer nobody waits for any more never lingers.
"""

from __future__ import annotations

import time
from typing import TypeVar

import redis

from common.ids import new_id
from common.messages import Message
from common.stores.connection import Redis
from common.stores.keys import KeyBuilder

M = TypeVar("M", bound=Message)


class Replies:
    """`<prefix>:reply:<id>` lists, each answered once and waited on by one caller."""

    def __init__(self, redis: Redis, blocking: Redis, keys: KeyBuilder, ttl_s: int) -> None:
        self._redis = redis
        # A retried BLPOP would restart its full timeout: blocking waits use their own client.
        self._blocking = blocking
        self._keys = keys
        self.ttl_s = ttl_s

    def new_key(self) -> str:
        """Mint the list a new request's answer will arrive on."""
        return self._keys.key("reply", new_id())

    def add_push(self, pipe: Redis, reply_key: str, message: Message) -> None:
        """Queue an answer on a pipeline (sync or asyncio): the one place replies are written."""
        pipe.rpush(reply_key, message.encode())
        pipe.expire(reply_key, self.ttl_s)

    def push(self, reply_key: str, message: Message) -> None:
        """Answer a waiting caller now."""
        pipe = self._redis.pipeline(transaction=False)
        self.add_push(pipe, reply_key, message)
        pipe.execute()

    def wait(self, reply_key: str, kind: type[M], timeout_s: float) -> M | None:
        """Block until the answer arrives (BLPOP: no polling), or None once timeout_s passed."""
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                item = self._blocking.blpop([reply_key], timeout=max(remaining, 0.01))
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(min(0.2, max(remaining, 0)))  # Redis restarting: wait, then retry
                continue
            return None if item is None else kind.decode(item[1])
        return None
