"""`_search` on connectors, model groups, models and tasks through the running API.

The cluster is shared by the session, so every query here is scoped by a tag unique to the
test (a token of the names it creates).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests

from tests.integration.cluster import Cluster, connector_body

ML = "/_plugins/_ml"
SECRET = "sk-search-secret-0123456789"
KINDS = ("connectors", "model_groups", "models", "tasks")


def tag() -> str:
    return "t" + uuid.uuid4().hex[:10]


def search(gw: Cluster, kind: str, body: Any = None, **params: str) -> Any:
    return gw.ok("POST", f"{ML}/{kind}/_search", body, **params)


def hit_ids(answer: Any) -> list[str]:
    return [hit["_id"] for hit in answer["hits"]["hits"]]


def new_connector(gw: Cluster, name: str) -> str:
    return gw.create_connector(name=name, credential={"openAI_key": SECRET})


def test_a_new_connector_is_found_at_once_and_term_respects_the_mapping(gw: Cluster) -> None:
    mark = tag()
    name = f"Search Probe {mark}"
    connector_id = new_connector(gw, name)
    exact = search(gw, "connectors", {"query": {"term": {"name.keyword": name}}})
    assert hit_ids(exact) == [connector_id]
    assert search(gw, "connectors", {"query": {"term": {"name": mark}}})["hits"]["total"] == {
        "value": 1,
        "relation": "eq",
    }
    # name is analysed text: term on it looks for one lowercased token
    assert hit_ids(search(gw, "connectors", {"query": {"term": {"name": name}}})) == []
    assert (
        hit_ids(search(gw, "connectors", {"query": {"term": {"name.keyword": name.lower()}}})) == []
    )
    matched = search(gw, "connectors", {"query": {"match": {"name": f"PROBE {mark.upper()}"}}})
    assert connector_id in hit_ids(matched)


def test_search_hits_have_the_opensearch_envelope(gw: Cluster) -> None:
    mark = tag()
    connector_id = new_connector(gw, f"Envelope {mark}")
    answer = search(gw, "connectors", {"query": {"term": {"name": mark}}})
    assert set(answer) == {"took", "timed_out", "_shards", "hits"}
    assert answer["timed_out"] is False and isinstance(answer["took"], int)
    assert answer["hits"]["max_score"] == 1.0
    (hit,) = answer["hits"]["hits"]
    assert list(hit) == [
        "_index",
        "_id",
        "_version",
        "_seq_no",
        "_primary_term",
        "_score",
        "_source",
    ]
    assert hit["_index"] == ".plugins-ml-connector" and hit["_id"] == connector_id
    assert hit["_source"]["name"] == f"Envelope {mark}"
    assert hit["_source"] == gw.ok("GET", f"{ML}/connectors/{connector_id}")


def test_credentials_are_neither_returned_nor_matched(gw: Cluster) -> None:
    mark = tag()
    connector_id = new_connector(gw, f"Secret {mark}")
    stored = json.loads(gw.store.redis.get(gw.store.key("connector", connector_id)))
    sealed = stored["credential"]["openAI_key"]
    probes = [
        {"term": {"credential.openAI_key": SECRET}},
        {"term": {"credential.openAI_key": sealed}},
        {"term": {"credential": SECRET}},
        {"prefix": {"credential.openAI_key": "sk-"}},
        {"match": {"credential.openAI_key": SECRET}},
        {"exists": {"field": "credential"}},
        {"exists": {"field": "credential.openAI_key"}},
    ]
    for probe in probes:
        query = {"bool": {"filter": [{"term": {"name": mark}}, probe]}}
        assert hit_ids(search(gw, "connectors", {"query": query})) == [], probe
    for source in (True, ["credential*"], {"includes": ["*"]}):
        answer = gw.call("POST", f"{ML}/connectors/_search", {"_source": source, "size": 10000})
        assert answer.status_code == 200
        assert SECRET not in answer.text and sealed not in answer.text


def test_models_tasks_and_groups_by_query(gw: Cluster) -> None:
    mark = tag()
    connector_id = new_connector(gw, f"Models {mark}")
    first = gw.register(connector_id, f"chat {mark} one")
    second = gw.register(connector_id, f"embed {mark} two")
    by_tag = {"match": {"name": mark}}
    query = {"bool": {"must": [by_tag], "filter": [{"term": {"model_state": "REGISTERED"}}]}}
    answer = search(gw, "models", {"query": query, "sort": [{"created_time": {"order": "desc"}}]})
    assert hit_ids(answer) == [second, first]
    assert answer["hits"]["max_score"] is None
    assert [len(hit["sort"]) for hit in answer["hits"]["hits"]] == [1, 1]
    assert hit_ids(
        search(
            gw,
            "models",
            {"query": {"bool": {"must": by_tag, "must_not": {"ids": {"values": [first]}}}}},
        )
    ) == [second]
    should = {"bool": {"should": [{"term": {"name": "chat"}}, {"term": {"name": "nothing"}}]}}
    assert hit_ids(search(gw, "models", {"query": {"bool": {"must": [by_tag, should]}}})) == [first]
    tasks = search(gw, "tasks", {"query": {"terms": {"model_id": [first, second]}}})
    assert {hit["_source"]["model_id"] for hit in tasks["hits"]["hits"]} == {first, second}
    assert {hit["_source"]["task_type"] for hit in tasks["hits"]["hits"]} == {"REGISTER_MODEL"}
    group_id = gw.ok("GET", f"{ML}/models/{first}")["model_group_id"]
    groups = search(gw, "model_groups", {"query": {"term": {"name.keyword": f"chat {mark} one"}}})
    assert hit_ids(groups) == [group_id]


def test_inline_connector_credentials_stay_out_of_model_search(gw: Cluster) -> None:
    mark = tag()
    inline = connector_body(credential={"openAI_key": SECRET})
    del inline["name"], inline["version"]
    body = {"name": f"inline {mark}", "function_name": "remote", "connector": inline}
    answer = gw.ok("POST", f"{ML}/models/_register", body)
    assert gw.task(answer["task_id"])["state"] == "COMPLETED"
    scoped = {"term": {"name": mark}}
    found = search(gw, "models", {"query": scoped})
    assert hit_ids(found) == [answer["model_id"]]
    assert "credential" not in found["hits"]["hits"][0]["_source"]["connector"]
    for probe in (
        {"term": {"connector.credential.openAI_key": SECRET}},
        {"exists": {"field": "connector.credential"}},
    ):
        assert hit_ids(search(gw, "models", {"query": {"bool": {"filter": [scoped, probe]}}})) == []
    assert SECRET not in gw.call("POST", f"{ML}/models/_search", {"size": 10000}).text


def test_get_with_url_parameters(gw: Cluster) -> None:
    mark = tag()
    made = [new_connector(gw, f"Paged {mark} {n}") for n in range(3)]
    body = {"query": {"term": {"name": mark}}}
    got = requests.request(
        "GET",
        gw.url + f"{ML}/connectors/_search",
        json=body,
        params={"sort": "created_time:desc", "size": "2", "from": "0", "_source": "name"},
        timeout=30,
    )
    assert got.status_code == 200, got.text
    hits = got.json()["hits"]["hits"]
    assert [h["_id"] for h in hits] == made[::-1][:2]
    assert [h["_source"] for h in hits] == [
        {"name": f"Paged {mark} 2"},
        {"name": f"Paged {mark} 1"},
    ]
    no_body = gw.ok("GET", f"{ML}/connectors/_search", size="1", _source="false")
    assert len(no_body["hits"]["hits"]) == 1 and "_source" not in no_body["hits"]["hits"][0]
    limited = search(gw, "connectors", {**body, "track_total_hits": 2, "size": 0})
    assert limited["hits"]["total"] == {"value": 2, "relation": "gte"}
    unknown = gw.call("GET", f"{ML}/connectors/_search", body, colour="blue")
    assert unknown.status_code == 400
    assert unknown.json()["error"]["reason"] == (
        f"request [{ML}/connectors/_search] contains unrecognized parameter: [colour]"
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("body", "params", "error_type", "reason"),
    [
        ({"query": {"fuzzy": {"name": "x"}}}, {}, "parsing_exception", "unknown query [fuzzy]"),
        (
            {"query": {"bool": {"foo": {}}}},
            {},
            "parsing_exception",
            "[bool] query does not support [foo]",
        ),
        (
            {"query": {"term": {"a": "x", "b": "y"}}},
            {},
            "parsing_exception",
            "[term] query doesn't support multiple fields, found [a] and [b]",
        ),
        (
            {"query": {"range": {"x": {"over": 1}}}},
            {},
            "parsing_exception",
            "[range] query does not support [over]",
        ),
        (
            {"size": -1},
            {},
            "illegal_argument_exception",
            "[size] parameter cannot be negative, found [-1]",
        ),
        ({"size": "many"}, {}, "parsing_exception", "[size] must be an integer, found [many]"),
        (None, {"q": "name:x"}, "illegal_argument_exception", None),
        ({"from": 9999, "size": 2}, {}, "illegal_argument_exception", None),
    ],
)
def test_refused_searches_answer_400_in_the_error_envelope(
    gw: Cluster, kind: str, body: Any, params: dict[str, str], error_type: str, reason: str | None
) -> None:
    for method in ("GET", "POST"):
        answer = gw.call(method, f"{ML}/{kind}/_search", body, **params)
        assert answer.status_code == 400, answer.text
        payload = answer.json()
        assert payload["status"] == 400
        assert payload["error"]["type"] == error_type
        assert payload["error"]["root_cause"] == [
            {"type": error_type, "reason": payload["error"]["reason"]}
        ]
        if reason is not None:
            assert payload["error"]["reason"] == reason
