"""Where a secret could hide: every key and value a Redis holds, every file under a directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
from redis.connection import parse_url


def _values(client: Any, key: bytes) -> list[bytes]:  # redis-py types replies loosely
    kind = client.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "none":
        return []  # gone since the scan listed it (an expired inbox, a consumed job)
    if kind == "string":
        return [client.get(key) or b""]
    if kind == "hash":
        return [part for pair in client.hgetall(key).items() for part in pair]
    if kind == "list":
        return list(client.lrange(key, 0, -1))
    if kind == "set":
        return list(client.smembers(key))
    if kind == "zset":
        return list(client.zrange(key, 0, -1))
    if kind == "stream":
        entries = client.xrange(key)
        return [part for _, fields in entries for pair in fields.items() for part in pair]
    raise AssertionError(f"a Redis type this scan does not read: {kind} at {key!r}")


def redis_items(url: str) -> Iterator[tuple[bytes, bytes]]:
    """(key, key name or one value) for everything in every database of the server at url."""
    options = parse_url(url)  # type: ignore[no-untyped-call]
    with redis.Redis(**options) as first:
        databases = [int(name[2:]) for name in first.info("keyspace")]
    for db in databases:
        with redis.Redis(**{**options, "db": db}) as client:  # bytes: values need not be text
            for key in client.scan_iter(count=1000):
                yield key, key
                for value in _values(client, key):
                    yield key, value


def found_in_redis(url: str, needle: bytes) -> list[bytes]:
    """The keys whose name or any value contains needle."""
    return sorted({key for key, item in redis_items(url) if needle in item})


def found_in_files(root: Path, needle: bytes) -> list[Path]:
    """The files under root whose bytes contain needle."""
    return [p for p in sorted(root.rglob("*")) if p.is_file() and needle in p.read_bytes()]
