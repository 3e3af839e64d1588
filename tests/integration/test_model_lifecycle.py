"""Model groups, register, tasks, deploy, undeploy and delete, as the seed pages walk them."""

from __future__ import annotations

import uuid

from tests.integration.cluster import Cluster, MockUpstream, connector_body

CHAT = {
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello!"},
    ]
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_model_group_register_get_and_duplicate(gw: Cluster) -> None:
    name = unique("remote_model_group")
    answer = gw.ok(
        "POST",
        "/_plugins/_ml/model_groups/_register",
        {"name": name, "description": "A model group for external models"},
    )
    assert answer["status"] == "CREATED" and len(answer["model_group_id"]) == 20
    group = gw.ok("GET", f"/_plugins/_ml/model_groups/{answer['model_group_id']}")
    assert group["name"] == name and group["latest_version"] == 0 and group["access"] == "public"
    again = gw.call("POST", "/_plugins/_ml/model_groups/_register", {"name": name})
    assert again.status_code == 400
    group_id = answer["model_group_id"]
    assert again.json()["error"]["reason"] == (
        f"The name you provided is already being used by a model group with ID: {group_id}."
    )
    assert gw.call("GET", "/_plugins/_ml/model_groups/missing").status_code == 404


def test_full_walk_register_deploy_predict_undeploy(gw: Cluster, mock: MockUpstream) -> None:
    group_id = gw.ok("POST", "/_plugins/_ml/model_groups/_register", {"name": unique("g")})[
        "model_group_id"
    ]
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "gpt-3.5-turbo"})
    registered = gw.ok(
        "POST",
        "/_plugins/_ml/models/_register",
        {
            "name": "openAI-gpt-3.5-turbo",
            "function_name": "remote",
            "model_group_id": group_id,
            "description": "test model",
            "connector_id": connector_id,
        },
    )
    assert registered["status"] == "CREATED" and set(registered) == {
        "task_id",
        "status",
        "model_id",
    }
    task = gw.task(registered["task_id"])
    ml_node = gw.node_id("ml-1")
    assert task == {
        "model_id": registered["model_id"],
        "task_type": "REGISTER_MODEL",
        "function_name": "REMOTE",
        "state": "COMPLETED",
        "worker_node": [ml_node],
        "create_time": task["create_time"],
        "last_update_time": task["last_update_time"],
        "is_async": False,
    }
    assert (
        task["create_time"] > 1_600_000_000_000 and task["last_update_time"] >= task["create_time"]
    )
    model_id = registered["model_id"]
    model = gw.ok("GET", f"/_plugins/_ml/models/{model_id}")
    assert model["model_state"] == "REGISTERED" and model["algorithm"] == "REMOTE"
    assert model["model_group_id"] == group_id and model["model_version"] == "1"

    deploy = gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_deploy")
    assert deploy["status"] == "COMPLETED"  # ML Commons 2.11+: remote deploys answer COMPLETED
    deploy_task = gw.task(deploy["task_id"])
    assert deploy_task["state"] == "COMPLETED" and deploy_task["task_type"] == "DEPLOY_MODEL"
    assert deploy_task["worker_node"] == [ml_node] and deploy_task["is_async"] is True
    assert gw.ok("GET", f"/_plugins/_ml/models/{model_id}")["model_state"] == "DEPLOYED"

    predicted = gw.predict(model_id, CHAT)
    assert predicted.status_code == 200, predicted.text
    result = predicted.json()["inference_results"][0]
    assert result["status_code"] == 200 and result["output"][0]["name"] == "response"
    assert result["output"][0]["dataAsMap"]["choices"][0]["message"]["content"] == "Echo: Hello!"
    assert predicted.headers["X-Modelgate-Node"] == ml_node

    delete_deployed = gw.call("DELETE", f"/_plugins/_ml/models/{model_id}")
    assert delete_deployed.status_code == 400
    undeployed = gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_undeploy")
    assert undeployed[ml_node] == {"stats": {model_id: "undeployed"}}
    assert gw.ok("GET", f"/_plugins/_ml/models/{model_id}")["model_state"] == "UNDEPLOYED"
    assert gw.ok("DELETE", f"/_plugins/_ml/models/{model_id}")["result"] == "deleted"
    assert gw.call("GET", f"/_plugins/_ml/models/{model_id}").status_code == 404


def test_register_without_group_reuses_group_named_after_model(
    gw: Cluster, mock: MockUpstream
) -> None:
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    name = unique("auto-group")
    first = gw.register(connector_id, name)
    second = gw.register(connector_id, name)
    one = gw.ok("GET", f"/_plugins/_ml/models/{first}")
    two = gw.ok("GET", f"/_plugins/_ml/models/{second}")
    assert one["model_group_id"] == two["model_group_id"]
    assert (one["model_version"], two["model_version"]) == ("1", "2")
    assert gw.ok("GET", f"/_plugins/_ml/model_groups/{one['model_group_id']}")["name"] == name


