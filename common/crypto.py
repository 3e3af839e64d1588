"""Credential encryption at rest: AES-256-GCM under a ring of 32-byte master keys.

A sealed value names the key that sealed it, "<key id>:<base64(nonce || ciphertext || tag)>",
so a process opens it with the right key of its ring, and a rotation can tell which records
still use a retired key. A key id is a public fingerprint of the key (16 hex digits of an
HMAC-SHA256 under the key): it tells keys apart without revealing them. Values sealed before
key ids existed are bare base64; any key of the ring may have sealed them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
from collections.abc import Callable, Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from common.errors import MLCommonsError

NONCE_BYTES = 12
KEY_BYTES = 32
_ID_LABEL = b"modelgate master key id"


def new_master_key() -> str:
    """Return a fresh base64 master key (32 random bytes), as ML Commons creates on first start."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


def _key_bytes(master_key_b64: str) -> bytes:
    try:
        key = base64.b64decode(master_key_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a master key must be 32 bytes in base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError("a master key must be 32 bytes in base64")
    return key


def key_id(master_key_b64: str) -> str:
    """The key's public fingerprint, as sealed values and Redis name it."""
    digest = hmac.new(_key_bytes(master_key_b64), _ID_LABEL, hashlib.sha256).hexdigest()
    return digest[:16]


def sealed_by(value: str) -> str | None:
    """The id of the key that sealed value; None for a value sealed before key ids."""
    head, colon, _ = value.partition(":")
    return head if colon else None


class KeyRing:
    """Master keys by id, newest first: the newest is the one a rotation moves records to."""

    def __init__(self, keys: Iterable[str]) -> None:
        ordered = list(dict.fromkeys(k.strip() for k in keys if k.strip()))
        if not ordered:
            raise ValueError("a key ring needs at least one master key of 32 bytes in base64")
        self._keys = {key_id(key): key for key in ordered}  # also checks each key's form
        self._aeads = {kid: AESGCM(_key_bytes(key)) for kid, key in self._keys.items()}

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Read keys separated by commas or new lines; lines starting with '#' are comments."""
        lines = (line for line in text.splitlines() if not line.lstrip().startswith("#"))
        return cls(part for line in lines for part in line.split(","))

    def __repr__(self) -> str:
        return f"KeyRing(ids={self.ids}, <keys hidden>)"

    @property
    def ids(self) -> list[str]:
        """Key ids, newest first."""
        return list(self._keys)

    @property
    def newest_id(self) -> str:
        return self.ids[0]

    def has(self, kid: str) -> bool:
        return kid in self._keys

    def holds_key(self, master_key_b64: str) -> bool:
        """Whether this very key (not only its id) is in the ring."""
        try:
            return self._keys.get(key_id(master_key_b64)) == master_key_b64
        except ValueError:
            return False

    def aead(self, kid: str) -> AESGCM:
        return self._aeads[kid]

    def text(self) -> str:
        """The ring as a key file holds it: a comment, then one key per line, newest first."""
        header = "# modelgate master keys, newest first: keep this file secret (mode 0600)\n"
        return header + "".join(f"{key}\n" for key in self._keys.values())

    def with_newest(self, master_key_b64: str) -> KeyRing:
        """This ring with another key in front."""
        return KeyRing([master_key_b64, *self._keys.values()])

    def only(self, kid: str) -> KeyRing:
        """The ring reduced to one key."""
        return KeyRing([self._keys[kid]])


class CredentialCipher:
    """Encrypt and decrypt connector credential maps, one value at a time.

    `current` names the key to seal with (the cluster's current key, kept in Redis by id);
    without it, the ring's newest. `refresh` re-reads the ring: called when a value names a
    key this process does not hold yet (a rotation added it since this process read its keys).
    """

    def __init__(
        self,
        keys: KeyRing | str,
        *,
        refresh: Callable[[], KeyRing | None] | None = None,
        current: Callable[[], str | None] | None = None,
    ) -> None:
        self._ring = KeyRing([keys]) if isinstance(keys, str) else keys
        self._refresh = refresh
        self._current = current
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "CredentialCipher(<master key hidden>)"

    @property
    def ring(self) -> KeyRing:
        return self._ring

    def encrypt(self, credential: dict[str, str]) -> dict[str, str]:
        """Return credential with every value sealed under the current key."""
        kid = self.sealing_key_id()
        return {name: self._seal(kid, value) for name, value in credential.items()}

    def decrypt(self, sealed: dict[str, str]) -> dict[str, str]:
        """Reverse encrypt(); a wrong key or tampered value raises MLCommonsError."""
        return {name: self._open(name, value) for name, value in sealed.items()}

    def reseal(self, sealed: dict[str, str], kid: str) -> dict[str, str] | None:
        """The credential with every value sealed under key kid; None when all already are."""
        if all(sealed_by(value) == kid for value in sealed.values()):
            return None
        self._require(kid)
        return {
            name: value if sealed_by(value) == kid else self._seal(kid, self._open(name, value))
            for name, value in sealed.items()
        }

    def sealing_key_id(self) -> str:
        """The id of the key new values are sealed under; refused if this process lacks it."""
        kid = self._current() if self._current is not None else None
        kid = kid or self._ring.newest_id
        self._require(kid)
        return kid

    def _require(self, kid: str) -> None:
        if not self._ring.has(kid) and not self._reload_for(kid):
            raise MLCommonsError(
                f"Master key {kid} is not in this process's key ring: give it the current "
                "key file or MODELGATE_MASTER_KEY"
            )

    def _reload_for(self, kid: str) -> bool:
        """Re-read the ring once; True when it now holds kid."""
        if self._refresh is None:
            return False
        with self._lock:  # one reader at a time; the others find the new ring
            if not self._ring.has(kid):
                fresh = self._refresh()
                if fresh is not None:
                    self._ring = fresh
            return self._ring.has(kid)

    def _seal(self, kid: str, value: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._ring.aead(kid).encrypt(nonce, value.encode("utf-8"), None)
        return f"{kid}:{base64.b64encode(sealed).decode('ascii')}"

    def _open(self, name: str, value: str) -> str:
        kid = sealed_by(value)
        if kid is not None and not self._ring.has(kid):
            self._reload_for(kid)
        ring = self._ring
        candidates = ring.ids if kid is None else [kid] if ring.has(kid) else []
        body = value if kid is None else value.partition(":")[2]
        for candidate in candidates:
            try:
                raw = base64.b64decode(body, validate=True)
                plain = ring.aead(candidate).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None)
            except (InvalidTag, ValueError):
                continue
            return plain.decode("utf-8")
        # The reason names the credential's key and the master key's id only: never a value.
        missing = "" if kid is None or ring.has(kid) else f" (master key {kid} is unknown here)"
        raise MLCommonsError(f"Failed to decrypt credential [{name}]{missing}") from None
