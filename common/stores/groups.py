"""Model group names (unique per cluster) and their version counters."""

from __future__ import annotations

from common.stores.connection import Redis
from common.stores.keys import KeyBuilder


class GroupNames:
    """`<prefix>:model_group:names` (name -> id) and `<prefix>:model_group:<id>:latest_version`."""

    def __init__(self, redis: Redis, keys: KeyBuilder) -> None:
        self._redis = redis
        self._names = keys.key("model_group", "names")
        self._keys = keys

    def _version_key(self, group_id: str) -> str:
        return self._keys.key("model_group", group_id, "latest_version")

    def claim(self, name: str, group_id: str) -> str | None:
        """Reserve a name; return the id already holding it, or None if now claimed."""
        if self._redis.hsetnx(self._names, name, group_id):
            return None
        return self.id_for(name)

    def id_for(self, name: str) -> str | None:
        """Return the id of the model group with this exact name."""
        found = self._redis.hget(self._names, name)
        return None if found is None else str(found)

    def release(self, name: str) -> None:
        """Free a name."""
        self._redis.hdel(self._names, name)

    def next_version(self, group_id: str) -> int:
        """Atomically take the next model version number of a group."""
        return int(self._redis.incr(self._version_key(group_id)))

    def version(self, group_id: str) -> int:
        """Return the latest version number taken in a group."""
        return int(self._redis.get(self._version_key(group_id)) or 0)
