"""Tests for workers.model_cache: freshness by serving generation, shared connectors."""

from __future__ import annotations

from common.crypto import CredentialCipher, new_master_key
from common.records import Connector, ConnectorAction
from workers.model_cache import ModelCache


def _connector(endpoint: str, cipher: CredentialCipher) -> Connector:
    return Connector(
        protocol="http",
        parameters={"endpoint": endpoint},
        credential=cipher.encrypt({"key": f"sk-{endpoint}"}),
        actions=[ConnectorAction(action_type="PREDICT", method="POST", url="http://e")],
    )


def test_models_on_one_connector_share_one_decrypted_copy():
    cipher = CredentialCipher(new_master_key())
    calls: list[dict[str, str]] = []

    def decrypt(sealed: dict[str, str]) -> dict[str, str]:
        calls.append(sealed)
        return cipher.decrypt(sealed)

    cache = ModelCache()
    connector = _connector("a", cipher)
    first = cache.prepare(1, connector, decrypt)
    # The same connector decoded again (another model's deploy): equal, not the same object.
    again = cache.prepare(
        1, Connector(**{f: getattr(connector, f) for f in connector.__struct_fields__}), decrypt
    )
    other = cache.prepare(2, _connector("b", cipher), decrypt)
    assert first.connector is again.connector and first.credential is again.credential
    assert first.credential == {"key": "sk-a"} and other.credential == {"key": "sk-b"}
    assert len(calls) == 2


def test_a_cached_model_is_fresh_only_for_its_own_generation():
    cipher = CredentialCipher(new_master_key())
    cache = ModelCache()
    cache.put("m", cache.prepare(7, _connector("a", cipher), cipher.decrypt))
    assert cache.peek("m", 7) is not None
    assert cache.peek("m", 8) is None and cache.peek("m", 6) is None
    assert cache.drop("m") and cache.peek("m", 7) is None and not cache.drop("m")
