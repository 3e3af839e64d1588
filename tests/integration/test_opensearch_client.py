"""The public opensearch-py client drives modelgate unchanged (plugins.ml and cluster settings)."""

from __future__ import annotations

import time
import uuid

import pytest
from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError, RequestError

from tests.integration.cluster import Cluster, MockUpstream, connector_body


def wait_task(client: OpenSearch, task_id: str) -> dict[str, object]:
    for _ in range(200):
        task = client.plugins.ml.get_task(task_id=task_id)
        if task["state"] in ("COMPLETED", "FAILED"):
            return dict(task)
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish")


def test_opensearch_py_walks_the_seed_pages(gw: Cluster, mock: MockUpstream) -> None:
    client = OpenSearch(hosts=[{"host": "127.0.0.1", "port": gw.settings.port}], timeout=30)
    assert client.info()["version"]["distribution"] == "opensearch"
    client.cluster.put_settings(
        body={"persistent": {"plugins.ml_commons.only_run_on_ml_node": True}}
    )
    flat = client.cluster.get_settings(flat_settings=True)
    assert flat["persistent"]["plugins.ml_commons.only_run_on_ml_node"] == "true"

    group = client.plugins.ml.register_model_group(
        body={"name": f"os-py-{uuid.uuid4().hex[:8]}", "description": "via opensearch-py"}
    )
    connector = client.plugins.ml.create_connector(
        body=connector_body(parameters={"endpoint": mock.host, "model": "gpt-3.5-turbo"})
    )
    registered = client.plugins.ml.register_model(
        body={
            "name": "openAI-gpt-3.5-turbo",
            "function_name": "remote",
            "model_group_id": group["model_group_id"],
            "description": "test model",
            "connector_id": connector["connector_id"],
        }
    )
    task = wait_task(client, registered["task_id"])
    assert task["state"] == "COMPLETED" and task["model_id"] == registered["model_id"]

    deployed = client.plugins.ml.deploy_model(model_id=registered["model_id"])
    assert wait_task(client, deployed["task_id"])["state"] == "COMPLETED"
    answer = client.plugins.ml.predict(
        algorithm_name="remote",
        model_id=registered["model_id"],
        body={"parameters": {"messages": [{"role": "user", "content": "Hi"}]}},
    )
    tensor = answer["inference_results"][0]["output"][0]
    assert tensor["dataAsMap"]["choices"][0]["message"]["content"] == "Echo: Hi"
    undeployed = client.plugins.ml.undeploy_model(model_id=registered["model_id"])
    assert gw.node_id("ml-1") in undeployed


def test_opensearch_py_sees_our_errors_as_its_own(gw: Cluster) -> None:
    client = OpenSearch(hosts=[{"host": "127.0.0.1", "port": gw.settings.port}], timeout=30)
    with pytest.raises(NotFoundError) as missing:
        client.plugins.ml.get_task(task_id="missing-task")
    assert missing.value.error == "status_exception"
    assert missing.value.info["error"]["reason"] == "Failed to find task"
    with pytest.raises(RequestError) as bad:
        client.plugins.ml.create_connector(body=connector_body(protocol="ftp"))
    assert bad.value.error == "illegal_argument_exception"
