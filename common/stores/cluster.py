"""Cluster settings as stored: one hash per scope, JSON values."""

from __future__ import annotations

import json
from typing import Any

from common.stores.changes import Changes
from common.stores.connection import Redis
from common.stores.keys import KeyBuilder

SCOPES = ("persistent", "transient")


class ClusterSettingsStore:
    """`<prefix>:settings:persistent` and `<prefix>:settings:transient`."""

    def __init__(self, redis: Redis, keys: KeyBuilder, changes: Changes) -> None:
        self._redis = redis
        self._keys = keys
        self._changes = changes

    def key(self, scope: str) -> str:
        """Name the hash of one scope."""
        return self._keys.key("settings", scope)

    def add_read(self, pipe: Redis) -> None:
        """Queue the reads of both scopes on a pipeline (see decode)."""
        for scope in SCOPES:
            pipe.hgetall(self.key(scope))

    def read(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return the (persistent, transient) raw setting maps."""
        pipe = self._redis.pipeline(transaction=False)
        self.add_read(pipe)
        persistent, transient = pipe.execute()
        return decode_map(persistent), decode_map(transient)

    def write(self, scope: str, updates: dict[str, Any]) -> None:
        """Set (or, for None values, reset) settings in one scope."""
        key = self.key(scope)
        pipe = self._redis.pipeline(transaction=True)
        for name, value in updates.items():
            if value is None:
                pipe.hdel(key, name)
            else:
                pipe.hset(key, name, json.dumps(value))
        self._changes.add_publish(pipe, "settings")
        pipe.execute()


def decode_map(raw: dict[str, str]) -> dict[str, Any]:
    """Decode one scope's hash: setting values are free-form JSON."""
    return {name: json.loads(value) for name, value in raw.items()}
