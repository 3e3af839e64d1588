"""The reply protocol: workers answer on the inbox list of the API process that waits.

Each API process has one inbox (`<prefix>:reply:<process id>`) and one listener reading it
(api/listener.py); every answer names the request it answers (`request_id`). One writer
(add_push, used by both the sync and the asyncio clients' pipelines) and one TTL rule
(Settings.reply_ttl_s): an inbox nobody reads any more disappears on its own.
"""

from __future__ import annotations

from common.ids import new_id
from common.messages import Message
from common.stores.connection import Redis
from common.stores.keys import KeyBuilder


class Replies:
    """Per-process reply inboxes."""

    def __init__(self, redis: Redis, blocking: Redis, keys: KeyBuilder, ttl_s: int) -> None:
        self._redis = redis
        # Blocking reads use a client of their own, without retries that would restart them.
        self._blocking = blocking
        self._keys = keys
        self.ttl_s = ttl_s

    def new_inbox(self) -> str:
        """Mint the inbox key of a new waiting process."""
        return self._keys.key("reply", new_id())

    def add_push(self, pipe: Redis, inbox: str, message: Message) -> None:
        """Queue an answer on a pipeline (sync or asyncio): the one place replies are written."""
        pipe.rpush(inbox, message.encode())
        pipe.expire(inbox, self.ttl_s)

    def push(self, inbox: str, message: Message) -> None:
        """Answer now."""
        pipe = self._redis.pipeline(transaction=False)
        self.add_push(pipe, inbox, message)
        pipe.execute()

    def take(self, inbox: str, *, timeout_s: float, most: int) -> list[str]:
        """Block until answers arrive (one BLMPOP: no polling); return up to `most` of them."""
        found = self._blocking.blmpop(timeout_s, 1, inbox, direction="LEFT", count=most)
        return [] if found is None else list(found[1])
