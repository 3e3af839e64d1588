"""Per-process worker state: store, cipher, HTTP client, model cache and node identity."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from celery import Celery

from common.crypto import CredentialCipher
from common.keyring import open_cipher
from common.settings import Settings
from common.store import Store, open_store
from workers.metrics import NodeMetrics
from workers.model_cache import ModelCache
from workers.remote.http import HttpClient
from workers.remote.offload import Shaper
from workers.stats import NodeStats


@dataclass(frozen=True)
class NodeIdentity:
    """Who this worker process is in the cluster."""

    id: str
    name: str
    role: str


@dataclass
class Runtime:
    """Everything a job needs, built once per worker process."""

    settings: Settings
    celery: Celery
    node: NodeIdentity
    store: Store
    cache: ModelCache = field(default_factory=ModelCache)
    _cipher: CredentialCipher | None = None
    _http: HttpClient | None = None
    shaper: Shaper = field(default_factory=Shaper)
    stats: NodeStats = field(default_factory=NodeStats)  # for the stats and profile APIs
    metrics: NodeMetrics = field(default_factory=NodeMetrics)  # Prometheus; no-op when off
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, settings: Settings, celery: Celery, node: NodeIdentity) -> Runtime:
        """Create the runtime; connections open lazily on first use."""
        return cls(settings=settings, celery=celery, node=node, store=open_store(settings))

    @property
    def cipher(self) -> CredentialCipher:
        """The credential cipher over the master key file or MODELGATE_MASTER_KEY."""
        with self._lock:
            if self._cipher is None:
                self._cipher = open_cipher(self.settings, self.store.master_key)
            return self._cipher

    @property
    def http(self) -> HttpClient:
        """The process's single HTTP client, started on first use."""
        with self._lock:
            if self._http is None:
                self._http = HttpClient()
            return self._http

    def close(self) -> None:
        """Close the HTTP client and the shaping child."""
        if self._http is not None:
            self._http.close()
        self.shaper.close()


_current: list[Runtime] = []


def install(runtime: Runtime) -> None:
    """Make runtime the one the Celery tasks of this process use."""
    _current[:] = [runtime]


def current() -> Runtime:
    """Return the installed runtime."""
    if not _current:
        raise RuntimeError(
            "worker runtime not installed: start nodes with `modelgate worker` or "
            "`celery -A workers.celery_app worker`"
        )
    return _current[0]
