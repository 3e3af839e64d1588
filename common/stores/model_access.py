"""When each model was last used, and which models have an idle TTL (deploy_setting)."""

from __future__ import annotations

from common.stores.connection import Redis
from common.stores.keys import KeyBuilder


class ModelAccess:
    """`<prefix>:model_access` (id -> last predict, epoch ms) and `<prefix>:model_ttl`
    (id -> model_ttl_minutes, for the models that have one)."""

    def __init__(self, redis: Redis, keys: KeyBuilder) -> None:
        self._redis = redis
        self._access = keys.key("model_access")
        self._ttl = keys.key("model_ttl")

    def touch_many(self, last_used: dict[str, int]) -> None:
        """Record last-use times; an older time never replaces a newer one (several API
        processes flush their own views at different moments)."""
        if not last_used:
            return
        current = self._redis.hmget(self._access, list(last_used))
        newer = {
            model_id: stamp
            for (model_id, stamp), known in zip(last_used.items(), current, strict=True)
            if known is None or int(known) < stamp
        }
        if newer:
            self._redis.hset(self._access, mapping=newer)

    def last_used(self, model_id: str) -> int | None:
        """Return when a model last served a predict, if it ever did."""
        raw = self._redis.hget(self._access, model_id)
        return None if raw is None else int(raw)

    def set_ttl(self, model_id: str, minutes: int | None) -> None:
        """Track a model's idle TTL; None or a value below 1 means it never expires."""
        if minutes is None or minutes < 1:
            self._redis.hdel(self._ttl, model_id)
        else:
            self._redis.hset(self._ttl, model_id, minutes)

    def ttls(self) -> dict[str, int]:
        """Return model id -> TTL minutes for every model that has one."""
        return {model_id: int(v) for model_id, v in self._redis.hgetall(self._ttl).items()}

    def forget(self, model_id: str) -> None:
        """Drop a deleted model's entries."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hdel(self._access, model_id)
        pipe.hdel(self._ttl, model_id)
        pipe.execute()

    def claim_sync_up(self, interval_s: int) -> bool:
        """Let one sync-up run per interval, however many beats tick (SET NX with expiry)."""
        return bool(self._redis.set(self._access + ":sync_up", 1, nx=True, ex=interval_s))