def test_register_with_inline_connector_and_deploy_true(gw: Cluster, mock: MockUpstream) -> None:
    inline = connector_body(parameters={"endpoint": mock.host, "model": "gpt"})
    answer = gw.ok(
        "POST",
        "/_plugins/_ml/models/_register",
        {"name": unique("inline"), "function_name": "remote", "connector": inline},
        deploy="true",
    )
    assert gw.task(answer["task_id"])["state"] == "COMPLETED"
    model_id = answer["model_id"]
    gw_model = gw.call("GET", f"/_plugins/_ml/models/{model_id}")
    assert (
        "sk-test-secret-value" not in gw_model.text
        and "credential" not in gw_model.json()["connector"]
    )
    from tests.integration.cluster import wait_for

    wait_for(
        lambda: gw.ok("GET", f"/_plugins/_ml/models/{model_id}")["model_state"] == "DEPLOYED",
        10,
        "deploy=true to deploy the model",
    )
    assert gw.predict(model_id, CHAT).status_code == 200


def test_register_failures(gw: Cluster, mock: MockUpstream) -> None:
    missing_connector = gw.call(
        "POST",
        "/_plugins/_ml/models/_register",
        {"name": unique("x"), "function_name": "remote", "connector_id": "nope"},
    )
    assert missing_connector.status_code == 404
    assert missing_connector.json()["error"]["reason"] == "Failed to find connector:nope"
    failed = [t for _, t in gw.store.tasks.all() if t.error == "Failed to find connector:nope"]
    assert failed and all(t.state == "FAILED" for t in failed)
    missing_group = gw.call(
        "POST",
        "/_plugins/_ml/models/_register",
        {
            "name": unique("x"),
            "function_name": "remote",
            "model_group_id": "nogroup",
            "connector_id": gw.create_connector(parameters={"endpoint": mock.host}),
        },
    )
    assert missing_group.status_code == 404
    assert missing_group.json()["error"]["reason"] == (
        "Failed to find model group with the provided model group id: nogroup"
    )
    cases = [
        ({"function_name": "remote", "connector_id": "c"}, "model name is null"),
        (
            {"name": "n", "function_name": "remote"},
            "You must provide connector content when creating a remote model without connector id!",
        ),
        (
            {
                "name": "n",
                "function_name": "remote",
                "connector": connector_body(parameters={"endpoint": "api.evil.com"}),
            },
            "Connector URL is not matching the trusted connector endpoint regex",
        ),
    ]
    for body, reason in cases:
        response = gw.call("POST", "/_plugins/_ml/models/_register", body)
        assert response.status_code == 400 and response.json()["error"]["reason"] == reason


def test_auto_deploy_on_first_predict_and_disabled(gw: Cluster, mock: MockUpstream) -> None:
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    model_id = gw.register(connector_id, unique("auto"))
    first = gw.predict(model_id, CHAT)
    assert first.status_code == 200, first.text
    from tests.integration.cluster import wait_for

    wait_for(
        lambda: gw.ok("GET", f"/_plugins/_ml/models/{model_id}")["model_state"] == "DEPLOYED",
        10,
        "auto-deploy to finish",
    )
    gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_undeploy")
    gw.set_settings(model_auto_deploy__enable=False)
    refused = gw.predict(model_id, CHAT)
    assert refused.status_code == 400
    assert (
        refused.json()["error"]["reason"] == "Model not ready yet. Please deploy the model first."
    )


def test_undeploy_many_and_missing(gw: Cluster, mock: MockUpstream) -> None:
    assert gw.call("POST", "/_plugins/_ml/models/_undeploy", {}).status_code == 400
    assert gw.call("POST", "/_plugins/_ml/models/nope/_undeploy").status_code == 404
    assert gw.call("POST", "/_plugins/_ml/models/nope/_deploy").status_code == 404
    assert (
        gw.call("POST", "/_plugins/_ml/models/nope/_predict", {"parameters": {}}).status_code == 404
    )
    assert (
        gw.call("GET", "/_plugins/_ml/tasks/nope").json()["error"]["reason"]
        == "Failed to find task"
    )


def test_remote_inference_disabled(gw: Cluster) -> None:
    gw.set_settings(remote_inference__enabled=False)
    response = gw.call("POST", "/_plugins/_ml/connectors/_create", connector_body())
    assert response.status_code == 400 and "Remote Inference is currently disabled" in response.text


def test_model_id_from_register_is_usable_at_once(gw: Cluster, mock: MockUpstream) -> None:
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    for _ in range(5):
        answer = gw.ok(
            "POST",
            "/_plugins/_ml/models/_register",
            {"name": unique("now"), "function_name": "remote", "connector_id": connector_id},
        )
        assert (
            gw.ok("GET", f"/_plugins/_ml/models/{answer['model_id']}")["model_state"]
            == "REGISTERED"
        )
        assert gw.predict(answer["model_id"], CHAT).status_code == 200


def test_undeploy_wins_over_a_deploy_in_flight(gw: Cluster, mock: MockUpstream) -> None:
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    model_id = gw.register(connector_id, unique("race"))
    deploy = gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_deploy")
    gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_undeploy")
    gw.task(deploy["task_id"], until=("COMPLETED", "COMPLETED_WITH_ERROR"))
    assert gw.ok("GET", f"/_plugins/_ml/models/{model_id}")["model_state"] == "UNDEPLOYED"
