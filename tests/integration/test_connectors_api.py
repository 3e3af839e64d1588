"""Connector create/get/validation, credentials encrypted at rest."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.cluster import Cluster, MockUpstream, connector_body

SECRET = "sk-test-secret-value"


def test_create_and_get_hide_credentials_and_stringify(gw: Cluster, mock: MockUpstream) -> None:
    body = connector_body(
        parameters={
            "endpoint": mock.host,
            "model": "gpt-3.5-turbo",
            "max_tokens": 7,
            "temperature": 0.5,
        }
    )
    connector_id = gw.ok("POST", "/_plugins/_ml/connectors/_create", body)["connector_id"]
    got = gw.ok("GET", f"/_plugins/_ml/connectors/{connector_id}")
    assert got["version"] == "1"
    assert got["parameters"]["max_tokens"] == "7" and got["parameters"]["temperature"] == "0.5"
    assert got["actions"][0]["action_type"] == "PREDICT"
    assert got["actions"][0]["headers"] == {"Authorization": "Bearer ${credential.openAI_key}"}
    assert (
        "credential" not in got
        and SECRET not in gw.call("GET", f"/_plugins/_ml/connectors/{connector_id}").text
    )
    raw = gw.store.redis.get(gw.store.key("connector", connector_id))
    assert raw is not None and SECRET not in raw and "openAI_key" in raw
    searched = gw.ok("POST", "/_plugins/_ml/connectors/_search", {"query": {"match_all": {}}})
    assert SECRET not in str(searched) and searched["hits"]["total"]["value"] >= 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"name": None}, "Connector name is null"),
        ({"version": None}, "Connector version is null"),
        ({"protocol": None}, "Connector protocol is null"),
        ({"credential": {}}, "Connector credential is null or empty list"),
        (
            {"protocol": "grpc"},
            "Unsupported connector protocol. Please use one of [aws_sigv4, http]",
        ),
        (
            {"parameters": {"endpoint": "evil.example.com"}},
            "Connector URL is not matching the trusted connector endpoint regex",
        ),
        (
            {"backend_roles": ["ops"]},
            "You cannot specify connector access control parameters because the Security plugin "
            "or connector access control is disabled on your cluster.",
        ),
        ({"protocol": "aws_sigv4"}, "Missing credential"),
        (
            {"protocol": "aws_sigv4", "credential": {"access_key": "a", "secret_key": "b"}},
            "Missing service name",
        ),
        (
            {
                "protocol": "aws_sigv4",
                "credential": {"access_key": "a", "secret_key": "b"},
                "parameters": {"service_name": "sagemaker", "endpoint": "127.0.0.1:1"},
            },
            "Missing region",
        ),
    ],
)
def test_invalid_connectors_are_400(gw: Cluster, change: dict[str, Any], reason: str) -> None:
    body = {k: v for k, v in {**connector_body(), **change}.items() if v is not None}
    response = gw.call("POST", "/_plugins/_ml/connectors/_create", body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["reason"] == reason
    assert response.json()["error"]["root_cause"][0]["reason"] == reason


def test_action_without_url_and_empty_body(gw: Cluster) -> None:
    body = connector_body(actions=[{"action_type": "predict", "method": "POST"}])
    response = gw.call("POST", "/_plugins/_ml/connectors/_create", body)
    assert response.status_code == 400 and "url can't be null" in response.json()["error"]["reason"]
    empty = gw.call("POST", "/_plugins/_ml/connectors/_create")
    assert empty.status_code == 400
    assert empty.json()["error"]["reason"] == "Create Connector request has empty body"


def test_missing_connector_is_404(gw: Cluster) -> None:
    response = gw.call("GET", "/_plugins/_ml/connectors/nope")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "root_cause": [
            {
                "type": "status_exception",
                "reason": "Failed to find connector with the provided connector id: nope",
            }
        ],
        "type": "status_exception",
        "reason": "Failed to find connector with the provided connector id: nope",
    }


def test_delete_connector_in_use_is_409(gw: Cluster, mock: MockUpstream) -> None:
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    model_id = gw.register(connector_id, "connector-in-use")
    response = gw.call("DELETE", f"/_plugins/_ml/connectors/{connector_id}")
    assert response.status_code == 409 and model_id in response.json()["error"]["reason"]
    gw.ok("DELETE", f"/_plugins/_ml/models/{model_id}")
    assert gw.ok("DELETE", f"/_plugins/_ml/connectors/{connector_id}")["result"] == "deleted"
    assert gw.ok("DELETE", f"/_plugins/_ml/connectors/{connector_id}")["result"] == "not_found"
