"""Tests for common.connectors and common.endpoints: connector rules (spec 3.1) and URL policy."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from common import connectors as rules
from common.cluster_settings import DEFAULT_TRUSTED_ENDPOINTS
from common.crypto import CredentialCipher
from common.endpoints import UNTRUSTED, is_private_address, is_trusted, require_trusted
from common.errors import IllegalArgumentError
from common.records import to_wire
from common.request_rules import USERINFO

TRUSTED = tuple(DEFAULT_TRUSTED_ENDPOINTS)
KEY = base64.b64encode(bytes(range(32))).decode("ascii")


def _http_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "OpenAI Connector",
        "version": 1,
        "protocol": "http",
        "parameters": {"endpoint": "api.openai.com", "max_tokens": 7, "temperature": 0.0},
        "credential": {"openAI_key": "sk-secret"},
        "actions": [
            {
                "action_type": "predict",
                "method": "POST",
                "url": "https://${parameters.endpoint}/v1/completions",
                "headers": {"Authorization": "Bearer ${credential.openAI_key}"},
                "request_body": '{"prompt":"${parameters.prompt}"}',
            }
        ],
    }
    body.update(overrides)
    return body


def _aws_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "SageMaker",
        "version": "1",
        "protocol": "aws_sigv4",
        "parameters": {"region": "us-west-2", "service_name": "sagemaker"},
        "credential": {"access_key": "AKID", "secret_key": "SECRET"},
        "actions": [],
    }
    body.update(overrides)
    return body


def _reason(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(IllegalArgumentError) as caught:
        call(*args, **kwargs)
    assert caught.value.status == 400
    return caught.value.reason


# check_required


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Connector name is null"),
        ({"version": 1, "protocol": "http", "credential": {"k": "v"}}, "Connector name is null"),
        ({"name": "n", "protocol": "http", "credential": {"k": "v"}}, "Connector version is null"),
        ({"name": "n", "version": 1}, "Connector protocol is null"),
        ({"name": "n", "version": 1, "credential": {"k": "v"}}, "Connector protocol is null"),
        (
            {"name": "n", "version": 1, "protocol": "http"},
            "Connector credential is null or empty list",
        ),
        (
            {"name": "n", "version": 1, "protocol": "http", "credential": {}},
            "Connector credential is null or empty list",
        ),
        (
            {"name": "n", "version": 1, "protocol": "grpc"},
            "Connector credential is null or empty list",
        ),
        (
            {"name": "n", "version": 1, "protocol": "grpc", "credential": {"k": "v"}},
            "Unsupported connector protocol. Please use one of [aws_sigv4, http]",
        ),
        (
            {"name": "n", "version": 1, "protocol": "HTTP", "credential": {"k": "v"}},
            "Unsupported connector protocol. Please use one of [aws_sigv4, http]",
        ),
    ],
)
def test_check_required_order_and_messages(body, message):
    assert _reason(rules.check_required, body, standalone=True) == message


@pytest.mark.parametrize("protocol", ["http", "aws_sigv4"])
def test_check_required_accepts_a_complete_connector(protocol):
    rules.check_required(_http_body(protocol=protocol), standalone=True)


def test_check_required_accepts_version_zero():
    rules.check_required(_http_body(version=0), standalone=True)


def test_inline_connector_needs_only_a_protocol():
    rules.check_required({"protocol": "http"}, standalone=False)
    assert _reason(rules.check_required, {"name": "n"}, standalone=False) == (
        "connector protocol is null"
    )


def test_inline_connector_protocol_must_be_supported():
    assert _reason(rules.check_required, {"protocol": "mcp_sse"}, standalone=False) == (
        "Unsupported connector protocol. Please use one of [aws_sigv4, http]"
    )


# check_aws


@pytest.mark.parametrize(
    ("credential", "parameters", "message"),
    [
        ({}, {"region": "r", "service_name": "s"}, "Missing credential"),
        ({"access_key": "a"}, {"region": "r", "service_name": "s"}, "Missing credential"),
        ({"secret_key": "s"}, {"region": "r", "service_name": "s"}, "Missing credential"),
        ({"access_key": "a", "secret_key": "s"}, {"region": "r"}, "Missing service name"),
        ({"access_key": "a", "secret_key": "s"}, {}, "Missing service name"),
        ({"access_key": "a", "secret_key": "s"}, {"service_name": "s"}, "Missing region"),
    ],
)
def test_check_aws_messages(credential, parameters, message):
    body = _aws_body(credential=credential, parameters=parameters)
    assert _reason(rules.check_aws, body) == message


@pytest.mark.parametrize(
    ("credential_extra", "parameters"),
    [
        ({}, {"region": "r", "service_name": "s"}),
        ({"region": "r", "service_name": "s"}, {}),
        ({"region": "r"}, {"service_name": "s"}),
        ({"service_name": "s"}, {"region": "r"}),
    ],
)
def test_check_aws_region_and_service_from_parameters_or_credential(credential_extra, parameters):
    credential = {"access_key": "a", "secret_key": "s", **credential_extra}
    rules.check_aws(_aws_body(credential=credential, parameters=parameters))


def test_check_aws_handles_missing_maps():
    body = _aws_body()
    del body["parameters"]
    body["credential"] = None
    assert _reason(rules.check_aws, body) == "Missing credential"


def test_check_aws_ignores_http_connectors():
    rules.check_aws({"protocol": "http", "credential": {}, "parameters": {}})


# check_actions


def test_check_actions_accepts_a_trusted_url_after_parameter_filling():
    rules.check_actions(_http_body(), TRUSTED)


@pytest.mark.parametrize(
    "endpoint",
    ["evil.com", "api.openai.com.evil.com", "API.OPENAI.COM"],
)
def test_check_actions_refuses_an_untrusted_url(endpoint):
    body = _http_body(parameters={"endpoint": endpoint})
    reason = _reason(rules.check_actions, body, TRUSTED)
    assert reason == "Connector URL is not matching the trusted connector endpoint regex"


def test_check_actions_refuses_user_info_before_matching():
    # "trusted-host@other-host" must not pass a regex written for trusted-host.
    body = _http_body(parameters={"endpoint": "api.openai.com:443@evil.com"})
    assert _reason(rules.check_actions, body, (r"^https://api\.openai\.com.*$",)) == USERINFO


def test_check_actions_unfilled_parameter_is_not_trusted():
    body = _http_body(parameters={})
    assert _reason(rules.check_actions, body, (r"^https://api\.openai\.com/.*$",)) == UNTRUSTED


def test_check_actions_checks_every_action():
    body = _http_body()
    body["actions"].append({"action_type": "execute", "method": "POST", "url": "https://x.io/"})
    assert _reason(rules.check_actions, body, TRUSTED) == UNTRUSTED


def test_check_actions_missing_actions():
    body = _http_body()
    del body["actions"]
    assert _reason(rules.check_actions, body, TRUSTED) == "No actions configured for this connector"


def test_check_actions_empty_action_list_passes():
    rules.check_actions(_http_body(actions=[]), TRUSTED)


def test_check_actions_empty_regex_list():
    assert _reason(rules.check_actions, _http_body(), ()) == (
        "Trusted connector endpoints regex is not configured. "
        "Please set plugins.ml_commons.trusted_connector_endpoints_regex."
    )


def test_check_actions_refuses_parameters_in_sensitive_headers():
    body = _http_body()
    body["actions"][0]["headers"] = {"Authorization": "Bearer ${parameters.token}"}
    reason = _reason(rules.check_actions, body, TRUSTED)
    assert reason.startswith("Header 'Authorization' cannot use ${parameters.*} placeholders")


def test_check_actions_allows_parameters_in_custom_headers():
    body = _http_body()
    body["actions"][0]["headers"] = {"X-Custom": "${parameters.model}"}
    rules.check_actions(body, TRUSTED)


# check_access_fields


@pytest.mark.parametrize(
    "extra",
    [
        {"access_mode": "public"},
        {"add_all_backend_roles": True},
        {"add_all_backend_roles": False},
        {"backend_roles": ["role"]},
    ],
)
def test_check_access_fields_refused(extra):
    assert _reason(rules.check_access_fields, _http_body(**extra)) == rules.ACCESS_FIELDS_MESSAGE
    assert rules.ACCESS_FIELDS_MESSAGE == (
        "You cannot specify connector access control parameters because the Security plugin "
        "or connector access control is disabled on your cluster."
    )


@pytest.mark.parametrize("extra", [{}, {"backend_roles": []}, {"access_mode": None}])
def test_check_access_fields_allowed(extra):
    rules.check_access_fields(_http_body(**extra))


# build_document


def _document(body, cipher, stamp):
    """The stored connector as its wire JSON (what Redis holds and GET shows)."""
    return to_wire(rules.build_document(body, cipher, stamp))


def test_build_document_shapes_the_stored_connector():
    cipher = CredentialCipher(KEY)
    doc = _document(_http_body(description="d"), cipher, 1700000000000)
    assert list(doc) == [
        "name",
        "version",
        "description",
        "protocol",
        "parameters",
        "credential",
        "actions",
        "created_time",
        "last_updated_time",
    ]
    assert doc["version"] == "1"
    assert doc["parameters"] == {
        "endpoint": "api.openai.com",
        "max_tokens": "7",
        "temperature": "0.0",
    }
    assert doc["actions"] == [
        {
            "action_type": "PREDICT",
            "method": "POST",
            "url": "https://${parameters.endpoint}/v1/completions",
            "headers": {"Authorization": "Bearer ${credential.openAI_key}"},
            "request_body": '{"prompt":"${parameters.prompt}"}',
        }
    ]
    assert doc["created_time"] == doc["last_updated_time"] == 1700000000000
    assert "client_config" not in doc


def test_build_document_encrypts_credentials():
    cipher = CredentialCipher(KEY)
    doc = _document(_http_body(credential={"a": "sk-secret", "n": 5}), cipher, 1)
    assert set(doc["credential"]) == {"a", "n"}
    assert "sk-secret" not in str(doc)
    assert cipher.decrypt(doc["credential"]) == {"a": "sk-secret", "n": "5"}


@pytest.mark.parametrize(
    ("version", "text"), [(1, "1"), ("2.0", "2.0"), (1.5, "1.5"), (True, "true")]
)
def test_build_document_version_is_text(version, text):
    assert _document(_http_body(version=version), CredentialCipher(KEY), 1)["version"] == text


@pytest.mark.parametrize("action_type", ["predict", "Predict", "batch_predict", "EXECUTE"])
def test_build_document_upper_cases_action_type(action_type):
    body = _http_body()
    body["actions"][0]["action_type"] = action_type
    doc = _document(body, CredentialCipher(KEY), 1)
    assert doc["actions"][0]["action_type"] == action_type.upper()


def test_build_document_drops_absent_optional_action_fields():
    action = {"action_type": "predict", "method": "GET", "url": "https://u", "headers": None}
    doc = _document(_http_body(actions=[action]), CredentialCipher(KEY), 1)
    assert doc["actions"] == [{"action_type": "PREDICT", "method": "GET", "url": "https://u"}]


def test_build_document_fills_client_config_defaults_when_given():
    body = _http_body(client_config={"max_connection": 5, "read_timeout": 9})
    doc = _document(body, CredentialCipher(KEY), 1)
    assert list(doc)[-1] == "client_config"
    assert doc["client_config"] == {
        "max_connection": 5,
        "connection_timeout": 30,
        "read_timeout": 9,
        "retry_backoff_millis": 200,
        "retry_timeout_seconds": 30,
        "max_retry_times": 0,
        "retry_backoff_policy": "constant",
        "skip_ssl_verification": False,
    }


def test_build_document_empty_client_config_gets_all_defaults():
    doc = _document(_http_body(client_config={}), CredentialCipher(KEY), 1)
    assert doc["client_config"] == {
        "max_connection": 30,
        "connection_timeout": 30,
        "read_timeout": 30,
        "retry_backoff_millis": 200,
        "retry_timeout_seconds": 30,
        "max_retry_times": 0,
        "retry_backoff_policy": "constant",
        "skip_ssl_verification": False,
    }


def test_build_document_inline_connector_without_name_or_version():
    body = {"protocol": "http", "actions": []}
    doc = _document(body, CredentialCipher(KEY), 1)
    assert "name" not in doc
    assert "version" not in doc
    assert "description" not in doc
    assert doc["parameters"] == {}
    assert doc["credential"] == {}


def test_build_document_does_not_change_the_body():
    body = _http_body(client_config={"max_connection": 5})
    before = copy.deepcopy(body)
    _document(body, CredentialCipher(KEY), 1)
    assert body == before


# public_view


def test_public_view_drops_only_the_credential():
    connector = rules.build_document(_http_body(), CredentialCipher(KEY), 1)
    doc = to_wire(connector)
    view = rules.public_view(connector)
    assert "credential" not in view
    assert view == {k: v for k, v in doc.items() if k != "credential"}
    assert "credential" in doc


# endpoints.is_trusted / require_trusted


@pytest.mark.parametrize(
    ("url", "patterns", "expected"),
    [
        ("https://api.openai.com/v1/x", [r"^https://api\.openai\.com/.*$"], True),
        ("https://api.openai.com/v1/x", [r"https://api\.openai\.com/.*"], True),
        ("https://api.openai.com/v1/x", [r"https://api\.openai\.com"], False),
        ("https://api.openai.com.evil.com/x", [r"https://api\.openai\.com"], False),
        ("https://evil.com/?u=https://api.openai.com/", [r"https://api\.openai\.com/.*"], False),
        ("https://api.openai.com/v1/x", [r"openai"], False),
        ("https://api.openai.com/v1/x", [r"^x$", r"^.*$"], True),
        ("https://api.openai.com/v1/x", [], False),
        ("http://127.0.0.1:8080/v1", (r"^http://127\.0\.0\.1:\d+/.*$",), True),
    ],
)
def test_is_trusted_is_a_full_match(url, patterns, expected):
    assert is_trusted(url, patterns) is expected


def test_require_trusted():
    require_trusted("https://api.openai.com/v1", TRUSTED)
    assert _reason(require_trusted, "https://evil.com/", TRUSTED) == UNTRUSTED


# endpoints.is_private_address


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", True),
        ("127.5.6.7", True),
        ("10.0.0.1", True),
        ("10.255.255.255", True),
        ("172.16.0.1", True),
        ("172.31.255.255", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("0.0.0.0", True),
        ("::1", True),
        ("::", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:10.1.2.3", True),
        ("fe80::1%eth0", True),
        ("8.8.8.8", False),
        ("1.1.1.1", False),
        ("172.32.0.1", False),
        ("172.15.255.255", False),
        ("192.169.0.1", False),
        ("11.0.0.1", False),
        ("::ffff:8.8.8.8", False),
        ("2001:4860:4860::8888", False),
    ],
)
def test_is_private_address(address, expected):
    assert is_private_address(address) is expected


def test_non_string_parameter_in_url_is_stringified_before_the_trust_check() -> None:
    body = {
        "parameters": {"port": 443},
        "actions": [
            {
                "action_type": "predict",
                "method": "POST",
                "url": "https://api.openai.com:${parameters.port}/v1/x",
            }
        ],
    }
    rules.check_actions(body, (r"^https://api\.openai\.com:443/.*$",))
    with pytest.raises(IllegalArgumentError, match="not matching the trusted"):
        rules.check_actions(body, (r"^https://api\.openai\.com/.*$",))


def test_ipv6_site_local_is_private() -> None:
    assert is_private_address("fec0::1")
