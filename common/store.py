"""Redis layout: every key is built here, and records are read and written through Store."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from common.errors import NotFoundError

Doc = dict[str, Any]

CONNECTOR = "connector"
MODEL = "model"
MODEL_GROUP = "model_group"
TASK = "task"


def now_ms() -> int:
    """Return the wall clock in epoch milliseconds, the unit ML Commons records use."""
    return int(time.time() * 1000)


RETRY_ON = [redis.ConnectionError, redis.TimeoutError]


def retry_policy() -> Retry:
    """Retry for up to about ten seconds: long enough to ride out a Redis restart."""
    return Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=15)


def connect(url: str) -> redis.Redis:
    """Open a client that retries through a short Redis restart instead of failing at once."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        retry=retry_policy(),
        retry_on_error=RETRY_ON,
        health_check_interval=30,
    )


def connect_for_blocking(url: str) -> redis.Redis:
    """Open a client without automatic retries, for blocking waits that track their deadline."""
    return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)


class Store:
    """Typed access to modelgate's records in one Redis database, under one key prefix."""

    def __init__(
        self, client: redis.Redis, key_prefix: str = "mg", blocking: redis.Redis | None = None
    ) -> None:
        # Typed Any: redis-py's annotations say bytes | str for every reply, as they cannot see
        # decode_responses=True; with it, every reply here is str.
        self.redis: Any = client
        self.prefix = key_prefix
        # A retried BLPOP would restart its full timeout; blocking waits use their own client.
        self.blocking: Any = blocking or client

    def key(self, *parts: str) -> str:
        """Build a key: the only place key names are spelled."""
        return ":".join((self.prefix, *parts))

    # records
    def get(self, kind: str, record_id: str) -> Doc | None:
        """Return one record, or None when absent."""
        raw = self.redis.get(self.key(kind, record_id))
        return None if raw is None else dict(json.loads(raw))

    def require(self, kind: str, record_id: str, message: str) -> Doc:
        """Return one record or raise NotFoundError with the ML Commons message."""
        doc = self.get(kind, record_id)
        if doc is None:
            raise NotFoundError(message)
        return doc

    def put(self, kind: str, record_id: str, doc: Doc) -> None:
        """Write one record and index its id."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.key(kind, record_id), json.dumps(doc))
        pipe.sadd(self.key(kind, "ids"), record_id)
        pipe.execute()

    def update(self, kind: str, record_id: str, change: Callable[[Doc], Doc | None]) -> Doc:
        """Apply change() to a record atomically (optimistic WATCH/MULTI), returning the result.

        change() may return None to leave the record as it is.
        """
        key = self.key(kind, record_id)
        result: Doc = {}

        def attempt(pipe: redis.client.Pipeline) -> None:
            raw = pipe.get(key)
            if raw is None:
                raise NotFoundError(f"Failed to find {kind} {record_id}")
            current = dict(json.loads(raw))
            changed = change(current)
            pipe.multi()
            if changed is not None:
                pipe.set(key, json.dumps(changed))
            result.clear()
            result.update(changed if changed is not None else current)

        self.redis.transaction(attempt, key)
        return result

    def delete(self, kind: str, record_id: str) -> bool:
        """Delete one record; True when it existed."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.key(kind, record_id))
        pipe.srem(self.key(kind, "ids"), record_id)
        return bool(pipe.execute()[0])

    def all(self, kind: str) -> list[tuple[str, Doc]]:
        """Return every record of a kind with its id, oldest first."""
        ids = sorted(self.redis.smembers(self.key(kind, "ids")))
        if not ids:
            return []
        raws = self.redis.mget([self.key(kind, i) for i in ids])
        pairs = [(i, dict(json.loads(r))) for i, r in zip(ids, raws, strict=True) if r]
        return sorted(pairs, key=lambda pair: pair[1].get("created_time", 0))

    def predict_context(
        self, model_id: str
    ) -> tuple[Doc | None, dict[str, Any], dict[str, Any], list[Doc]]:
        """Read a model, both setting scopes and the node table in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.key(MODEL, model_id))
        pipe.hgetall(self.key("settings", "persistent"))
        pipe.hgetall(self.key("settings", "transient"))
        pipe.hgetall(self.key("nodes"))
        raw_model, persistent, transient, nodes = pipe.execute()
        model = None if raw_model is None else dict(json.loads(raw_model))
        return model, _decode_map(persistent), _decode_map(transient), _decode_nodes(nodes)

    # model groups
    def claim_group_name(self, name: str, group_id: str) -> str | None:
        """Reserve a model group name; return the id already holding it, or None if claimed."""
        names = self.key(MODEL_GROUP, "names")
        if self.redis.hsetnx(names, name, group_id):
            return None
        return self.group_id_for_name(name)

    def group_id_for_name(self, name: str) -> str | None:
        """Return the id of the model group with this exact name."""
        found = self.redis.hget(self.key(MODEL_GROUP, "names"), name)
        return None if found is None else str(found)

    def release_group_name(self, name: str) -> None:
        """Free a model group name."""
        self.redis.hdel(self.key(MODEL_GROUP, "names"), name)

    def next_group_version(self, group_id: str) -> int:
        """Atomically take the next model version number of a group."""
        return int(self.redis.incr(self.key(MODEL_GROUP, group_id, "latest_version")))

    def group_version(self, group_id: str) -> int:
        """Return the latest version number taken in a group."""
        return int(self.redis.get(self.key(MODEL_GROUP, group_id, "latest_version")) or 0)

    # cluster settings
    def read_cluster_settings(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return the (persistent, transient) raw setting maps."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self.key("settings", "persistent"))
        pipe.hgetall(self.key("settings", "transient"))
        persistent, transient = pipe.execute()
        return _decode_map(persistent), _decode_map(transient)

    def write_cluster_settings(self, scope: str, updates: dict[str, Any]) -> None:
        """Set (or, for None values, reset) cluster settings in one scope."""
        key = self.key("settings", scope)
        pipe = self.redis.pipeline(transaction=True)
        for name, value in updates.items():
            if value is None:
                pipe.hdel(key, name)
            else:
                pipe.hset(key, name, json.dumps(value))
        pipe.execute()

    # nodes
    def node_id_for(self, name: str, new_id: str) -> str:
        """Return the stable node id of a node name, minting new_id on first sight."""
        ids = self.key("node_ids")
        self.redis.hsetnx(ids, name, new_id)
        return str(self.redis.hget(ids, name))

    def beat(self, node: Doc) -> None:
        """Record a node's heartbeat."""
        self.redis.hset(self.key("nodes"), node["id"], json.dumps(node))

    def forget_node(self, node_id: str) -> None:
        """Remove a node that is shutting down."""
        self.redis.hdel(self.key("nodes"), node_id)

    def nodes(self) -> list[Doc]:
        """Return every node that has announced itself, alive or not."""
        return _decode_nodes(self.redis.hgetall(self.key("nodes")))

    # deployments
    def claim_auto_deploy(self, model_id: str, ttl_s: int) -> bool:
        """Let one of many concurrent first predicts start the auto-deploy."""
        return bool(self.redis.set(self.key(MODEL, model_id, "auto_deploy"), 1, nx=True, ex=ttl_s))

    def add_model_node(self, model_id: str, node_id: str) -> None:
        """Remember that a node holds a deployed model."""
        self.redis.sadd(self.key(MODEL, model_id, "nodes"), node_id)

    def remove_model_nodes(self, model_id: str, node_ids: Iterable[str]) -> None:
        """Forget that these nodes hold a model."""
        ids = list(node_ids)
        if ids:
            self.redis.srem(self.key(MODEL, model_id, "nodes"), *ids)

    def model_nodes(self, model_id: str) -> set[str]:
        """Return the nodes holding a model."""
        return set(self.redis.smembers(self.key(MODEL, model_id, "nodes")))

    def record_node_result(self, task_id: str, node_id: str, error: str | None) -> int:
        """Record one node's outcome of a multi-node task; return how many nodes have reported."""
        key = self.key(TASK, task_id, "nodes")
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(key, node_id, json.dumps(error))
        pipe.hlen(key)
        pipe.expire(key, 7 * 24 * 3600)
        added, count, _ = pipe.execute()
        # Only the write that adds a new field may complete the task: -1 marks a duplicate.
        return int(count) if added else -1

    def node_results(self, task_id: str) -> dict[str, str | None]:
        """Return node id -> error (None for success) for a multi-node task."""
        raw = self.redis.hgetall(self.key(TASK, task_id, "nodes"))
        return {node: json.loads(value) for node, value in raw.items()}

    def mark_active(self, task_id: str) -> None:
        """Track a task that has not reached a final state."""
        self.redis.zadd(self.key(TASK, "active"), {task_id: time.time()})

    def mark_done(self, task_id: str) -> None:
        """Stop tracking a task that reached a final state."""
        self.redis.zrem(self.key(TASK, "active"), task_id)

    def active_tasks(self, older_than_s: float) -> list[str]:
        """Return unfinished tasks created more than older_than_s seconds ago."""
        limit = time.time() - older_than_s
        return list(self.redis.zrangebyscore(self.key(TASK, "active"), "-inf", limit))

    # predict queue
    def predict_queue(self, queue: str) -> str:
        """Name the list predict requests for one queue wait on."""
        return self.key("predict", queue)

    def inflight(self, node_id: str) -> str:
        """Name the list holding the predict requests a node has taken but not answered."""
        return self.key("predict", "inflight", node_id)

    def push_predict(self, queue: str, payload: str) -> None:
        """Enqueue one predict request (consumers take from the other end: FIFO)."""
        self.redis.lpush(self.predict_queue(queue), payload)

    def requeue_inflight(self, node_id: str) -> int:
        """Put a dead node's unanswered requests back at the head of their queues."""
        script = self.redis.register_script(_REQUEUE_LUA)
        moved = 0
        for raw in self.redis.lrange(self.inflight(node_id), 0, -1):
            queue = self.predict_queue(str(json.loads(raw)["queue"]))
            moved += int(script(keys=[self.inflight(node_id), queue], args=[raw]))
        return moved

    def known_node_ids(self) -> list[str]:
        """Return the id of every node name ever seen."""
        return list(self.redis.hvals(self.key("node_ids")))

    # predict replies
    def reply_key(self, request_id: str) -> str:
        """Name the list a worker answers one predict request on."""
        return self.key("reply", request_id)

    def push_reply(self, reply_key: str, payload: Doc, ttl_s: int) -> None:
        """Answer a waiting API thread; the TTL drops answers nobody waits for any more."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(reply_key, json.dumps(payload))
        pipe.expire(reply_key, ttl_s)
        pipe.execute()

    def wait_reply(self, reply_key: str, timeout_s: float) -> Doc | None:
        """Block until a worker answers (BLPOP: no polling), or None once timeout_s has passed."""
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                item = self.blocking.blpop([reply_key], timeout=max(remaining, 0.01))
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(min(0.2, max(remaining, 0)))  # Redis restarting: wait, then retry
                continue
            return None if item is None else dict(json.loads(item[1]))
        return None

    # master key
    def master_key(self, new_key: str) -> str:
        """Return the persisted master key, storing new_key if this is the first start."""
        key = self.key("config", "master_key")
        self.redis.set(key, new_key, nx=True)
        return str(self.redis.get(key))


# Remove one request from a node's in-flight list and, only if it was still there, requeue it:
# two sweepers racing over the same dead node can never deliver a request twice.
_REQUEUE_LUA = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


def _decode_map(raw: dict[str, str]) -> dict[str, Any]:
    return {name: json.loads(value) for name, value in raw.items()}


def _decode_nodes(raw: dict[str, str]) -> list[Doc]:
    return sorted((dict(json.loads(v)) for v in raw.values()), key=lambda n: str(n["name"]))
