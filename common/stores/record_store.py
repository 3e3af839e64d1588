"""Typed records in Redis: one JSON string per record and a set of ids per kind."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Generic, TypeVar

import msgspec

from common.errors import NotFoundError
from common.records import from_json, to_json
from common.stores.changes import Changes
from common.stores.connection import Redis
from common.stores.keys import KeyBuilder

R = TypeVar("R", bound=msgspec.Struct)
# Ids are minted by common/ids.py (URL-safe base64). An id outside that alphabet (a ":" could
# reach another key) or one of the names the layout keeps beside records (the id index, the
# group names, the active-task set) addresses no record: it is simply not found.
_RECORD_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_LAYOUT_NAMES = frozenset({"ids", "names", "active"})


def is_record_id(record_id: str) -> bool:
    """True for an id that can only ever address a record of its own kind."""
    return record_id not in _LAYOUT_NAMES and _RECORD_ID.fullmatch(record_id) is not None


class RecordStore(Generic[R]):
    """get/put/update/delete/all for one record kind, under `<prefix>:<kind>:<id>`."""

    def __init__(
        self,
        redis: Redis,
        keys: KeyBuilder,
        kind: str,
        record_type: type[R],
        *,
        changes: Changes,
        created: Callable[[R], int] | None = None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self.kind = kind
        self._type = record_type
        self._changes = changes
        self._created = created

    def key(self, record_id: str) -> str:
        """Name the key holding one record."""
        return self._keys.key(self.kind, record_id)

    def _ids_key(self) -> str:
        return self._keys.key(self.kind, "ids")

    def add_count(self, pipe: Redis) -> None:
        """Queue on pipe the number of records of this kind (several kinds, one round trip)."""
        pipe.scard(self._ids_key())

    def decode(self, raw: str | bytes) -> R:
        """Read one stored record of this kind."""
        return from_json(raw, self._type)

    def get(self, record_id: str) -> R | None:
        """Return one record, or None when absent (or when no record can have that id)."""
        if not is_record_id(record_id):
            return None
        raw = self._redis.get(self.key(record_id))
        return None if raw is None else self.decode(raw)

    def require(self, record_id: str, message: str) -> R:
        """Return one record or raise NotFoundError with the ML Commons message."""
        record = self.get(record_id)
        if record is None:
            raise NotFoundError(message)
        return record

    def put(self, record_id: str, record: R) -> None:
        """Write one record and index its id."""
        if not is_record_id(record_id):
            raise ValueError(f"not a record id: {record_id!r}")  # ids are ours: a bug if hit
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self.key(record_id), to_json(record))
        pipe.sadd(self._ids_key(), record_id)
        self._changes.add_publish(pipe, f"{self.kind}:{record_id}")
        pipe.execute()

    def update(self, record_id: str, change: Callable[[R], R | None]) -> R:
        """Apply change() atomically (optimistic WATCH/MULTI) and return the record after it.

        change() may return None to leave the record as it is.
        """
        if not is_record_id(record_id):
            raise NotFoundError(f"Failed to find {self.kind} {record_id}")
        key = self.key(record_id)
        result: list[R] = []

        def attempt(pipe: Redis) -> None:
            raw = pipe.get(key)
            if raw is None:
                raise NotFoundError(f"Failed to find {self.kind} {record_id}")
            current = self.decode(raw)
            changed = change(current)
            pipe.multi()
            if changed is not None:
                pipe.set(key, to_json(changed))
                self._changes.add_publish(pipe, f"{self.kind}:{record_id}")
            result[:] = [changed if changed is not None else current]

        self._redis.transaction(attempt, key)
        return result[0]

    def delete(self, record_id: str) -> bool:
        """Delete one record; True when it existed."""
        if not is_record_id(record_id):
            return False
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self.key(record_id))
        pipe.srem(self._ids_key(), record_id)
        self._changes.add_publish(pipe, f"{self.kind}:{record_id}")
        return bool(pipe.execute()[0])

    def all(self) -> list[tuple[str, R]]:
        """Return every record of the kind with its id, oldest first when creation is known."""
        ids = sorted(self._redis.smembers(self._ids_key()))
        if not ids:
            return []
        raws = self._redis.mget([self.key(i) for i in ids])
        pairs = [(i, self.decode(r)) for i, r in zip(ids, raws, strict=True) if r]
        created = self._created
        return pairs if created is None else sorted(pairs, key=lambda pair: created(pair[1]))
