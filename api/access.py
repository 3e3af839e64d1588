"""Each API process notes when it last sent a model a predict, and flushes that to Redis
every few seconds: a model's last use stays current for TTL expiry without a write per
predict (workers/sync_up.py reads it)."""

from __future__ import annotations

import logging
import threading
import time

import redis

from common.records import now_ms
from common.stores.model_access import ModelAccess

log = logging.getLogger(__name__)
FLUSH_INTERVAL_S = 5.0


class AccessClock:
    """Last-use times held in memory; a daemon thread, started on first use, flushes them."""

    def __init__(self, access: ModelAccess, interval_s: float = FLUSH_INTERVAL_S) -> None:
        self._access = access
        self._interval_s = interval_s
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def touch(self, model_id: str) -> None:
        """Note that a model is in use now (a dict write: no Redis call)."""
        self._pending[model_id] = now_ms()
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="access", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            time.sleep(self._interval_s)
            self.flush()

    def flush(self) -> None:
        """Write what was noted since the last flush (kept for the next one if Redis fails)."""
        noted, self._pending = self._pending, {}
        # A copy is taken in one step under the GIL; a touch racing the swap may land in
        # `noted` after it and wait for that model's next predict.
        batch = noted.copy()
        try:
            self._access.touch_many(batch)
        except redis.RedisError as error:
            log.warning("could not record model use: %s", error)
            for model_id, stamp in batch.items():
                self._pending.setdefault(model_id, stamp)
