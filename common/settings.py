"""Process settings: read once from the environment into a frozen Settings object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "MODELGATE_"


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be an integer, got {raw!r}") from None


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a modelgate process needs to know about its environment."""

    redis_url: str | None = None
    queue_redis_url: str | None = None  # predicts and replies; unset: the records' Redis
    data_dir: Path = field(default_factory=lambda: Path(".modelgate"))
    host: str = "127.0.0.1"
    port: int = 9200
    key_prefix: str = "mg"
    cluster_name: str = "modelgate"
    predict_timeout_s: float = 60.0
    heartbeat_interval_s: float = 2.0
    visibility_timeout_s: int = 300
    restore_interval_s: int = 10
    worker_concurrency: int = 128
    api_workers: int = 2
    api_threads: int = 32
    node_role: str = "ml"  # for `celery -A workers.celery_app worker` started without --role
    node_name: str = ""

    @property
    def node_ttl_s(self) -> float:
        """How long a node stays alive without a heartbeat."""
        return self.heartbeat_interval_s * 3 + 1

    @property
    def reply_ttl_s(self) -> int:
        """How long an answer waits on its reply list: past the deadline nobody reads it."""
        return int(self.predict_timeout_s) + 5

    def require_queue_redis_url(self) -> str:
        """Return the Redis that carries predict requests and replies (never persisted)."""
        return self.queue_redis_url or self.require_redis_url()

    def require_redis_url(self) -> str:
        """Return the Redis URL, failing clearly when none was configured."""
        if not self.redis_url:
            raise SettingsError(f"{PREFIX}REDIS_URL is not set")
        return self.redis_url

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build Settings from MODELGATE_* variables; the only reader of os.environ."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            redis_url=env.get(PREFIX + "REDIS_URL") or None,
            queue_redis_url=env.get(PREFIX + "QUEUE_REDIS_URL") or None,
            data_dir=Path(env.get(PREFIX + "DATA_DIR") or defaults.data_dir),
            host=env.get(PREFIX + "HOST") or defaults.host,
            port=_int(env, "PORT", defaults.port),
            key_prefix=env.get(PREFIX + "KEY_PREFIX") or defaults.key_prefix,
            cluster_name=env.get(PREFIX + "CLUSTER_NAME") or defaults.cluster_name,
            predict_timeout_s=_float(env, "PREDICT_TIMEOUT", defaults.predict_timeout_s),
            heartbeat_interval_s=_float(env, "HEARTBEAT_INTERVAL", defaults.heartbeat_interval_s),
            visibility_timeout_s=_int(env, "VISIBILITY_TIMEOUT", defaults.visibility_timeout_s),
            restore_interval_s=_int(env, "RESTORE_INTERVAL", defaults.restore_interval_s),
            worker_concurrency=_int(env, "WORKER_CONCURRENCY", defaults.worker_concurrency),
            api_workers=_int(env, "API_WORKERS", defaults.api_workers),
            api_threads=_int(env, "API_THREADS", defaults.api_threads),
            node_role=env.get(PREFIX + "NODE_ROLE") or defaults.node_role,
            node_name=env.get(PREFIX + "NODE_NAME") or defaults.node_name,
        )

    def to_env(self) -> dict[str, str]:
        """Render these settings as MODELGATE_* variables for a child process."""
        env = {
            "DATA_DIR": str(self.data_dir),
            "HOST": self.host,
            "PORT": str(self.port),
            "KEY_PREFIX": self.key_prefix,
            "CLUSTER_NAME": self.cluster_name,
            "PREDICT_TIMEOUT": str(self.predict_timeout_s),
            "HEARTBEAT_INTERVAL": str(self.heartbeat_interval_s),
            "VISIBILITY_TIMEOUT": str(self.visibility_timeout_s),
            "RESTORE_INTERVAL": str(self.restore_interval_s),
            "WORKER_CONCURRENCY": str(self.worker_concurrency),
            "API_WORKERS": str(self.api_workers),
            "API_THREADS": str(self.api_threads),
        }
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        if self.queue_redis_url:
            env["QUEUE_REDIS_URL"] = self.queue_redis_url
        return {PREFIX + key: value for key, value in env.items()}
