"""Which nodes hold which models, and each node's outcome of a multi-node deploy task."""

from __future__ import annotations

import json
from collections.abc import Iterable

from common.stores.connection import Redis
from common.stores.keys import KeyBuilder

RESULTS_TTL_S = 7 * 24 * 3600


class Deployments:
    """`<prefix>:model:<id>:nodes`, `...:auto_deploy` and `<prefix>:task:<id>:nodes`."""

    def __init__(self, redis: Redis, keys: KeyBuilder) -> None:
        self._redis = redis
        self._keys = keys

    def claim_auto_deploy(self, model_id: str, ttl_s: int) -> bool:
        """Let one of many concurrent first predicts start the auto-deploy."""
        key = self._keys.key("model", model_id, "auto_deploy")
        return bool(self._redis.set(key, 1, nx=True, ex=ttl_s))

    def _holders(self, model_id: str) -> str:
        return self._keys.key("model", model_id, "nodes")

    def add_holder(self, model_id: str, node_id: str) -> None:
        """Remember that a node holds a deployed model."""
        self._redis.sadd(self._holders(model_id), node_id)

    def remove_holders(self, model_id: str, node_ids: Iterable[str]) -> None:
        """Forget that these nodes hold a model."""
        ids = list(node_ids)
        if ids:
            self._redis.srem(self._holders(model_id), *ids)

    def holders(self, model_id: str) -> set[str]:
        """Return the nodes holding a model."""
        return set(self._redis.smembers(self._holders(model_id)))

    def _results(self, task_id: str) -> str:
        return self._keys.key("task", task_id, "nodes")

    def record_result(self, task_id: str, node_id: str, error: str | None) -> int:
        """Record one node's outcome of a task; return how many nodes have reported, or -1."""
        key = self._results(task_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hsetnx(key, node_id, json.dumps(error))
        pipe.hlen(key)
        pipe.expire(key, RESULTS_TTL_S)
        added, count, _ = pipe.execute()
        # Only the write that adds a new field may complete the task: -1 marks a duplicate.
        return int(count) if added else -1

    def results(self, task_id: str) -> dict[str, str | None]:
        """Return node id -> error (None for success) for a multi-node task."""
        raw = self._redis.hgetall(self._results(task_id))
        return {node: _error_text(value) for node, value in raw.items()}


def _error_text(raw: str) -> str | None:
    value = json.loads(raw)
    return None if value is None else str(value)
