"""opensearch-py drives the PUT updates and finds the result with a term query."""

from __future__ import annotations

import uuid

import pytest
from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError

from tests.integration.cluster import Cluster, MockUpstream, connector_body


def test_update_then_search_with_opensearch_py(gw: Cluster, mock: MockUpstream) -> None:
    client = OpenSearch(hosts=[{"host": "127.0.0.1", "port": gw.settings.port}], timeout=30)
    connector = client.plugins.ml.create_connector(
        body=connector_body(parameters={"endpoint": mock.host, "model": "gpt-3.5-turbo"})
    )
    connector_id = connector["connector_id"]
    updated = client.transport.perform_request(
        "PUT",
        f"/_plugins/_ml/connectors/{connector_id}",
        body={"parameters": {"model": "gpt-4o"}, "credential": {"openAI_key": "sk-rotated"}},
    )
    assert updated["result"] == "updated" and updated["_id"] == connector_id

    name = f"os-py-update-{uuid.uuid4().hex[:8]}"
    registered = client.plugins.ml.register_model(
        body={"name": "before", "function_name": "remote", "connector_id": connector_id}
    )
    model_id = registered["model_id"]
    answer = client.plugins.ml.update_model(
        model_id=model_id, body={"name": name, "description": "renamed"}
    )
    assert answer["result"] == "updated" and answer["_index"] == ".plugins-ml-model"

    found = client.plugins.ml.search_models(body={"query": {"term": {"name.keyword": name}}})
    hits = found["hits"]["hits"]
    assert [hit["_id"] for hit in hits] == [model_id]
    assert hits[0]["_source"]["description"] == "renamed"
    connectors = client.plugins.ml.search_connectors(
        body={"query": {"ids": {"values": [connector_id]}}}
    )
    source = connectors["hits"]["hits"][0]["_source"]
    assert source["parameters"]["model"] == "gpt-4o" and "credential" not in source

    group_id = client.plugins.ml.get_model(model_id=model_id)["model_group_id"]
    group_name = f"os-py-group-{uuid.uuid4().hex[:8]}"
    renamed = client.plugins.ml.update_model_group(
        model_group_id=group_id, body={"name": group_name}
    )
    assert renamed == {"status": "Updated"}
    groups = client.plugins.ml.search_model_group(
        body={"query": {"term": {"name.keyword": group_name}}}
    )
    assert [hit["_id"] for hit in groups["hits"]["hits"]] == [group_id]

    with pytest.raises(NotFoundError) as missing:
        client.transport.perform_request("PUT", "/_plugins/_ml/models/nope", body={"name": "x"})
    assert missing.value.info["error"]["reason"] == (
        "Failed to find model to update with the provided model id: nope"
    )
