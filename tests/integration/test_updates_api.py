"""PUT connectors, models and model_groups: ML Commons' rules, and what predicts see."""

from __future__ import annotations

import uuid
from typing import Any

from msgspec import structs

from common.records import MLModel, MLModelState
from tests.integration.cluster import Cluster, MockUpstream, connector_body

INDEX_FIELDS = {"_index", "_id", "_version", "result", "_shards", "_seq_no", "_primary_term"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def echo_connector(mock: MockUpstream, **overrides: Any) -> dict[str, Any]:
    """A connector whose upstream (/post) echoes the request it got, headers included."""
    action = {
        "action_type": "predict",
        "method": "POST",
        "url": "http://${parameters.endpoint}/post",
        "headers": {"x-key": "${credential.key}", "x-tag": "${parameters.tag}"},
        "request_body": '{"text": "${parameters.text}"}',
    }
    body: dict[str, Any] = {
        "name": "echo",
        "version": 1,
        "protocol": "http",
        "parameters": {"endpoint": mock.host, "tag": "old-tag"},
        "credential": {"key": "old-secret"},
        "actions": [action],
    }
    body.update(overrides)
    return body


def echoed(gw: Cluster, model_id: str, **parameters: Any) -> dict[str, Any]:
    answer = gw.predict(model_id, {"text": "hi", **parameters})
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["inference_results"][0]["output"][0]["dataAsMap"]
    return data


def reason(response: Any) -> str:
    return str(response.json()["error"]["reason"])


def test_connector_update_merges_parameters_and_reseals_credentials(
    gw: Cluster, mock: MockUpstream
) -> None:
    connector_id = gw.ok("POST", "/_plugins/_ml/connectors/_create", echo_connector(mock))[
        "connector_id"
    ]
    before = gw.store.connectors.get(connector_id)
    answer = gw.ok(
        "PUT",
        f"/_plugins/_ml/connectors/{connector_id}",
        {"description": "d2", "parameters": {"tag": 7}, "credential": {"key": "new-secret"}},
    )
    assert set(answer) >= INDEX_FIELDS and answer["result"] == "updated"
    assert answer["_index"] == ".plugins-ml-connector" and answer["_id"] == connector_id
    got = gw.ok("GET", f"/_plugins/_ml/connectors/{connector_id}")
    assert got["parameters"] == {"endpoint": mock.host, "tag": "7"}  # merged, stringified
    assert got["description"] == "d2" and got["name"] == "echo" and "credential" not in got
    stored = gw.store.connectors.get(connector_id)
    assert before is not None and stored is not None
    assert stored.credential["key"] not in ("new-secret", before.credential["key"])
    model_id = gw.register(connector_id, unique("echo"), deploy=False)
    headers = echoed(gw, model_id)["headers"]
    assert headers["x-key"] == "new-secret" and headers["x-tag"] == "7"


def test_connector_update_errors(gw: Cluster, mock: MockUpstream) -> None:
    connector_id = gw.ok("POST", "/_plugins/_ml/connectors/_create", echo_connector(mock))[
        "connector_id"
    ]
    path = f"/_plugins/_ml/connectors/{connector_id}"
    empty = gw.call("PUT", path)
    assert empty.status_code == 400 and empty.json()["error"]["type"] == "parse_exception"
    assert reason(empty) == "Failed to update connector: Request body is empty"
    missing = gw.call("PUT", "/_plugins/_ml/connectors/nope", {"name": "x"})
    assert missing.status_code == 404
    assert reason(missing) == "Failed to find connector with the provided connector id: nope"
    untrusted = gw.call("PUT", path, {"parameters": {"endpoint": "api.evil.com"}})
    assert untrusted.status_code == 400
    assert reason(untrusted) == "Connector URL is not matching the trusted connector endpoint regex"
    access = gw.call("PUT", path, {"access_mode": "public"})
    assert access.status_code == 400 and "Security plugin" in reason(access)
    bad_protocol = gw.call("PUT", path, {"protocol": "ftp"})
    assert bad_protocol.status_code == 400 and "Unsupported connector protocol" in reason(
        bad_protocol
    )
    # None of the refused updates changed anything.
    assert gw.ok("GET", path)["parameters"]["endpoint"] == mock.host

    model_id = gw.register(connector_id, unique("busy"))
    gw.deploy(model_id)
    busy = gw.call("PUT", path, {"parameters": {"tag": "x"}})
    assert busy.status_code == 400 and busy.json()["error"]["type"] == "status_exception"
    assert reason(busy) == (
        f"1 models are still using this connector, please undeploy the models first: [{model_id}]"
    )
    gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_undeploy")
    assert gw.ok("PUT", path, {"parameters": {"tag": "x"}})["result"] == "updated"


def test_model_update_fields_and_errors(gw: Cluster, mock: MockUpstream) -> None:
    connector_id = gw.ok("POST", "/_plugins/_ml/connectors/_create", echo_connector(mock))[
        "connector_id"
    ]
    model_id = gw.register(connector_id, unique("m"))
    path = f"/_plugins/_ml/models/{model_id}"
    answer = gw.ok(
        "PUT",
        path,
        {
            "name": "renamed",
            "description": "new",
            "rate_limiter": {"limit": 4, "unit": "minutes"},
            "deploy_setting": {"model_ttl_minutes": 5},
        },
    )
    assert answer["result"] == "updated" and answer["_index"] == ".plugins-ml-model"
    model = gw.ok("GET", path)
    assert (model["name"], model["description"]) == ("renamed", "new")
    assert model["rate_limiter"] == {"limit": "4", "unit": "MINUTES"}
    assert model["deploy_setting"] == {"model_ttl_minutes": 5}
    assert gw.store.model_access.ttls()[model_id] == 5
    gw.ok(
        "PUT", path, {"rate_limiter": {"limit": "9"}, "deploy_setting": {"model_ttl_minutes": -1}}
    )
    model = gw.ok("GET", path)
    assert model["rate_limiter"] == {"limit": "9", "unit": "MINUTES"}  # unit kept
    assert model_id not in gw.store.model_access.ttls()

    cases = [
        ("/_plugins/_ml/models/nope", {"name": "x"}, 404, None),
        (path, None, 400, "Update model request has empty body"),
        (path, {"connector": {"name": "c"}}, 400, None),
        (path, {"connector_id": "nope"}, 404, "Failed to find connector:nope"),
        (path, {"model_group_id": "nogroup"}, 404, None),
    ]
    for target, body, status, text in cases:
        response = gw.call("PUT", target, body)
        assert response.status_code == status, response.text
        if text is not None:
            assert reason(response) == text
    assert reason(gw.call("PUT", "/_plugins/_ml/models/nope", {"name": "x"})) == (
        "Failed to find model to update with the provided model id: nope"
    )
    assert reason(gw.call("PUT", path, {"connector": {"name": "c"}})).startswith(
        "Cannot update connector settings for this model."
    )
    both = gw.call("PUT", path, {"connector": {"name": "c"}, "connector_id": connector_id})
    assert both.status_code == 400 and "both stand-alone connector" in reason(both)


def test_update_is_refused_while_deploying(gw: Cluster, mock: MockUpstream) -> None:
    connector_id = gw.ok("POST", "/_plugins/_ml/connectors/_create", echo_connector(mock))[
        "connector_id"
    ]
    model_id = gw.register(connector_id, unique("deploying"))
    gw.store.models.update(model_id, lambda m: _with_state(m, "DEPLOYING"))
    refused = gw.call("PUT", f"/_plugins/_ml/models/{model_id}", {"name": "x"})
    assert refused.status_code == 409, refused.text
    assert reason(refused) == (
        f"Model is deploying. Please wait for the model to complete deployment. model ID {model_id}"
    )
    gw.store.models.update(model_id, lambda m: _with_state(m, "REGISTERED"))


def _with_state(model: MLModel, state: str) -> MLModel:
    return structs.replace(model, model_state=MLModelState(state))


def test_inline_connector_update_reaches_a_deployed_model_at_once(
    gw: Cluster, mock: MockUpstream
) -> None:
    answer = gw.ok(
        "POST",
        "/_plugins/_ml/models/_register",
        {"name": unique("inline"), "function_name": "remote", "connector": echo_connector(mock)},
    )
    model_id = answer["model_id"]
    gw.task(answer["task_id"])
    gw.deploy(model_id)
    assert echoed(gw, model_id)["headers"]["x-tag"] == "old-tag"
    path = f"/_plugins/_ml/models/{model_id}"
    gw.ok("PUT", path, {"connector": {"parameters": {"tag": "new-tag"}}})
    # The very next predict, on whichever node takes it, uses the new connector.
    for _ in range(4):
        assert echoed(gw, model_id)["headers"]["x-tag"] == "new-tag"
    gw.ok("PUT", path, {"connector": {"credential": {"key": "rotated"}}})
    assert echoed(gw, model_id)["headers"]["x-key"] == "rotated"
    model = gw.call("GET", path)
    assert "rotated" not in model.text and "credential" not in model.json()["connector"]
    assert model.json()["model_state"] == "DEPLOYED"
    not_inline = gw.call("PUT", path, {"connector_id": "whatever"})
    assert reason(not_inline) == (
        "This remote does not have a connector_id field, maybe it uses an internal connector."
    )
    gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_undeploy")


def test_connector_id_switch_and_enable_flags_apply_to_the_next_predict(
    gw: Cluster, mock: MockUpstream
) -> None:
    first = gw.ok("POST", "/_plugins/_ml/connectors/_create", echo_connector(mock))["connector_id"]
    second_body = echo_connector(mock, parameters={"endpoint": mock.host, "tag": "second"})
    second = gw.ok("POST", "/_plugins/_ml/connectors/_create", second_body)["connector_id"]
    model_id = gw.register(first, unique("switch"))
    gw.deploy(model_id)
    assert echoed(gw, model_id)["headers"]["x-tag"] == "old-tag"
    path = f"/_plugins/_ml/models/{model_id}"
    gw.ok("PUT", path, {"connector_id": second})
    assert echoed(gw, model_id)["headers"]["x-tag"] == "second"

    gw.ok("PUT", path, {"is_enabled": False})
    disabled = gw.predict(model_id, {"text": "hi"})
    assert disabled.status_code == 403, disabled.text
    gw.ok("PUT", path, {"is_enabled": True, "rate_limiter": {"limit": "0", "unit": "SECONDS"}})
    throttled = gw.predict(model_id, {"text": "hi"})
    assert (
        throttled.status_code == 429 and reason(throttled) == "Request is throttled at model level."
    )
    gw.ok("PUT", path, {"rate_limiter": {"limit": "1000"}})
    assert gw.predict(model_id, {"text": "hi"}).status_code == 200
    gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_undeploy")


def test_model_config_update_is_kept_and_checked(gw: Cluster, mock: MockUpstream) -> None:
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    model_id = gw.register(connector_id, unique("cfg"))
    path = f"/_plugins/_ml/models/{model_id}"
    refused = gw.call("PUT", path, {"model_config": {"model_type": "text_embedding"}})
    assert refused.status_code == 400
    assert reason(refused) == "Embedding dimension must be provided for remote text embedding model"
    config = {
        "model_type": "text_embedding",
        "embedding_dimension": 1536,
        "framework_type": "SENTENCE_TRANSFORMERS",
        "additional_config": {"space_type": "l2"},
    }
    gw.ok("PUT", path, {"model_config": config})
    assert gw.ok("GET", path)["model_config"] == config


def test_model_group_update(gw: Cluster) -> None:
    first_name, taken = unique("group"), unique("taken")
    group_id = gw.ok("POST", "/_plugins/_ml/model_groups/_register", {"name": first_name})[
        "model_group_id"
    ]
    other = gw.ok("POST", "/_plugins/_ml/model_groups/_register", {"name": taken})["model_group_id"]
    path = f"/_plugins/_ml/model_groups/{group_id}"
    renamed = unique("renamed")
    assert gw.ok("PUT", path, {"name": renamed, "description": "d"}) == {"status": "Updated"}
    group = gw.ok("GET", path)
    assert (group["name"], group["description"]) == (renamed, "d")
    # The old name is free again, the new one is held.
    gw.ok("POST", "/_plugins/_ml/model_groups/_register", {"name": first_name})
    duplicate = gw.call("PUT", path, {"name": taken})
    assert duplicate.status_code == 400
    assert reason(duplicate) == (
        f"The name you provided is already being used by another model with ID: {other}. "
        "Please provide a different name"
    )
    access = gw.call("PUT", path, {"access_mode": "private"})
    assert access.status_code == 400 and "model access control" in reason(access)
    missing = gw.call("PUT", "/_plugins/_ml/model_groups/nope", {"name": unique("x")})
    assert missing.status_code == 404
    assert reason(missing) == "Failed to find model group with the provided model group id: nope"
    assert gw.ok("PUT", path, {"name": "  ", "description": ""}) == {"status": "Updated"}
    assert gw.ok("GET", path)["name"] == renamed


def test_moving_a_model_to_another_group_makes_it_the_next_version(
    gw: Cluster, mock: MockUpstream
) -> None:
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    target = gw.ok("POST", "/_plugins/_ml/model_groups/_register", {"name": unique("target")})[
        "model_group_id"
    ]
    model_id = gw.register(connector_id, unique("mover"))
    gw.ok("PUT", f"/_plugins/_ml/models/{model_id}", {"model_group_id": target})
    model = gw.ok("GET", f"/_plugins/_ml/models/{model_id}")
    assert (model["model_group_id"], model["model_version"]) == (target, "1")
    assert gw.ok("GET", f"/_plugins/_ml/model_groups/{target}")["latest_version"] == 1


def test_three_registrations_into_one_group_number_its_versions(
    gw: Cluster, mock: MockUpstream
) -> None:
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    group_id = gw.ok("POST", "/_plugins/_ml/model_groups/_register", {"name": unique("v")})[
        "model_group_id"
    ]
    versions = []
    for _ in range(3):
        answer = gw.ok(
            "POST",
            "/_plugins/_ml/models/_register",
            {
                "name": unique("version"),
                "function_name": "remote",
                "model_group_id": group_id,
                "connector_id": connector_id,
            },
        )
        versions.append(gw.ok("GET", f"/_plugins/_ml/models/{answer['model_id']}")["model_version"])
    assert versions == ["1", "2", "3"]
    assert gw.ok("GET", f"/_plugins/_ml/model_groups/{group_id}")["latest_version"] == 3


def test_a_connector_with_two_actions(gw: Cluster, mock: MockUpstream) -> None:
    execute = {
        "action_type": "Execute",
        "method": "POST",
        "url": "http://${parameters.endpoint}/post",
        "headers": {"x-action": "execute"},
        "request_body": '{"run": "${parameters.text}"}',
    }
    body = echo_connector(mock)
    body["actions"] = [*body["actions"], execute]
    connector_id = gw.ok("POST", "/_plugins/_ml/connectors/_create", body)["connector_id"]
    got = gw.ok("GET", f"/_plugins/_ml/connectors/{connector_id}")
    assert [a["action_type"] for a in got["actions"]] == ["PREDICT", "EXECUTE"]
    model_id = gw.register(connector_id, unique("two"))
    gw.deploy(model_id)
    predict_path = f"/_plugins/_ml/models/{model_id}/_predict"
    default = gw.ok("POST", predict_path, {"parameters": {"text": "a"}})
    assert default["inference_results"][0]["output"][0]["dataAsMap"]["json"] == {"text": "a"}
    ran = gw.ok("POST", predict_path, {"parameters": {"text": "b"}, "action_type": "execute"})
    data = ran["inference_results"][0]["output"][0]["dataAsMap"]
    assert data["json"] == {"run": "b"} and data["headers"]["x-action"] == "execute"
    absent = gw.call("POST", predict_path, {"parameters": {}, "action_type": "batch_predict"})
    assert absent.status_code == 400 and reason(absent) == "no BATCH_PREDICT action found"
    gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_undeploy")


def test_connector_update_replaces_actions(gw: Cluster, mock: MockUpstream) -> None:
    connector_id = gw.ok("POST", "/_plugins/_ml/connectors/_create", echo_connector(mock))[
        "connector_id"
    ]
    new_action = {**connector_body()["actions"][0], "url": "http://${parameters.endpoint}/post"}
    gw.ok("PUT", f"/_plugins/_ml/connectors/{connector_id}", {"actions": [new_action]})
    got = gw.ok("GET", f"/_plugins/_ml/connectors/{connector_id}")
    assert got["actions"][0]["headers"] == {"Authorization": "Bearer ${credential.openAI_key}"}
