"""Which nodes hold which models, and each node's outcome of a multi-node deploy task."""

from __future__ import annotations

import json
from collections.abc import Iterable

from redis.lock import Lock

from common.stores.connection import Redis
from common.stores.keys import KeyBuilder

RESULTS_TTL_S = 7 * 24 * 3600
# A lifecycle step holds a model's lock for a few Redis calls; the timeout only frees the lock
# of a process that died holding it, and the wait bounds how long a caller queues behind others.
LOCK_TIMEOUT_S = 10.0
LOCK_WAIT_S = 15.0


class Deployments:
    """`<prefix>:model:<id>:nodes`, `...:auto_deploy` and `<prefix>:task:<id>:nodes`."""

    def __init__(self, redis: Redis, keys: KeyBuilder) -> None:
        self._redis = redis
        self._keys = keys

    def claim_auto_deploy(self, model_id: str, ttl_s: int) -> bool:
        """Let one of many concurrent first predicts start the auto-deploy."""
        key = self._keys.key("model", model_id, "auto_deploy")
        return bool(self._redis.set(key, 1, nx=True, ex=ttl_s))

    def lifecycle_lock(self, model_id: str) -> Lock:
        """The lock that orders one model's deploy plans, node commits, undeploys and settles."""
        return Lock(
            self._redis,
            self._keys.key("model", model_id, "lifecycle"),
            timeout=LOCK_TIMEOUT_S,
            blocking_timeout=LOCK_WAIT_S,
        )

    def epoch(self, model_id: str) -> int:
        """How many times the model has been undeployed: a deploy planned in an older epoch
        was overtaken by an undeploy and must not make a node hold the model."""
        return int(self._redis.get(self._keys.key("model", model_id, "epoch")) or 0)

    def next_epoch(self, model_id: str) -> int:
        """Start a new epoch (on undeploy); return it."""
        return int(self._redis.incr(self._keys.key("model", model_id, "epoch")))

    def remember_epoch(self, task_id: str, epoch: int) -> None:
        """Note the epoch a deploy task was planned in, for whoever settles it."""
        self._redis.set(self._keys.key("task", task_id, "epoch"), epoch, ex=RESULTS_TTL_S)

    def task_epoch(self, task_id: str) -> int | None:
        """Return the epoch a deploy task was planned in (None for tasks of older versions)."""
        raw = self._redis.get(self._keys.key("task", task_id, "epoch"))
        return None if raw is None else int(raw)

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

    def holds(self, model_id: str, node_id: str) -> bool:
        """True when a node is recorded as holding a model."""
        return bool(self._redis.sismember(self._holders(model_id), node_id))

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
