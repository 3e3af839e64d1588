"""Change notifications: writers publish what changed; per-process views drop it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from common.stores.connection import Redis
from common.stores.keys import KeyBuilder

POLL_S = 1.0


class Changes:
    """`<prefix>:changes`: one pub/sub channel carrying keys such as `model:<id>`, `settings`."""

    def __init__(self, redis: Redis, keys: KeyBuilder) -> None:
        self._redis = redis
        self.channel = keys.key("changes")

    def add_publish(self, pipe: Redis, key: str) -> None:
        """Queue a notification on the pipeline that makes the change."""
        pipe.publish(self.channel, key)

    @contextmanager
    def subscribe(self, client: Redis | None = None) -> Iterator[Iterator[str]]:
        """Subscribe; yield the changed keys as they come (blocks; ends on a Redis error).

        Pass a client without automatic retries: a retried pub/sub connection resubscribes
        silently, and the subscriber would never learn that it missed notifications meanwhile.
        """
        pubsub = (client or self._redis).pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel)
            pubsub.get_message(timeout=POLL_S)  # the subscribe confirmation: now we are live
            yield self._keys(pubsub)
        finally:
            pubsub.close()

    @staticmethod
    def _keys(pubsub: Redis) -> Iterator[str]:
        while True:
            message = pubsub.get_message(timeout=POLL_S)
            if message is not None and message.get("type") == "message":
                yield str(message["data"])
