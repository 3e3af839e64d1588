"""What Redis knows of the master keys: the current key's id, never a key.

`<prefix>:config:master_key_id` names the key new credentials are sealed under (every process
reads it before sealing, so a rotation switches the whole cluster at once), and
`<prefix>:config:key_rotation` is the lock one rotation holds. `<prefix>:config:master_key` is
where modelgate once kept the key itself: read only to move it into the key file, then deleted.
"""

from __future__ import annotations

import redis
from redis.lock import Lock

from common.stores.connection import Redis
from common.stores.keys import KeyBuilder

# Deletes the old key only if it still holds what the caller moved (never a key set since).
_DELETE_IF_EQUAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class MasterKeyStore:
    """The cluster's current key id, the rotation lock and the key once stored in Redis."""

    def __init__(self, redis_client: Redis, keys: KeyBuilder) -> None:
        self._redis = redis_client
        self._legacy = keys.key("config", "master_key")
        self._current = keys.key("config", "master_key_id")
        self._rotation = keys.key("config", "key_rotation")

    def current_id(self) -> str | None:
        """The id of the key new credentials are sealed under; None before the first."""
        found = self._redis.get(self._current)
        return None if found is None else str(found)

    def claim(self, kid: str) -> str:
        """Make kid current unless the cluster has a current key already; return the current."""
        self._redis.set(self._current, kid, nx=True)
        return str(self._redis.get(self._current))

    def set_current(self, kid: str) -> None:
        """Switch the cluster to sealing under kid (a rotation's first step)."""
        self._redis.set(self._current, kid)

    def legacy(self) -> str | None:
        """The master key an older modelgate kept in Redis, if it is still there."""
        found = self._redis.get(self._legacy)
        return None if found is None else str(found)

    def drop_legacy(self, moved: str) -> bool:
        """Delete the old key (if it is still `moved`) and have Redis rewrite its append-only
        file, whose history still holds the key; True when this call deleted it."""
        deleted = bool(self._redis.eval(_DELETE_IF_EQUAL, 1, self._legacy, moved))
        if deleted:
            try:
                self._redis.bgrewriteaof()
            except redis.ResponseError:
                pass  # a rewrite already running, or the command disabled on a managed Redis
        return deleted

    def rotation_lock(self, timeout_s: float) -> Lock:
        """The lock a rotation holds (and extends as it goes); it expires if the rotation dies."""
        return Lock(self._redis, self._rotation, timeout=timeout_s, blocking=False)
