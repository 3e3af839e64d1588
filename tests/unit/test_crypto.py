"""Tests for common.crypto: AES-256-GCM credential sealing under a ring of master keys."""

from __future__ import annotations

import base64

import pytest

from common.crypto import (
    NONCE_BYTES,
    CredentialCipher,
    KeyRing,
    key_id,
    new_master_key,
    sealed_by,
)
from common.errors import MLCommonsError

SECRET = "sk-very-secret-value-42"
KEY_A = base64.b64encode(bytes(range(32))).decode("ascii")
KEY_B = base64.b64encode(bytes(range(1, 33))).decode("ascii")


def _flip_byte(sealed: str, index: int) -> str:
    kid, _, body = sealed.partition(":")
    raw = bytearray(base64.b64decode(body))
    raw[index] ^= 0x01
    return f"{kid}:{base64.b64encode(bytes(raw)).decode('ascii')}"


def _body(sealed: str) -> bytes:
    return base64.b64decode(sealed.partition(":")[2], validate=True)


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


def test_ciphertext_is_key_id_then_base64_nonce_ciphertext_tag():
    sealed = CredentialCipher(KEY_A).encrypt({"k": SECRET})["k"]
    assert sealed_by(sealed) == key_id(KEY_A)
    raw = _body(sealed)
    assert len(raw) == NONCE_BYTES + len(SECRET.encode()) + 16
    assert SECRET not in sealed
    assert SECRET.encode() not in raw


def test_two_encryptions_of_the_same_value_differ():
    cipher = CredentialCipher(KEY_A)
    first = cipher.encrypt({"k": SECRET})["k"]
    second = cipher.encrypt({"k": SECRET})["k"]
    assert first != second
    assert _body(first)[:NONCE_BYTES] != _body(second)[:NONCE_BYTES]
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


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not base64 !!",
        base64.b64encode(b"short").decode(),
        f"{key_id(KEY_A)}:not base64 !!",
        f"{key_id(KEY_A)}:",
    ],
)
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


def _legacy_seal(key_b64: str, value: str) -> str:
    """A value as modelgate sealed it before key ids: bare base64(nonce || ciphertext || tag)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = bytes(NONCE_BYTES)
    sealed = nonce + AESGCM(base64.b64decode(key_b64)).encrypt(nonce, value.encode(), None)
    return base64.b64encode(sealed).decode("ascii")


def test_a_value_sealed_before_key_ids_opens_with_any_key_of_the_ring():
    legacy = _legacy_seal(KEY_B, SECRET)
    assert sealed_by(legacy) is None
    assert CredentialCipher(KeyRing([KEY_A, KEY_B])).decrypt({"k": legacy}) == {"k": SECRET}
    with pytest.raises(MLCommonsError, match=r"\[k\]"):
        CredentialCipher(KEY_A).decrypt({"k": legacy})


def test_a_ring_opens_what_any_of_its_keys_sealed_and_seals_with_the_newest():
    old = CredentialCipher(KEY_A).encrypt({"k": SECRET})
    ring = CredentialCipher(KeyRing([KEY_B, KEY_A]))
    assert ring.decrypt(old) == {"k": SECRET}
    assert sealed_by(ring.encrypt({"k": SECRET})["k"]) == key_id(KEY_B)


def test_the_current_key_named_from_outside_is_the_sealing_key():
    cipher = CredentialCipher(KeyRing([KEY_B, KEY_A]), current=lambda: key_id(KEY_A))
    assert sealed_by(cipher.encrypt({"k": SECRET})["k"]) == key_id(KEY_A)


def test_an_unknown_key_id_rereads_the_ring_once_and_then_opens():
    sealed = CredentialCipher(KEY_B).encrypt({"k": SECRET})
    reads: list[int] = []

    def refresh() -> KeyRing:
        reads.append(1)
        return KeyRing([KEY_B, KEY_A])

    cipher = CredentialCipher(KEY_A, refresh=refresh)
    assert cipher.decrypt(sealed) == {"k": SECRET}
    assert cipher.decrypt(sealed) == {"k": SECRET}
    assert len(reads) == 1


def test_a_key_still_unknown_after_rereading_names_its_id_never_a_value():
    sealed = CredentialCipher(KEY_B).encrypt({"k": SECRET})
    cipher = CredentialCipher(KEY_A, refresh=lambda: KeyRing([KEY_A]))
    with pytest.raises(MLCommonsError) as caught:
        cipher.decrypt(sealed)
    assert key_id(KEY_B) in caught.value.reason
    assert SECRET not in caught.value.reason and KEY_B not in caught.value.reason


def test_sealing_under_a_current_key_this_process_lacks_is_refused():
    cipher = CredentialCipher(KEY_A, current=lambda: key_id(KEY_B), refresh=lambda: None)
    with pytest.raises(MLCommonsError, match=key_id(KEY_B)):
        cipher.encrypt({"k": SECRET})


def test_reseal_moves_only_values_under_other_keys():
    cipher = CredentialCipher(KeyRing([KEY_B, KEY_A]))
    under_a = CredentialCipher(KEY_A).encrypt({"a": "1"})
    under_b = cipher.encrypt({"b": "2"})
    moved = cipher.reseal({**under_a, **under_b, "c": _legacy_seal(KEY_A, "3")}, key_id(KEY_B))
    assert moved is not None
    assert moved["b"] == under_b["b"]
    assert {sealed_by(v) for v in moved.values()} == {key_id(KEY_B)}
    assert CredentialCipher(KEY_B).decrypt(moved) == {"a": "1", "b": "2", "c": "3"}
    assert cipher.reseal(moved, key_id(KEY_B)) is None


def test_key_ids_are_stable_distinct_and_reveal_nothing_of_the_key():
    assert key_id(KEY_A) == key_id(KEY_A) != key_id(KEY_B)
    assert len(key_id(KEY_A)) == 16
    assert key_id(KEY_A) not in KEY_A and key_id(KEY_A) not in base64.b64decode(KEY_A).hex()


def test_a_ring_parses_commas_and_lines_and_writes_newest_first():
    ring = KeyRing.parse(f"# comment\n{KEY_B}\n\n {KEY_A} \n")
    assert ring.ids == [key_id(KEY_B), key_id(KEY_A)]
    assert KeyRing.parse(f"{KEY_B},{KEY_A}").ids == ring.ids
    assert KeyRing.parse(ring.text()).ids == ring.ids
    assert ring.only(key_id(KEY_A)).ids == [key_id(KEY_A)]
    assert ring.with_newest(KEY_A).ids == [key_id(KEY_A), key_id(KEY_B)]
    assert KEY_A not in repr(ring) and KEY_B not in repr(ring)


@pytest.mark.parametrize("text", ["", "# only a comment", "not-a-key", KEY_A + ",short"])
def test_a_ring_without_valid_keys_is_refused(text):
    with pytest.raises(ValueError):
        KeyRing.parse(text)
