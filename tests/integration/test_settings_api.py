"""PUT/GET /_cluster/settings against the real API and Redis."""

from __future__ import annotations

import requests

from tests.integration.cluster import Cluster

KEY = "plugins.ml_commons.connector_access_control_enabled"


def test_put_echoes_changed_keys_nested_as_strings(gw: Cluster) -> None:
    answer = gw.ok("PUT", "/_cluster/settings", {"persistent": {KEY: True}})
    assert answer == {
        "acknowledged": True,
        "persistent": {"plugins": {"ml_commons": {"connector_access_control_enabled": "true"}}},
        "transient": {},
    }
    flat = gw.ok("GET", "/_cluster/settings", flat_settings="true")
    assert flat["persistent"][KEY] == "true"
    gw.ok("PUT", "/_cluster/settings", {"persistent": {KEY: None}})
    assert KEY not in gw.ok("GET", "/_cluster/settings", flat_settings="true")["persistent"]


def test_nested_body_and_flat_answer(gw: Cluster) -> None:
    body = {"transient": {"plugins": {"ml_commons": {"model_auto_deploy": {"enable": "false"}}}}}
    answer = gw.ok("PUT", "/_cluster/settings", body, flat_settings="true")
    assert answer["transient"] == {"plugins.ml_commons.model_auto_deploy.enable": "false"}
    gw.ok(
        "PUT",
        "/_cluster/settings",
        {"transient": {"plugins.ml_commons.model_auto_deploy.enable": None}},
    )


def test_unknown_key_and_bad_value_are_400_and_change_nothing(gw: Cluster) -> None:
    before = gw.ok("GET", "/_cluster/settings", flat_settings="true")
    unknown = gw.call(
        "PUT",
        "/_cluster/settings",
        {
            "persistent": {
                "plugins.ml_commons.only_run_on_ml_node": False,
                "plugins.ml_commons.foo": 1,
            }
        },
    )
    assert unknown.status_code == 400
    assert (
        unknown.json()["error"]["reason"]
        == "persistent setting [plugins.ml_commons.foo], not recognized"
    )
    bad = gw.call(
        "PUT",
        "/_cluster/settings",
        {"persistent": {"plugins.ml_commons.only_run_on_ml_node": "abc"}},
    )
    assert bad.status_code == 400
    assert bad.json() == {
        "error": {
            "root_cause": [
                {
                    "type": "illegal_argument_exception",
                    "reason": "Failed to parse value [abc] as only [true] or [false] are allowed.",
                }
            ],
            "type": "illegal_argument_exception",
            "reason": "Failed to parse value [abc] as only [true] or [false] are allowed.",
        },
        "status": 400,
    }
    assert gw.ok("GET", "/_cluster/settings", flat_settings="true") == before


def test_defaults_are_listed_on_request(gw: Cluster) -> None:
    answer = gw.ok("GET", "/_cluster/settings", flat_settings="true", include_defaults="true")
    defaults = answer["defaults"]
    assert defaults["plugins.ml_commons.only_run_on_ml_node"] == "true"
    assert defaults["plugins.ml_commons.connector.private_ip_enabled"] == "false"
    assert (
        "^https://api\\.openai\\.com/.*$"
        in defaults["plugins.ml_commons.trusted_connector_endpoints_regex"]
    )


def test_root_answers_like_opensearch(gw: Cluster) -> None:
    root = gw.ok("GET", "/")
    assert {"name", "cluster_name", "version", "tagline"} <= set(root)
    assert root["version"]["distribution"] == "opensearch"


def test_errors_raised_by_the_http_server_are_json_too(gw: Cluster) -> None:
    too_long = gw.call("GET", "/" + "a" * 9000)
    assert too_long.status_code == 414
    assert too_long.headers["Content-Type"].startswith("application/json")
    assert too_long.json()["status"] == 414 and too_long.json()["error"]["root_cause"]
    big_header = requests.get(gw.url + "/", headers={"X-Big": "b" * 9000}, timeout=10)
    assert (
        big_header.status_code in (400, 431)
        and big_header.json()["status"] == big_header.status_code
    )
    not_json = gw.call("GET", "/_plugins/_ml/nothing/here")
    assert not_json.json()["error"]["type"] == "illegal_argument_exception"
