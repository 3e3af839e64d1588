"""Credential encryption at rest: AES-256-GCM under a persisted 32-byte master key."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from common.errors import MLCommonsError

NONCE_BYTES = 12


def new_master_key() -> str:
    """Return a fresh base64 master key (32 random bytes), as ML Commons creates on first start."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


class CredentialCipher:
    """Encrypt and decrypt connector credential maps, one value at a time."""

    def __init__(self, master_key_b64: str) -> None:
        key = base64.b64decode(master_key_b64)
        if len(key) != 32:
            raise ValueError("master key must be 32 bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "CredentialCipher(<master key hidden>)"

    def encrypt(self, credential: dict[str, str]) -> dict[str, str]:
        """Return credential with every value replaced by base64(nonce || ciphertext || tag)."""
        return {name: self._seal(value) for name, value in credential.items()}

    def decrypt(self, sealed: dict[str, str]) -> dict[str, str]:
        """Reverse encrypt(); a wrong key or tampered value raises MLCommonsError."""
        return {name: self._open(name, value) for name, value in sealed.items()}

    def _seal(self, value: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, value.encode("utf-8"), None)
        return base64.b64encode(sealed).decode("ascii")

    def _open(self, name: str, value: str) -> str:
        try:
            raw = base64.b64decode(value)
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None)
        except (InvalidTag, ValueError):
            # The reason names the key only: never the value.
            raise MLCommonsError(f"Failed to decrypt credential [{name}]") from None
        return plain.decode("utf-8")
