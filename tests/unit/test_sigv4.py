"""Tests for workers.remote.sigv4: the headers are a valid AWS Signature Version 4."""

from __future__ import annotations

import datetime
import hashlib
import re

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from workers.remote.sigv4 import sign_request

URL = "https://runtime.sagemaker.us-west-2.amazonaws.com/endpoints/my-endpoint/invocations"
BODY = b'{"inputs":"hello"}'
REGION = "us-west-2"
SERVICE = "sagemaker"
FROZEN = datetime.datetime(2024, 2, 29, 12, 34, 56)
AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<credential>[^,]+), "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *_a, **_k: FROZEN)


def _sign(
    body: bytes = BODY,
    headers: dict[str, str] | None = None,
    token: str | None = None,
    method: str = "POST",
) -> dict[str, str]:
    credential = {"access_key": "AKID", "secret_key": "SECRET"}
    if token is not None:
        credential["session_token"] = token
    return sign_request(
        method=method,
        url=URL,
        headers={"Content-Type": "application/json"} if headers is None else headers,
        body=body,
        credential=credential,
        region=REGION,
        service=SERVICE,
    )


def _get(headers: dict[str, str], name: str) -> list[str]:
    return [value for key, value in headers.items() if key.lower() == name.lower()]


def _parts(headers: dict[str, str]) -> dict[str, str]:
    (authorization,) = _get(headers, "Authorization")
    match = AUTH.match(authorization)
    assert match is not None, authorization
    return match.groupdict()


def _expected_signature(
    signed: dict[str, str], body: bytes, token: str | None, method: str = "POST"
) -> tuple[str, str]:
    """Recompute (SignedHeaders, Signature) with botocore from the returned headers."""
    unsigned = {k: v for k, v in signed.items() if k.lower() != "authorization"}
    request = AWSRequest(method=method, url=URL, data=body, headers=unsigned)
    (stamp,) = _get(signed, "X-Amz-Date")
    request.context["timestamp"] = stamp
    auth = SigV4Auth(Credentials("AKID", "SECRET", token), SERVICE, REGION)
    canonical = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical)
    return auth.signed_headers(auth.headers_to_sign(request)), auth.signature(
        string_to_sign, request
    )


def test_authorization_scope_uses_credentials_region_and_service():
    headers = _sign()
    (authorization,) = _get(headers, "Authorization")
    assert authorization.startswith(
        "AWS4-HMAC-SHA256 Credential=AKID/20240229/us-west-2/sagemaker/aws4_request, "
    )
    assert _get(headers, "X-Amz-Date") == ["20240229T123456Z"]


def test_signed_headers_cover_host_body_hash_and_date():
    signed = _parts(_sign())["signed"].split(";")
    assert {"host", "x-amz-content-sha256", "x-amz-date", "content-type"} <= set(signed)
    assert signed == sorted(signed)


@pytest.mark.parametrize("body", [BODY, b"", "Moët".encode()])
def test_content_sha256_is_the_body_hash(body):
    assert _get(_sign(body=body), "x-amz-content-sha256") == [hashlib.sha256(body).hexdigest()]


@pytest.mark.parametrize("name", ["x-amz-content-sha256", "X-Amz-Content-Sha256"])
def test_connector_supplied_content_sha256_is_overwritten(name):
    headers = _sign(headers={"Content-Type": "application/json", name: "required"})
    assert _get(headers, "x-amz-content-sha256") == [hashlib.sha256(BODY).hexdigest()]
    _, signature = _expected_signature(headers, BODY, None)
    assert _parts(headers)["signature"] == signature


def test_connector_headers_are_kept_and_signed():
    headers = _sign(headers={"Content-Type": "application/json", "X-Custom": "v"})
    assert _get(headers, "X-Custom") == ["v"]
    assert _get(headers, "Content-Type") == ["application/json"]
    assert "x-custom" in _parts(headers)["signed"].split(";")


def test_no_session_token_means_no_security_token_header():
    headers = _sign()
    assert _get(headers, "X-Amz-Security-Token") == []
    assert "x-amz-security-token" not in _parts(headers)["signed"]


def test_session_token_is_sent_and_signed():
    headers = _sign(token="SESSION-TOKEN")
    assert _get(headers, "X-Amz-Security-Token") == ["SESSION-TOKEN"]
    assert "x-amz-security-token" in _parts(headers)["signed"].split(";")


@pytest.mark.parametrize("token", [None, "SESSION-TOKEN"])
@pytest.mark.parametrize(("method", "body"), [("POST", BODY), ("GET", b""), ("put", b"{}")])
def test_signature_verifies_independently(token, method, body):
    headers = _sign(body=body, token=token, method=method)
    signed_headers, signature = _expected_signature(headers, body, token, method.upper())
    parts = _parts(headers)
    assert parts["signed"] == signed_headers
    assert parts["signature"] == signature


def test_signature_does_not_verify_with_another_secret():
    headers = _sign()
    unsigned = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    request = AWSRequest(method="POST", url=URL, data=BODY, headers=unsigned)
    request.context["timestamp"] = "20240229T123456Z"
    auth = SigV4Auth(Credentials("AKID", "OTHER"), SERVICE, REGION)
    other = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    assert _parts(headers)["signature"] != other


def test_signature_depends_on_the_body():
    first, again = _parts(_sign(body=b'{"a":1}')), _parts(_sign(body=b'{"a":1}'))
    changed = _parts(_sign(body=b'{"a":2}'))
    assert first["signature"] == again["signature"]  # deterministic at a fixed time
    assert changed["signature"] != first["signature"]


def test_input_headers_are_not_mutated():
    supplied = {"Content-Type": "application/json", "x-amz-content-sha256": "required"}
    _sign(headers=supplied)
    assert supplied == {"Content-Type": "application/json", "x-amz-content-sha256": "required"}
