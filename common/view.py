"""A per-process view of what every request reads: model records, cluster settings, nodes.

Reads are served from memory. Every write of those records publishes what changed on one
channel (common/stores/changes.py); a subscriber thread drops the changed entries, so a
change reaches every process within milliseconds. The subscription uses a client that does
not retry, so a lost connection is seen: the view is emptied and nothing is cached until it
is back. Entries also expire after max_age_s, a last bound on staleness.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from common.cluster_settings import ClusterSettings, effective
from common.records import Controller, MLModel, ModelGroup, Node
from common.store import Store
from common.stores.connection import Redis

log = logging.getLogger(__name__)
T = TypeVar("T")
SETTINGS = "settings"
NODES = "nodes"


class ClusterView:
    """Cached reads over a Store, invalidated by the store's change notifications."""

    def __init__(
        self, store: Store, *, subscriber: Redis | None = None, max_age_s: float = 300.0
    ) -> None:
        self._store = store
        self._subscriber = subscriber
        self._max_age_s = max_age_s
        self._entries: dict[str, tuple[Any, float]] = {}
        self._epoch = 0
        self._live = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def model(self, model_id: str) -> MLModel | None:
        """Return a model record (None when absent; absence is not cached)."""
        return self._cached(f"model:{model_id}", lambda: self._store.models.get(model_id))

    def model_group(self, group_id: str) -> ModelGroup | None:
        """Return a model group record (access checks on predict read it from here)."""
        return self._cached(
            f"model_group:{group_id}", lambda: self._store.model_groups.get(group_id)
        )

    def controller(self, model_id: str) -> Controller | None:
        """Return a model's controller (per-user rate limiters), None when it has none."""
        return self._cached(f"controller:{model_id}", lambda: self._store.controllers.get(model_id))

    def cluster(self) -> ClusterSettings:
        """Return the effective cluster settings."""
        return self._cached(SETTINGS, lambda: effective(*self._store.cluster_settings.read()))

    def nodes(self) -> list[Node]:
        """Return the node table (liveness is judged by the caller against the clock)."""
        return self._cached(NODES, self._store.nodes.all)

    def _cached(self, key: str, load: Callable[[], T | None]) -> T:
        self._ensure_subscribed()
        entry = self._entries.get(key)
        now = time.monotonic()
        if entry is not None and now - entry[1] < self._max_age_s:
            return entry[0]  # type: ignore[no-any-return]
        epoch = self._epoch
        value = load()
        with self._lock:
            # A change notified while we read may be newer than what we read: don't keep it.
            if self._live and epoch == self._epoch and value is not None:
                self._entries[key] = (value, now)
        return value  # type: ignore[return-value]

    def drop(self, key: str) -> None:
        """Forget one entry (a change was notified)."""
        with self._lock:
            self._epoch += 1
            self._entries.pop(key, None)

    def _apply(self, key: str) -> None:
        """Drop what changed; a model is read again at once, so requests never find it cold."""
        self.drop(key)
        kind, _, model_id = key.partition(":")
        if kind != "model":
            return
        epoch = self._epoch
        model = self._store.models.get(model_id)
        with self._lock:
            if model is not None and epoch == self._epoch:
                self._entries[key] = (model, time.monotonic())

    def _preload_models(self) -> None:
        # Every model in one read (SMEMBERS + MGET), so no request meets a cold entry; changes
        # made while this runs wait in the subscription and are applied right after.
        now = time.monotonic()
        models = self._store.models.all()
        with self._lock:
            for model_id, model in models:
                self._entries.setdefault(f"model:{model_id}", (model, now))

    def _reset(self, *, live: bool) -> None:
        with self._lock:
            self._epoch += 1
            self._entries.clear()
            self._live = live

    def _ensure_subscribed(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="view", daemon=True)
                self._thread.start()

    def _listen(self) -> None:
        while True:
            try:
                self._follow_changes()
            except (redis.ConnectionError, redis.TimeoutError) as error:
                log.warning("change notifications unavailable: %s", error)
            self._reset(live=False)
            time.sleep(0.2)

    def _follow_changes(self) -> None:
        with self._store.changes.subscribe(self._subscriber) as subscription:
            self._reset(live=True)  # anything read before the subscription may be stale
            self._preload_models()
            for key in subscription:
                self._apply(key)
