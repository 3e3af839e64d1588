"""Behaviour knobs of one mock-upstream server, and the app keys handlers read them from."""

from __future__ import annotations

import random
from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class MockConfig:
    """Behaviour knobs of one mock-upstream server."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    seed: int = 0
    aws_access_key: str = "AKIAMOCKUPSTREAM"
    aws_secret_key: str = "mock-secret-key"
    embedding_dim: int = 1536

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if self.embedding_dim < 1:
            raise ValueError("embedding_dim must be >= 1")


CONFIG_KEY = web.AppKey("mock_upstream_config", MockConfig)
ERROR_RNG_KEY = web.AppKey("mock_upstream_error_rng", random.Random)
