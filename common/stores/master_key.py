"""The cluster's credential master key, created once on first start."""

from __future__ import annotations

from common.stores.connection import Redis
from common.stores.keys import KeyBuilder


class MasterKeyStore:
    """`<prefix>:config:master_key`."""

    def __init__(self, redis: Redis, keys: KeyBuilder) -> None:
        self._redis = redis
        self._key = keys.key("config", "master_key")

    def get_or_create(self, new_key: str) -> str:
        """Return the persisted master key, storing new_key if this is the first start."""
        self._redis.set(self._key, new_key, nx=True)
        return str(self._redis.get(self._key))
