"""Master key rotation: every stored credential re-sealed under a new key, no predict failing.

Every step can be repeated, so running the rotation again after a crash finishes the job:

1. Key file: a new key goes in front of the ring, unless the ring already holds more than one
   key (a rotation under way: it resumes with the newest). With MODELGATE_MASTER_KEY nothing is
   written: the operator has put the new key first in every process's variable already.
2. Redis names the newest key current: from now on every process seals under it, re-reading
   its ring if it lacks the key. Old keys stay in the ring, so everything still opens.
3. A short wait, so that a seal that read the old current id has been written.
4. Each connector, and each model's inline connector, not wholly sealed under the newest key is
   re-sealed in one optimistic transaction (a concurrent edit just retries it).
5. Registrations queued before the switch carry inline connectors sealed under the old key:
   the rotation waits for them to finish, then passes over the records again.
6. A pass that finds nothing left to re-seal; then the key file keeps the newest key alone.
   With the variable, the report names the keys nobody uses any more: remove them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from msgspec import structs

from common.crypto import CredentialCipher, KeyRing, new_master_key, sealed_by
from common.errors import NotFoundError
from common.keyring import KeyFile, KeyRingError, KeySource
from common.records import Connector, MLModel, MLTaskType
from common.store import Store
from common.stores.record_store import RecordStore

MAX_PASSES = 5
REGISTER_POLL_S = 0.2
R = TypeVar("R", Connector, MLModel)
T = TypeVar("T")


class RotationError(KeyRingError):
    """A rotation cannot start or finish; what it did stays (every record opens), and running
    it again goes on from there."""


@dataclass
class RotationReport:
    """What a rotation did; key ids only, never a key."""

    key_id: str
    resealed: list[str] = field(default_factory=list)  # record keys, e.g. connector:ID
    dropped: list[str] = field(default_factory=list)  # ids removed from the key file
    unused: list[str] = field(default_factory=list)  # ids no record uses any more


class Rotation:
    """One run of the rotation over one cluster's store and key source."""

    def __init__(
        self,
        store: Store,
        source: KeySource,
        *,
        settle_s: float = 2.0,
        lock_timeout_s: float = 60.0,
        after_record: Callable[[str], None] | None = None,
        register_wait_s: float = 60.0,
    ) -> None:
        self.store = store
        self.source = source
        self.settle_s = settle_s
        self.lock_timeout_s = lock_timeout_s
        self.after_record = after_record  # called after each re-sealed record (tests crash here)
        self.register_wait_s = register_wait_s

    def run(self) -> RotationReport:
        """Rotate under the cluster's rotation lock, which expires should this process die."""
        return self._locked(self._rotate)

    def add_key(self) -> str:
        """Only put a new key in front of the key file's ring (to copy the file to every host
        first); the next run() resumes with it. Returns its id."""
        return self._locked(lambda keep_lock: self._ring_with_new_key().newest_id)

    def _locked(self, work: Callable[[Callable[[], object]], T]) -> T:
        lock = self.store.master_key.rotation_lock(self.lock_timeout_s)
        if not lock.acquire():
            raise RotationError(
                "another key rotation is running (or one died less than "
                f"{self.lock_timeout_s:g} s ago): try again later"
            )
        try:
            return work(lock.reacquire)
        finally:
            lock.release()

    def _rotate(self, keep_lock: Callable[[], object]) -> RotationReport:
        ring = self._ring_with_new_key()
        target = ring.newest_id
        current = self.store.master_key.current_id()
        if current is not None and not ring.has(current):
            # Records sealed under the current key could not be opened: keep it in the ring.
            raise RotationError(
                f"{self.source.where} lacks this cluster's current master key {current}: "
                "put the new key first and keep the current one after it"
            )
        cipher = CredentialCipher(ring, refresh=self.source.load)
        self.store.master_key.set_current(target)
        sealed_before = time.time() + self.settle_s  # tasks of seals under the old key: before
        time.sleep(self.settle_s)
        report = RotationReport(key_id=target)
        report.resealed = self._reseal_until_clean(cipher, target, keep_lock)
        # A register job carries its inline connector sealed by the API: one sealed under the
        # old key and still queued would store it after this pass. Wait for those, look again.
        self._wait_for_registers(sealed_before, keep_lock)
        report.resealed += self._reseal_until_clean(cipher, target, keep_lock)
        report.unused = [kid for kid in cipher.ring.ids if kid != target]
        if isinstance(self.source, KeyFile):
            report.dropped = self._drop_old_keys(target)
        return report

    def _reseal_until_clean(
        self, cipher: CredentialCipher, target: str, keep_lock: Callable[[], object]
    ) -> list[str]:
        resealed: list[str] = []
        for _ in range(MAX_PASSES):
            done = self._reseal_all(cipher, target, keep_lock)
            if not done:
                return resealed
            resealed.extend(done)
        raise RotationError("records kept being sealed under old keys: run it again")

    def _wait_for_registers(self, before: float, keep_lock: Callable[[], object]) -> None:
        deadline = time.monotonic() + self.register_wait_s
        while pending := self._registers_started_before(before):
            if time.monotonic() > deadline:
                raise RotationError(
                    f"{len(pending)} model registrations queued before the rotation have not "
                    "finished (is a node up?): the old key stays until they have; run this "
                    "again later to finish"
                )
            keep_lock()
            time.sleep(REGISTER_POLL_S)

    def _registers_started_before(self, before: float) -> list[str]:
        started = self.store.active_tasks.older_than(time.time() - before)
        tasks = [(task_id, self.store.tasks.get(task_id)) for task_id in started]
        return [
            task_id
            for task_id, task in tasks
            if task is not None
            and not task.is_final
            and task.task_type == MLTaskType.REGISTER_MODEL
        ]

    def _ring_with_new_key(self) -> KeyRing:
        ring = self.source.load()
        if ring is None:
            raise RotationError(f"there is no {self.source.where}: nothing to rotate")
        if isinstance(self.source, KeyFile) and len(ring.ids) == 1:
            self.source.replace(ring.with_newest(new_master_key()))
            ring = self.source.load()
            assert ring is not None
        return ring

    def _reseal_all(
        self, cipher: CredentialCipher, target: str, keep_lock: Callable[[], object]
    ) -> list[str]:
        """One pass over every record that holds credentials; return those re-sealed."""
        done: list[str] = []
        connector_change = partial(_resealed, cipher=cipher, target=target)
        for connector_id, connector in self.store.connectors.all():
            if _needs(connector, target):
                self._apply(self.store.connectors, connector_id, connector_change, done)
                keep_lock()
        model_change = partial(_inline_resealed, cipher=cipher, target=target)
        for model_id, model in self.store.models.all():
            if model.connector is not None and _needs(model.connector, target):
                self._apply(self.store.models, model_id, model_change, done)
                keep_lock()
        return done

    def _apply(
        self,
        records: RecordStore[R],
        record_id: str,
        change: Callable[[R], R | None],
        done: list[str],
    ) -> None:
        try:
            records.update(record_id, change)
        except NotFoundError:
            return  # deleted meanwhile: nothing left to re-seal
        name = f"{records.kind}:{record_id}"
        done.append(name)
        if self.after_record is not None:
            self.after_record(name)

    def _drop_old_keys(self, target: str) -> list[str]:
        assert isinstance(self.source, KeyFile)
        ring = self.source.load()
        if ring is None or not ring.has(target):
            raise RotationError(f"{self.source.where} lost key {target} during the rotation")
        if len(ring.ids) > 1:
            self.source.replace(ring.only(target))
        return [kid for kid in ring.ids if kid != target]


def _needs(connector: Connector, target: str) -> bool:
    return any(sealed_by(value) != target for value in connector.credential.values())


def _resealed(connector: Connector, cipher: CredentialCipher, target: str) -> Connector | None:
    credential = cipher.reseal(connector.credential, target)
    return None if credential is None else structs.replace(connector, credential=credential)


def _inline_resealed(model: MLModel, cipher: CredentialCipher, target: str) -> MLModel | None:
    if model.connector is None:
        return None
    connector = _resealed(model.connector, cipher, target)
    return None if connector is None else structs.replace(model, connector=connector)
