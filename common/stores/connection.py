"""Opening Redis clients: retries that ride out a restart, and the one untyped reply type."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

# redis-py annotates every reply as bytes | str, as it cannot see decode_responses=True; with
# it every reply here is str. Clients are typed Any at this boundary, and each store module
# turns replies into typed values at once.
Redis = Any

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


def connect_queue(url: str) -> redis.Redis:
    """Open a client for the predict queue server: fail in a fraction of a second, not ten.

    Everything on that server is transient; when it is gone, callers answer 503 at once
    rather than hold a client for the whole record-store retry budget.
    """
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        retry=Retry(ExponentialBackoff(cap=0.1, base=0.02), retries=2),
        retry_on_error=RETRY_ON,
        socket_connect_timeout=1.0,
        health_check_interval=30,
    )


def connect_for_blocking(url: str) -> redis.Redis:
    """Open a client without automatic retries, for blocking waits that track their deadline."""
    return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
