"""This node's counters for ML Commons' stats and profile APIs, kept in process memory.

The predict path pays one uncontended lock per predict and no Redis round trip: the heartbeat
thread takes a snapshot each beat (workers/heartbeat.py) and publishes it in one write.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis
from msgspec import structs

from common.messages import ErrorInfo
from common.stores.node_stats import ActionCount, LatencySummary, ModelCounters, NodeCounters

# ML Commons' profile summarises each model's latest predicts only
# (plugins.ml_commons.monitoring_request_count, default 100).
RECENT_PREDICTS = 100
REGISTER, DEPLOY, PREDICT = "register", "deploy", "predict"
# A container's memory limit: cgroup v2, then v1 (whose "no limit" is a huge number).
CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


class _ModelCounts:
    __slots__ = ("failures", "max_ms", "recent", "requests", "sum_ms", "upstream_throttled")

    def __init__(self) -> None:
        self.requests = 0
        self.failures = 0
        self.upstream_throttled = 0
        self.sum_ms = 0.0
        self.max_ms = 0.0
        self.recent: deque[float] = deque(maxlen=RECENT_PREDICTS)

    def add(self, ms: float, error: ErrorInfo | None) -> None:
        self.requests += 1
        if error is not None:
            self.failures += 1
            self.upstream_throttled += error.status == 429
        self.sum_ms += ms
        if ms > self.max_ms:
            self.max_ms = ms
        self.recent.append(ms)


class NodeStats:
    """Counters of one node: actions run and failed, predicts per model, jobs executing.

    Predicts are served on the process's one event loop thread, the only writer of the
    predict counters; the lock only keeps the heartbeat's snapshot from reading a model
    table being added to. The predict action's totals are the sum over the models.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._actions: dict[str, list[int]] = {}  # job action -> [requests, failures]
        self._models: dict[str, _ModelCounts] = {}
        self._jobs_running = 0
        self._predicts_running = 0

    def predict_started(self) -> None:
        """Note a predict now being served (from the event loop thread only)."""
        self._predicts_running += 1  # one writer: no lock needed

    def predict_finished(self, model_id: str, seconds: float, error: ErrorInfo | None) -> None:
        """Count a served predict (from the event loop thread only): error and duration."""
        with self._lock:
            self._predicts_running -= 1
            counts = self._models.get(model_id)
            if counts is None:
                counts = self._models[model_id] = _ModelCounts()
            counts.add(seconds * 1000.0, error)

    @contextmanager
    def job(self, action: str, failed: Callable[[], bool]) -> Iterator[None]:
        """Count a lifecycle job run in the block: it failed if it raised or `failed()` says so."""
        with self._lock:
            self._jobs_running += 1
        outcome = True
        try:
            yield
            outcome = _safely(failed)
        finally:
            with self._lock:
                self._jobs_running -= 1
                counts = self._actions.setdefault(action, [0, 0])
                counts[0] += 1
                counts[1] += outcome

    def snapshot(self, rss_percent: int | None = None) -> NodeCounters:
        """Return the counters as published; summaries are computed outside the lock."""
        with self._lock:
            executing = self._jobs_running + self._predicts_running
            actions = {name: ActionCount(*counts) for name, counts in self._actions.items()}
            models = [(model_id, _copy(counts)) for model_id, counts in self._models.items()]
        if models:
            requests = sum(totals.requests for _, (totals, _) in models)
            failures = sum(totals.failures for _, (totals, _) in models)
            actions[PREDICT] = ActionCount(requests, failures)
        return NodeCounters(
            executing=executing,
            actions=dict(sorted(actions.items())),
            models={model_id: _published(counts, recent) for model_id, (counts, recent) in models},
            rss_percent=rss_percent,
        )


def _safely(failed: Callable[[], bool]) -> bool:
    # Looking up the outcome (a Redis read) must never fail the job it describes.
    try:
        return failed()
    except redis.RedisError:
        return False


def _copy(counts: _ModelCounts) -> tuple[ModelCounters, list[float]]:
    totals = ModelCounters(
        requests=counts.requests,
        failures=counts.failures,
        upstream_throttled=counts.upstream_throttled,
        latency_sum_ms=round(counts.sum_ms, 3),
        latency_max_ms=round(counts.max_ms, 3),
    )
    return totals, list(counts.recent)


def _published(totals: ModelCounters, recent: list[float]) -> ModelCounters:
    return structs.replace(totals, recent=summarize(recent)) if recent else totals


def summarize(samples: list[float]) -> LatencySummary:
    """Summarise durations as ML Commons does (percentiles interpolated, as Guava computes)."""
    ordered = sorted(samples)
    return LatencySummary(
        count=len(ordered),
        max=round(ordered[-1], 3),
        min=round(ordered[0], 3),
        average=round(sum(ordered) / len(ordered), 3),
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p99=percentile(ordered, 99),
    )


def percentile(ordered: list[float], pct: float) -> float:
    """The pct-th percentile of sorted samples, interpolated between the nearest two."""
    position = (len(ordered) - 1) * pct / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return round(value, 3)


def rss_percent() -> int | None:
    """This process's resident memory as a percentage of what it may use, or None off Linux.

    Stands in for ML Commons' ml_jvm_heap_usage (the JVM heap's percentage in use): a node's
    memory is its process's, bounded by the container's limit when there is one, else by the
    machine's memory.
    """
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
    limit = min(available, _cgroup_limit() or available)
    return round(100 * resident / limit) if limit > 0 else None


def _cgroup_limit() -> int | None:
    for path in CGROUP_LIMITS:
        try:
            with open(path, encoding="ascii") as limit:
                return int(limit.read().strip())
        except (OSError, ValueError):  # absent, or "max": no limit there
            continue
    return None
