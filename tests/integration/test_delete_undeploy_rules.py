"""Delete rules (connector in use, deployed model, group with versions, unknown ids) and
undeploy from some nodes only (node_ids, with allow_custom_deployment_plan)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.cluster import Cluster, MockUpstream


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def reason(response: Any) -> str:
    return str(response.json()["error"]["reason"])


def test_delete_rules(gw: Cluster, mock: MockUpstream) -> None:
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    group_id = gw.ok("POST", "/_plugins/_ml/model_groups/_register", {"name": unique("g")})[
        "model_group_id"
    ]
    answer = gw.ok(
        "POST",
        "/_plugins/_ml/models/_register",
        {
            "name": unique("m"),
            "function_name": "remote",
            "model_group_id": group_id,
            "connector_id": connector_id,
        },
    )
    model_id = answer["model_id"]
    gw.task(answer["task_id"])
    gw.deploy(model_id)

    in_use = gw.call("DELETE", f"/_plugins/_ml/connectors/{connector_id}")
    assert in_use.status_code == 409 and in_use.json()["error"]["type"] == "status_exception"
    assert reason(in_use) == (
        "1 models are still using this connector, please delete or update the models first: "
        f"[{model_id}]"
    )
    deployed = gw.call("DELETE", f"/_plugins/_ml/models/{model_id}")
    assert deployed.status_code == 400 and reason(deployed) == (
        "Model cannot be deleted in deploying or deployed state. "
        "Try undeploy model first then delete"
    )
    with_versions = gw.call("DELETE", f"/_plugins/_ml/model_groups/{group_id}")
    assert with_versions.status_code == 409 and reason(with_versions) == (
        "Cannot delete the model group when it has associated model versions"
    )

    gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_undeploy")
    assert gw.ok("DELETE", f"/_plugins/_ml/models/{model_id}")["result"] == "deleted"
    assert gw.ok("DELETE", f"/_plugins/_ml/model_groups/{group_id}")["result"] == "deleted"
    assert gw.ok("DELETE", f"/_plugins/_ml/connectors/{connector_id}")["result"] == "deleted"

    # Unknown ids, as ML Commons answers them (spec 2.4, 3.5, 5.5 and 14.4).
    unknown_model = gw.call("DELETE", f"/_plugins/_ml/models/{model_id}")
    assert unknown_model.status_code == 404 and reason(unknown_model) == "Failed to find model"
    for kind, record_id in (("connectors", connector_id), ("model_groups", group_id)):
        gone = gw.ok("DELETE", f"/_plugins/_ml/{kind}/{record_id}")
        assert gone["result"] == "not_found" and gone["_id"] == record_id


@pytest.fixture
def custom_plans(gw: Cluster) -> Iterator[Cluster]:
    """Both nodes serve remote models, and node_ids are allowed in _deploy/_undeploy."""
    _allow_custom_plan(gw, True)
    gw.set_settings(only_run_on_ml_node=False)
    yield gw
    _allow_custom_plan(gw, None)


def _allow_custom_plan(gw: Cluster, value: bool | None) -> None:
    gw.set_settings(allow_custom_deployment_plan=value)


def _serving_nodes(gw: Cluster, model_id: str, predicts: int = 12) -> set[str]:
    """The nodes that served a dozen predicts of the model."""
    served = set()
    for _ in range(predicts):
        answer = gw.predict(model_id, {"messages": [{"role": "user", "content": "hi"}]})
        assert answer.status_code == 200, answer.text
        served.add(answer.headers["X-Modelgate-Node"])
    return served


def _deployed_on_both(gw: Cluster, mock: MockUpstream) -> str:
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    model_id = gw.register(connector_id, unique("both"))
    assert gw.deploy(model_id)["state"] == "COMPLETED"
    assert gw.store.deployments.holders(model_id) == {gw.node_id("ml-1"), gw.node_id("data-1")}
    return model_id


def test_node_ids_are_refused_without_custom_plans(gw: Cluster) -> None:
    for path, body in (
        ("/_plugins/_ml/models/any/_undeploy", {"node_ids": ["n"]}),
        ("/_plugins/_ml/models/_undeploy", {"model_ids": ["any"], "node_ids": ["n"]}),
        ("/_plugins/_ml/models/any/_deploy", {"node_ids": ["n"]}),
    ):
        refused = gw.call("POST", path, body)
        assert refused.status_code == 400, refused.text
        assert reason(refused) == "Don't allow custom deployment plan"


def test_undeploy_from_some_nodes_keeps_the_others(
    custom_plans: Cluster, mock: MockUpstream
) -> None:
    gw = custom_plans
    ml, data = gw.node_id("ml-1"), gw.node_id("data-1")
    model_id = _deployed_on_both(gw, mock)
    path = f"/_plugins/_ml/models/{model_id}"
    answer = gw.ok("POST", f"{path}/_undeploy", {"node_ids": [data]})
    assert answer == {data: {"stats": {model_id: "undeployed"}}}
    model = gw.ok("GET", path)
    assert model["model_state"] == "DEPLOYED"
    assert model["planning_worker_nodes"] == [ml] and model["planning_worker_node_count"] == 1
    assert model["current_worker_node_count"] == 1 and "deploy_to_all_nodes" not in model
    assert gw.store.deployments.holders(model_id) == {ml}
    # Both roles take shared predicts here, but this model's go to the kept node only: the
    # node it was undeployed from never takes one and loads the model again.
    assert _serving_nodes(gw, model_id) == {ml}
    assert gw.store.deployments.holders(model_id) == {ml}

    again = gw.ok("POST", f"{path}/_undeploy", {"node_ids": [data]})
    assert again == {data: {"stats": {model_id: "not_found"}}}
    last = gw.ok("POST", f"{path}/_undeploy", {"node_ids": [ml]})
    assert last == {ml: {"stats": {model_id: "undeployed"}}}
    model = gw.ok("GET", path)
    assert model["model_state"] == "UNDEPLOYED" and model["current_worker_node_count"] == 0
    assert model["planning_worker_nodes"] == [] and gw.store.deployments.holders(model_id) == set()


def test_undeploy_many_models_from_named_nodes(custom_plans: Cluster, mock: MockUpstream) -> None:
    gw = custom_plans
    ml, data = gw.node_id("ml-1"), gw.node_id("data-1")
    first, second = _deployed_on_both(gw, mock), _deployed_on_both(gw, mock)
    answer = gw.ok(
        "POST", "/_plugins/_ml/models/_undeploy", {"model_ids": [first, second], "node_ids": [ml]}
    )
    assert answer == {ml: {"stats": {first: "undeployed", second: "undeployed"}}}
    for model_id in (first, second):
        assert gw.store.deployments.holders(model_id) == {data}
        model = gw.ok("GET", f"/_plugins/_ml/models/{model_id}")
        assert model["planning_worker_nodes"] == [data] and model["model_state"] == "DEPLOYED"
    gw.ok("POST", "/_plugins/_ml/models/_undeploy", {"model_ids": [first, second]})


def test_deploy_to_named_nodes(custom_plans: Cluster, mock: MockUpstream) -> None:
    gw = custom_plans
    ml, data = gw.node_id("ml-1"), gw.node_id("data-1")
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    model_id = gw.register(connector_id, unique("named"))
    path = f"/_plugins/_ml/models/{model_id}"
    answer = gw.ok("POST", f"{path}/_deploy", {"node_ids": [data]})
    assert answer["status"] == "COMPLETED" and answer["task_type"] == "DEPLOY_MODEL"
    task = gw.task(answer["task_id"])
    assert task["state"] == "COMPLETED" and task["worker_node"] == [data]
    model = gw.ok("GET", path)
    assert model["planning_worker_nodes"] == [data] and "deploy_to_all_nodes" not in model
    assert gw.store.deployments.holders(model_id) == {data}
    assert _serving_nodes(gw, model_id) == {data}
    assert gw.store.deployments.holders(model_id) == {data}
    left_out = gw.call("POST", f"{path}/_deploy", {"node_ids": [ml]})
    assert left_out.status_code == 400
    assert reason(left_out).startswith(f"Model already deployed to these nodes: [{data}]")
    gw.ok("POST", f"{path}/_undeploy")
