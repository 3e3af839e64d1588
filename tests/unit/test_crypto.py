"""Tests for common.crypto: AES-256-GCM credential sealing under a base64 master key."""

from __future__ import annotations

import base64

import pytest

from common.crypto import NONCE_BYTES, CredentialCipher, new_master_key
from common.errors import MLCommonsError

SECRET = "sk-very-secret-value-42"
KEY_A = base64.b64encode(bytes(range(32))).decode("ascii")
KEY_B = base64.b64encode(bytes(range(1, 33))).decode("ascii")


def _flip_byte(sealed: str, index: int) -> str:
    raw = bytearray(base64.b64decode(sealed))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode("ascii")


@pytest.mark.parametrize(
    "credential",
    [
        {"openAI_key": SECRET},
        {"access_key": "AKID", "secret_key": "s/k+=", "session_token": "tok"},
        {"unicode": "Moët 日本 \U0001f600", "empty": ""},
        {},
    ],
)
def test_round_trip(credential):
    cipher = CredentialCipher(KEY_A)
    sealed = cipher.encrypt(credential)
    assert set(sealed) == set(credential)
    assert cipher.decrypt(sealed) == credential


def test_round_trip_with_a_second_cipher_on_the_same_key():
    sealed = CredentialCipher(KEY_A).encrypt({"k": SECRET})
    assert CredentialCipher(KEY_A).decrypt(sealed) == {"k": SECRET}


def test_ciphertext_is_base64_nonce_ciphertext_tag():
    sealed = CredentialCipher(KEY_A).encrypt({"k": SECRET})["k"]
    raw = base64.b64decode(sealed, validate=True)
    assert len(raw) == NONCE_BYTES + len(SECRET.encode()) + 16
    assert SECRET not in sealed
    assert SECRET.encode() not in raw


def test_two_encryptions_of_the_same_value_differ():
    cipher = CredentialCipher(KEY_A)
    first = cipher.encrypt({"k": SECRET})["k"]
    second = cipher.encrypt({"k": SECRET})["k"]
    assert first != second
    assert base64.b64decode(first)[:NONCE_BYTES] != base64.b64decode(second)[:NONCE_BYTES]
    assert cipher.decrypt({"k": first}) == cipher.decrypt({"k": second}) == {"k": SECRET}


def test_wrong_master_key_names_the_key_but_never_the_secret():
    sealed = CredentialCipher(KEY_A).encrypt({"openAI_key": SECRET})
    with pytest.raises(MLCommonsError) as caught:
        CredentialCipher(KEY_B).decrypt(sealed)
    error = caught.value
    assert "openAI_key" in error.reason
    assert SECRET not in error.reason
    assert SECRET not in str(error)
    assert SECRET not in repr(error)
    assert error.__cause__ is None
    assert error.__suppress_context__ is True


@pytest.mark.parametrize("index", [0, NONCE_BYTES, -1])
def test_tampered_ciphertext_is_refused(index):
    cipher = CredentialCipher(KEY_A)
    sealed = cipher.encrypt({"k": SECRET})["k"]
    with pytest.raises(MLCommonsError, match=r"\[k\]"):
        cipher.decrypt({"k": _flip_byte(sealed, index)})


@pytest.mark.parametrize("value", ["", "not base64 !!", base64.b64encode(b"short").decode()])
def test_malformed_ciphertext_is_refused(value):
    with pytest.raises(MLCommonsError, match=r"Failed to decrypt credential \[k\]"):
        CredentialCipher(KEY_A).decrypt({"k": value})


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33, 64])
def test_bad_key_length_is_a_value_error(size):
    with pytest.raises(ValueError, match="32 bytes"):
        CredentialCipher(base64.b64encode(bytes(size)).decode("ascii"))


def test_repr_hides_the_key():
    cipher = CredentialCipher(KEY_A)
    assert KEY_A not in repr(cipher)
    assert KEY_A not in str(cipher)
    assert "hidden" in repr(cipher)


def test_new_master_key_is_32_random_bytes_in_base64():
    key = new_master_key()
    assert len(base64.b64decode(key, validate=True)) == 32
    assert new_master_key() != key
    cipher = CredentialCipher(key)
    assert cipher.decrypt(cipher.encrypt({"k": SECRET})) == {"k": SECRET}
