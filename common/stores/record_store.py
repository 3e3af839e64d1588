"""Typed records in Redis: one JSON string per record and a set of ids per kind."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

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
_LAYOUT_NAMES = frozenset({"ids", "names", "active", "stamp"})
V = TypeVar("V")


def is_record_id(record_id: str) -> bool:
    """True for an id that can only ever address a record of its own kind."""
    return record_id not in _LAYOUT_NAMES and _RECORD_ID.fullmatch(record_id) is not None


class _Snapshot(Generic[R]):
    """Every record of a kind as of one stamp, and the views built from them on demand."""

    def __init__(self, stamp: dict[str, str], pairs: list[tuple[str, R]]) -> None:
        self.stamp = stamp
        self.pairs = pairs
        self._views: dict[Callable[[R], Any], list[tuple[str, Any]]] = {}

    def views(self, view: Callable[[R], V]) -> list[tuple[str, V]]:
        built = self._views.get(view)
        if built is None:  # two threads may both build it: same result, no harm
            built = self._views[view] = [(i, view(record)) for i, record in self.pairs]
        return built


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
        self._snapshot: _Snapshot[R] | None = None

    def key(self, record_id: str) -> str:
        """Name the key holding one record."""
        return self._keys.key(self.kind, record_id)

    def _ids_key(self) -> str:
        return self._keys.key(self.kind, "ids")

    def _stamp_key(self) -> str:
        return self._keys.key(self.kind, "stamp")

    def _add_stamp(self, pipe: Redis) -> None:
        """Queue the bump of the kind's stamp, in the same transaction as the write.

        The stamp is an epoch (random, set once) and a counter: a reader holding the records
        of one stamp knows they are current while the stamp is unchanged. The epoch tells a
        wiped and refilled Redis from the one the snapshot was read from.
        """
        pipe.hsetnx(self._stamp_key(), "epoch", secrets.token_hex(8))
        pipe.hincrby(self._stamp_key(), "count", 1)

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
        self._add_stamp(pipe)
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
                self._add_stamp(pipe)
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
        self._add_stamp(pipe)
        self._changes.add_publish(pipe, f"{self.kind}:{record_id}")
        return bool(pipe.execute()[0])

    def all(self) -> list[tuple[str, R]]:
        """Return every record of the kind with its id, oldest first when creation is known."""
        return list(self._current().pairs)

    def viewed(self, view: Callable[[R], V]) -> Sequence[tuple[str, V]]:
        """Return (id, view(record)) for every record, as all() orders them; do not mutate.

        Views are built once per snapshot and function, so repeated searches over an
        unchanged kind cost neither the read, the decoding nor the view building.
        """
        return self._current().views(view)

    def _current(self) -> _Snapshot[R]:
        """The snapshot for the kind's present stamp: one round trip when nothing changed."""
        stamp = self._redis.hgetall(self._stamp_key())
        held = self._snapshot
        if held is not None and stamp and held.stamp == stamp:
            return held
        # Read after the stamp: a write in between leaves newer records under an older
        # stamp, which only costs the next call a reload.
        snapshot = _Snapshot(stamp, self._read_all())
        self._snapshot = snapshot if stamp else None
        return snapshot

    def _read_all(self) -> list[tuple[str, R]]:
        ids = sorted(self._redis.smembers(self._ids_key()))
        if not ids:
            return []
        raws = self._redis.mget([self.key(i) for i in ids])
        pairs = [(i, self.decode(r)) for i, r in zip(ids, raws, strict=True) if r]
        created = self._created
        return pairs if created is None else sorted(pairs, key=lambda pair: created(pair[1]))
