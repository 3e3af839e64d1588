"""Nodes' published counters (ML Commons' stats and profile) and the API's throttle counts.

Counting happens in process memory; Redis only sees a summary now and then: each node writes
its counters once per heartbeat, and an API process adds up the predicts it refused with 429
and writes them in one pipeline at most once per THROTTLE_FLUSH_S. Everything here lives on
the memory-only queue server: counters are as transient as ML Commons' own, which restart at
zero with the node.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter

import msgspec
import redis

from common.stores.connection import Redis
from common.stores.keys import KeyBuilder

log = logging.getLogger(__name__)
THROTTLE_FLUSH_S = 1.0
COUNTERS_VERSION = 1


class ActionCount(msgspec.Struct, frozen=True, gc=False):
    """How often a node ran one action (register, deploy, predict) and how often it failed."""

    requests: int = 0
    failures: int = 0


class LatencySummary(msgspec.Struct, frozen=True, gc=False):
    """ML Commons' MLPredictRequestStats over a node's latest predicts of a model, in ms."""

    count: int
    max: float
    min: float
    average: float
    p50: float
    p90: float
    p99: float


class ModelCounters(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One node's predicts of one model: outcomes, and how long serving them took."""

    requests: int = 0
    failures: int = 0
    upstream_throttled: int = 0  # answered 429 by the remote model
    latency_sum_ms: float = 0.0
    latency_max_ms: float = 0.0
    recent: LatencySummary | None = None  # over the last predicts only (see workers/stats.py)


class NodeCounters(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What a node publishes with each heartbeat; `v` versions the layout."""

    v: int = COUNTERS_VERSION
    executing: int = 0
    actions: dict[str, ActionCount] = msgspec.field(default_factory=dict)
    models: dict[str, ModelCounters] = msgspec.field(default_factory=dict)
    rss_percent: int | None = None


class NodeStatsStore:
    """`<prefix>:stats:node:<node id>` (a node's NodeCounters as JSON, expiring with the
    node) and `<prefix>:stats:throttled` (model id -> predicts refused by its rate limiter)."""

    def __init__(self, redis_client: Redis, keys: KeyBuilder) -> None:
        self._redis = redis_client
        self._keys = keys
        self._throttled_key = keys.key("stats", "throttled")
        self._pending: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._flush_timer: threading.Timer | None = None

    def _node_key(self, node_id: str) -> str:
        return self._keys.key("stats", "node", node_id)

    def publish(self, node_id: str, counters: NodeCounters, *, ttl_s: float) -> None:
        """Write a node's counters; they vanish with a node that stops beating."""
        payload = msgspec.json.encode(counters)
        self._redis.set(self._node_key(node_id), payload, ex=max(1, math.ceil(ttl_s)))

    def read(self, node_ids: list[str]) -> dict[str, NodeCounters]:
        """Return the published counters of these nodes (absent: none published yet)."""
        if not node_ids:
            return {}
        raws = self._redis.mget([self._node_key(node_id) for node_id in node_ids])
        found: dict[str, NodeCounters] = {}
        for node_id, raw in zip(node_ids, raws, strict=True):
            counters = _decode(raw) if raw else None
            if counters is not None:
                found[node_id] = counters
        return found

    def count_throttle(self, model_id: str) -> None:
        """Count one predict refused by the model's rate limiter; written within a second.

        Costs no round trip: a refusal storm must not double the load Redis already takes
        for the rate limiter itself.
        """
        with self._lock:
            self._pending[model_id] += 1
            if self._flush_timer is None:
                self._flush_timer = threading.Timer(THROTTLE_FLUSH_S, self.flush_throttles)
                self._flush_timer.daemon = True
                self._flush_timer.start()

    def flush_throttles(self) -> None:
        """Add the counted refusals to the shared totals in one pipeline."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
            self._flush_timer = None
        if not pending:
            return
        pipe = self._redis.pipeline(transaction=False)
        for model_id, count in pending.items():
            pipe.hincrby(self._throttled_key, model_id, count)
        try:
            pipe.execute()
        except redis.RedisError as error:
            log.warning("could not write %d throttle counts: %s", len(pending), error)

    def throttles(self) -> dict[str, int]:
        """Return model id -> predicts refused with 429 by its rate limiter, cluster-wide."""
        raw = self._redis.hgetall(self._throttled_key)
        return {model_id: int(count) for model_id, count in sorted(raw.items())}


def _decode(raw: str) -> NodeCounters | None:
    try:
        counters = msgspec.json.decode(raw, type=NodeCounters)
    except msgspec.DecodeError:  # ValidationError included
        return None  # written by a node of another version: treated as nothing published
    return counters if counters.v == COUNTERS_VERSION else None
