"""Where a process gets its master keys: a key file or MODELGATE_MASTER_KEY, never Redis.

The key file (default `<data dir>/master.key`, mode 0600) is created once, atomically: the
first process to link its file in place wins, and every process then reads what is there,
so processes starting together end with one key. A cluster whose key an older modelgate kept
in Redis has it moved into the file on first start, then deleted from Redis. Redis keeps only
the current key's id (common/stores/master_key.py): a process that has no key file while the
cluster already has a key is refused, instead of sealing credentials nobody else can open.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Protocol

from common.crypto import CredentialCipher, KeyRing, new_master_key
from common.errors import MLCommonsError
from common.settings import PREFIX, Settings
from common.stores.master_key import MasterKeyStore

ENV_NAME = PREFIX + "MASTER_KEY"
FILE_ENV_NAME = PREFIX + "MASTER_KEY_FILE"


class KeyRingError(MLCommonsError):
    """The master keys cannot be had: a process must not seal or open credentials without them
    (a 500 in an answer; `modelgate up` stops on it before starting anything)."""


class KeySource(Protocol):
    """Where the keys come from; `where` names it in messages (never a key)."""

    where: str

    def load(self) -> KeyRing | None: ...


class EnvKeys:
    """Keys from MODELGATE_MASTER_KEY (e.g. filled by a secrets manager), newest first."""

    where = ENV_NAME

    def __init__(self, text: str) -> None:
        self._text = text

    def load(self) -> KeyRing:
        try:
            return KeyRing.parse(self._text)
        except ValueError:
            # The value itself is never shown: it is the secret.
            raise KeyRingError(
                f"{ENV_NAME} must be base64 32-byte keys, newest first, separated by commas"
            ) from None


class KeyFile:
    """A file of keys, newest first, readable by its owner only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = f"the key file {path}"

    def load(self) -> KeyRing | None:
        """The ring in the file; None when there is no file yet."""
        try:
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise KeyRingError(f"cannot read {self.where}: {error}") from None
        try:
            return KeyRing.parse(text)
        except ValueError:
            raise KeyRingError(f"{self.where} holds no valid master key") from None

    def create(self, ring: KeyRing) -> KeyRing:
        """Write ring unless a file is there already (another process won); return the file's."""
        temp = self._write_temp(ring)
        try:
            os.link(temp, self.path)  # atomic, and fails if the file exists: O_EXCL for a name
        except FileExistsError:
            pass
        finally:
            temp.unlink()
        _sync_dir(self.path.parent)
        found = self.load()
        assert found is not None  # linked by us or by the process that won
        return found

    def replace(self, ring: KeyRing) -> None:
        """Swap in a new ring atomically: a reader sees the old file or the new, never half."""
        temp = self._write_temp(ring)
        os.replace(temp, self.path)
        _sync_dir(self.path.parent)

    def _write_temp(self, ring: KeyRing) -> Path:
        temp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as error:  # e.g. a read-only mount: say so in one line
            raise KeyRingError(f"cannot write {self.where}: {error.strerror}") from None
        try:
            os.write(fd, ring.text().encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return temp


def _sync_dir(directory: Path) -> None:
    """Make a new name in directory durable, as the file's own fsync does not."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def key_source(settings: Settings) -> EnvKeys | KeyFile:
    """MODELGATE_MASTER_KEY when set, else the key file."""
    if settings.master_key:
        return EnvKeys(settings.master_key)
    return KeyFile(settings.master_key_path)


def open_ring(source: KeySource, keys: MasterKeyStore) -> KeyRing:
    """Read (or on a cluster's first start, create) the ring and settle Redis' side of it."""
    ring = source.load()
    legacy = keys.legacy()
    if ring is None:
        ring = _create(source, keys, legacy)
    if legacy is not None:
        if not ring.holds_key(legacy):
            # Credentials sealed under it would no longer open: leave everything as it is.
            raise KeyRingError(
                f"this cluster's master key is still in Redis, and {source.where} holds other "
                f"keys: start once with neither {ENV_NAME} nor a key file, so that the key moves "
                "into a new key file, and use that file"
            )
        keys.drop_legacy(legacy)
    keys.claim(ring.newest_id)  # a new cluster's first key becomes its current one
    return ring


def _create(source: KeySource, keys: MasterKeyStore, legacy: str | None) -> KeyRing:
    assert isinstance(source, KeyFile)  # only a file can be missing
    current = keys.current_id()
    if legacy is None and current is not None:
        # A process of this host may have made the file since we looked (it links the file
        # before it names the key current): then that file is the cluster's.
        found = source.load()
        if found is not None:
            return found
        raise KeyRingError(
            f"this cluster's credentials are sealed under master key {current}, and there is no "
            f"{source.where}: copy the key file of a process of this cluster there, point "
            f"{FILE_ENV_NAME} at it, or set {ENV_NAME}"
        )
    return source.create(KeyRing([legacy or new_master_key()]))


def open_cipher(settings: Settings, keys: MasterKeyStore) -> CredentialCipher:
    """The cipher a process seals and opens credentials with: its ring, re-read from the source
    when a value names a key it lacks, sealing under the key Redis names current."""
    source = key_source(settings)
    ring = open_ring(source, keys)
    return CredentialCipher(ring, refresh=source.load, current=keys.current_id)
