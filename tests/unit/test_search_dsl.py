"""The `_search` query DSL evaluator: parsing, matching, sorting, paging, _source, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.errors import MLCommonsError
from common.search.analysis import analyze
from common.search.engine import run_search
from common.search.mappings import Kind, mapping_for
from common.search.request import parse_request

MODELS = ".plugins-ml-model"
CONNECTORS = ".plugins-ml-connector"
TASKS = ".plugins-ml-task"
DAY_MS = 86_400_000

MODEL_DOCS: list[tuple[str, dict[str, Any]]] = [
    (
        "m1",
        {
            "name": "OpenAI Chat",
            "model_group_id": "g1",
            "algorithm": "REMOTE",
            "model_version": "1",
            "description": "GPT-3.5-turbo chat model",
            "model_state": "DEPLOYED",
            "created_time": 1_700_000_000_000,
            "last_updated_time": 1_700_000_000_000,
            "planning_worker_node_count": 2,
            "planning_worker_nodes": ["n1", "n2"],
            "is_hidden": False,
            "connector_id": "Abc-DEF_1",
        },
    ),
    (
        "m2",
        {
            "name": "Cohere embed",
            "model_group_id": "g2",
            "algorithm": "REMOTE",
            "model_version": "1",
            "model_state": "REGISTERED",
            "created_time": 1_700_000_000_000 + DAY_MS,
            "last_updated_time": 1_700_000_000_000 + DAY_MS,
            "is_hidden": False,
            "connector_id": "xyz-2",
        },
    ),
    (
        "m3",
        {
            "name": "openai embed v3",
            "model_group_id": "g1",
            "algorithm": "REMOTE",
            "model_version": "2",
            "description": "Embeddings",
            "model_state": "DEPLOYED",
            "created_time": 1_700_000_000_000 + 2 * DAY_MS,
            "last_updated_time": 1_700_000_000_000 + 2 * DAY_MS,
            "planning_worker_node_count": 1,
            "planning_worker_nodes": ["n1"],
            "is_hidden": False,
            "connector": {
                "name": "inline",
                "protocol": "http",
                "parameters": {"endpoint": "api.openai.com", "model": "text-embedding-3"},
                "actions": [{"action_type": "PREDICT", "method": "POST", "url": "https://x/v1"}],
            },
        },
    ),
]


def search(
    body: dict[str, Any],
    params: dict[str, str] | None = None,
    *,
    index: str = MODELS,
    docs: list[tuple[str, Any]] | None = None,
    view: Callable[[Any], dict[str, Any]] = lambda doc: doc,
) -> dict[str, Any]:
    mapping = mapping_for(index)
    request = parse_request(body, params or {}, mapping)
    return run_search(request, MODEL_DOCS if docs is None else docs, view, index, mapping)


def ids(body: dict[str, Any], params: dict[str, str] | None = None, **kw: Any) -> list[str]:
    return [hit["_id"] for hit in search(body, params, **kw)["hits"]["hits"]]


def query_ids(query: dict[str, Any], **kw: Any) -> list[str]:
    return ids({"query": query}, **kw)


def refused(body: dict[str, Any], params: dict[str, str] | None = None) -> MLCommonsError:
    with pytest.raises(MLCommonsError) as caught:
        search(body, params)
    assert caught.value.status == 400
    return caught.value


# --- analysis and mappings -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("OpenAI Chat Connector", ("openai", "chat", "connector")),
        ("gpt-3.5-turbo", ("gpt", "3.5", "turbo")),
        ("my_model v2", ("my_model", "v2")),
        ("  ", ()),
        ("O'Neil's model", ("o'neil's", "model")),
    ],
)
def test_standard_analyzer(text: str, tokens: tuple[str, ...]) -> None:
    assert analyze(text) == tokens


@pytest.mark.parametrize(
    ("index", "field", "kind"),
    [
        (MODELS, "name", Kind.TEXT),
        (MODELS, "name.keyword", Kind.KEYWORD),
        (MODELS, "model_state", Kind.KEYWORD),
        (MODELS, "created_time", Kind.DATE),
        (MODELS, "connector.name.keyword", Kind.KEYWORD),
        (MODELS, "connector.parameters.endpoint", Kind.FLAT),
        (MODELS, "connector", Kind.OBJECT),
        (MODELS, "connector_id", Kind.DYNAMIC),  # not in ML Commons' mapping: dynamic text
        (MODELS, "connector_id.keyword", Kind.DYNAMIC_KEYWORD),
        (MODELS, "description.keyword", Kind.DYNAMIC),  # description has no keyword sub-field
        (TASKS, "state", Kind.KEYWORD),
        (TASKS, "error", Kind.TEXT),
        (CONNECTORS, "parameters", Kind.FLAT),
    ],
)
def test_fields_resolve_as_ml_commons_maps_them(index: str, field: str, kind: Kind) -> None:
    assert mapping_for(index).resolve(field).kind is kind


# --- match_all, term, terms, ids -------------------------------------------------------------
def test_match_all_and_no_query_return_everything_in_index_order() -> None:
    assert ids({}) == ids({"query": {"match_all": {}}}) == ["m1", "m2", "m3"]


def test_term_on_text_matches_an_analysed_token_only() -> None:
    assert query_ids({"term": {"name": "openai"}}) == ["m1", "m3"]
    assert query_ids({"term": {"name": "OpenAI"}}) == []  # term is not analysed
    assert query_ids({"term": {"name": "openai chat"}}) == []


def test_term_on_keyword_sub_field_matches_the_exact_string() -> None:
    assert query_ids({"term": {"name.keyword": "OpenAI Chat"}}) == ["m1"]
    assert query_ids({"term": {"name.keyword": "openai chat"}}) == []
    assert query_ids(
        {"term": {"name.keyword": {"value": "openai chat", "case_insensitive": True}}}
    ) == ["m1"]


def test_term_on_keyword_fields_numbers_and_arrays() -> None:
    assert query_ids({"term": {"model_state": "DEPLOYED"}}) == ["m1", "m3"]
    assert query_ids({"term": {"model_state": "deployed"}}) == []
    assert query_ids({"term": {"planning_worker_node_count": 2}}) == ["m1"]
    assert query_ids({"term": {"planning_worker_node_count": "1"}}) == ["m3"]
    assert query_ids({"term": {"planning_worker_nodes": "n1"}}) == ["m1", "m3"]
    assert query_ids({"term": {"is_hidden": "false"}}) == ["m1", "m2", "m3"]


def test_unmapped_strings_are_dynamic_text_with_a_keyword_sub_field() -> None:
    assert query_ids({"term": {"connector_id": "Abc-DEF_1"}}) == []  # analysed: abc, def_1
    assert query_ids({"term": {"connector_id": "def_1"}}) == ["m1"]
    assert query_ids({"term": {"connector_id.keyword": "Abc-DEF_1"}}) == ["m1"]
    assert query_ids({"match": {"connector_id": "Abc-DEF_1"}}) == ["m1"]


def test_flat_object_leaves_are_exact_keywords() -> None:
    assert query_ids({"term": {"connector.parameters.endpoint": "api.openai.com"}}) == ["m3"]
    assert query_ids({"term": {"connector.parameters": "text-embedding-3"}}) == ["m3"]
    assert query_ids({"term": {"connector.actions.method": "POST"}}) == ["m3"]
    assert query_ids({"term": {"connector.name": "inline"}}) == ["m3"]
    assert query_ids({"term": {"connector": "inline"}}) == []  # an object field holds no terms


def test_terms_and_ids() -> None:
    assert query_ids({"terms": {"model_group_id": ["g2", "nope"]}}) == ["m2"]
    assert query_ids({"terms": {"model_state": ["DEPLOYED", "REGISTERED"], "boost": 2}}) == [
        "m1",
        "m2",
        "m3",
    ]
    assert query_ids({"terms": {"model_state": []}}) == []
    assert query_ids({"ids": {"values": ["m3", "m1", "zz"]}}) == ["m1", "m3"]
    assert query_ids({"term": {"_id": "m2"}}) == ["m2"]


# --- range, exists, prefix, match ------------------------------------------------------------
def test_range_on_numbers_and_epoch_millis_dates() -> None:
    start = 1_700_000_000_000
    assert query_ids({"range": {"created_time": {"gt": start}}}) == ["m2", "m3"]
    assert query_ids({"range": {"created_time": {"gte": start, "lt": start + DAY_MS}}}) == ["m1"]
    assert query_ids({"range": {"created_time": {"lte": str(start + DAY_MS)}}}) == ["m1", "m2"]
    assert query_ids({"range": {"planning_worker_node_count": {"gte": 2}}}) == ["m1"]
    assert query_ids({"range": {"created_time": {"gte": "2023-11-15T00:00:00Z"}}}) == ["m2", "m3"]
    assert query_ids({"range": {"created_time": {"lt": "now-1d"}}}) == ["m1", "m2", "m3"]
    assert query_ids({"range": {"created_time": {"gt": "now"}}}) == []


def test_range_on_keywords_compares_strings() -> None:
    assert query_ids({"range": {"model_version": {"gte": "2"}}}) == ["m3"]


def test_exists() -> None:
    assert query_ids({"exists": {"field": "description"}}) == ["m1", "m3"]
    assert query_ids({"exists": {"field": "connector"}}) == ["m3"]
    assert query_ids({"exists": {"field": "planning_worker_nodes"}}) == ["m1", "m3"]
    assert query_ids({"exists": {"field": "nothing_here"}}) == []
    empty = [("blank", {"description": ""}), ("none", {"description": None}), ("no", {})]
    assert query_ids({"exists": {"field": "description"}}, docs=empty) == ["blank"]


def test_keyword_sub_field_ignores_strings_over_256_characters() -> None:
    docs = [("long", {"name": "x" * 300}), ("short", {"name": "x" * 10})]
    assert query_ids({"exists": {"field": "name.keyword"}}, docs=docs) == ["short"]
    assert query_ids({"exists": {"field": "name"}}, docs=docs) == ["long", "short"]


def test_prefix_on_text_tokens_and_keywords() -> None:
    assert query_ids({"prefix": {"name": "emb"}}) == ["m2", "m3"]
    assert query_ids({"prefix": {"name": "Emb"}}) == []
    assert query_ids({"prefix": {"name.keyword": "Open"}}) == ["m1"]
    assert query_ids({"prefix": {"name.keyword": {"value": "open", "case_insensitive": True}}}) == [
        "m1",
        "m3",
    ]


def test_match_analyses_the_query_and_scores_by_share_of_terms() -> None:
    answer = search({"query": {"match": {"name": "OpenAI embed"}}})
    hits = answer["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["m3", "m1", "m2"]  # best score first
    assert [h["_score"] for h in hits] == [1.0, 0.5, 0.5]
    assert answer["hits"]["max_score"] == 1.0
    assert query_ids({"match": {"name": {"query": "OpenAI embed", "operator": "and"}}}) == ["m3"]
    assert query_ids(
        {"match": {"name": {"query": "openai embed v3", "minimum_should_match": "67%"}}}
    ) == ["m3"]
    assert query_ids({"match": {"description": "gpt"}}) == ["m1"]


def test_match_on_keyword_is_exact_and_no_terms_match_nothing() -> None:
    assert query_ids({"match": {"model_state": "DEPLOYED"}}) == ["m1", "m3"]
    assert query_ids({"match": {"model_state": "deployed"}}) == []
    assert query_ids({"match": {"name": "!!"}}) == []
    assert query_ids({"match": {"name": {"query": "!!", "zero_terms_query": "all"}}}) == [
        "m1",
        "m2",
        "m3",
    ]


# --- bool ------------------------------------------------------------------------------------
def test_bool_must_filter_must_not() -> None:
    query = {
        "bool": {
            "must": {"match": {"name": "openai"}},
            "filter": [{"term": {"model_group_id": "g1"}}],
            "must_not": [{"ids": {"values": ["m1"]}}],
        }
    }
    assert query_ids(query) == ["m3"]


def test_bool_with_only_should_needs_one_match() -> None:
    query = {
        "bool": {"should": [{"term": {"model_state": "REGISTERED"}}, {"term": {"name": "chat"}}]}
    }
    assert query_ids(query) == ["m1", "m2"]


def test_bool_should_is_optional_beside_must_unless_minimum_should_match() -> None:
    base = {"filter": {"term": {"model_group_id": "g1"}}, "should": [{"term": {"name": "chat"}}]}
    assert query_ids({"bool": base}) == ["m1", "m3"]
    assert query_ids({"bool": {**base, "minimum_should_match": 1}}) == ["m1"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (2, ["m3"]),
        ("-1", ["m3", "m1", "m2"]),  # best score (both clauses) first
        ("100%", ["m3"]),
        ("50%", ["m3", "m1", "m2"]),
        ("99%", ["m3", "m1", "m2"]),  # 1.98 clauses round down to 1
        ("-50%", ["m3", "m1", "m2"]),
        (5, []),
        ("1<-1", ["m3", "m1", "m2"]),  # two clauses: over 1, so "-1" applies
        ("2<-1", ["m3"]),  # two clauses: not over 2, so all are needed
    ],
)
def test_bool_minimum_should_match_forms(spec: Any, expected: list[str]) -> None:
    should = [{"term": {"model_group_id": "g1"}}, {"term": {"name": "embed"}}]
    assert query_ids({"bool": {"should": should, "minimum_should_match": spec}}) == expected


def test_bool_scores_sum_must_and_should_and_filters_score_zero() -> None:
    query = {"bool": {"must": {"term": {"name": "openai"}}, "should": {"term": {"name": "chat"}}}}
    hits = search({"query": query})["hits"]["hits"]
    assert [(h["_id"], h["_score"]) for h in hits] == [("m1", 2.0), ("m3", 1.0)]
    only_filter = search({"query": {"bool": {"filter": {"term": {"model_group_id": "g1"}}}}})
    assert {h["_score"] for h in only_filter["hits"]["hits"]} == {0.0}
    assert query_ids({"bool": {}}) == ["m1", "m2", "m3"]
    assert query_ids({"bool": {"must_not": {"term": {"model_group_id": "g1"}}}}) == ["m2"]


def test_nested_bool_and_constant_score() -> None:
    inner = {"bool": {"should": [{"term": {"name": "cohere"}}, {"term": {"name": "chat"}}]}}
    assert query_ids(
        {"bool": {"must": [inner], "must_not": {"term": {"model_state": "DEPLOYED"}}}}
    ) == ["m2"]
    hits = search({"query": {"constant_score": {"filter": inner, "boost": 3}}})["hits"]["hits"]
    assert [h["_score"] for h in hits] == [3.0, 3.0]


# --- sort, paging, total, _source ------------------------------------------------------------
def test_sort_forms_and_sort_values() -> None:
    answer = search({"sort": [{"created_time": {"order": "desc"}}]})
    hits = answer["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["m3", "m2", "m1"]
    assert [h["sort"] for h in hits] == [
        [1_700_000_000_000 + 2 * DAY_MS],
        [1_700_000_000_000 + DAY_MS],
        [1_700_000_000_000],
    ]
    assert answer["hits"]["max_score"] is None and {h["_score"] for h in hits} == {None}
    assert ids({"sort": "model_version"}) == ["m1", "m2", "m3"]
    assert ids({"sort": [{"model_version": "desc"}]}) == ["m3", "m1", "m2"]


def test_sort_on_several_keys_and_missing_values_last() -> None:
    body = {"sort": [{"model_group_id": "asc"}, {"created_time": "desc"}]}
    assert ids(body) == ["m3", "m1", "m2"]
    answer = search({"sort": [{"planning_worker_node_count": "asc"}]})
    assert [(h["_id"], h["sort"]) for h in answer["hits"]["hits"]] == [
        ("m3", [1]),
        ("m1", [2]),
        ("m2", [2**63 - 1]),  # OpenSearch shows a missing long as Long.MAX_VALUE
    ]
    desc = search(
        {"sort": [{"planning_worker_node_count": {"order": "desc", "missing": "_first"}}]}
    )
    assert [h["_id"] for h in desc["hits"]["hits"]] == ["m2", "m1", "m3"]
    assert ids({"sort": [{"description.keyword": {"unmapped_type": "keyword"}}]}) == [
        "m1",
        "m2",
        "m3",
    ]


def test_sort_by_score_and_track_scores() -> None:
    body: dict[str, Any] = {"query": {"match": {"name": "openai embed"}}, "sort": ["_score"]}
    hits = search(body)["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["m3", "m1", "m2"] and hits[0]["_score"] == 1.0
    tracked = search({"sort": [{"created_time": "asc"}], "track_scores": True})
    assert tracked["hits"]["max_score"] == 1.0
    assert [h["_score"] for h in tracked["hits"]["hits"]] == [1.0, 1.0, 1.0]


def test_from_size_and_url_parameters() -> None:
    assert ids({"from": 1, "size": 1}) == ["m2"]
    assert ids({"size": 0}) == []
    assert ids({}, {"size": "2", "from": "1"}) == ["m2", "m3"]
    assert ids({"size": 1}, {"size": "3"}) == ["m1", "m2", "m3"]  # the URL wins, as in OpenSearch
    assert ids({}, {"sort": "created_time:desc"}) == ["m3", "m2", "m1"]
    assert ids({}, {"sort": "model_group_id,created_time:desc"}) == ["m3", "m1", "m2"]
    assert ids({"query": {"term": {"name": "embed"}}}, {"from": "1"}) == ["m3"]


def test_track_total_hits() -> None:
    assert search({})["hits"]["total"] == {"value": 3, "relation": "eq"}
    assert search({"track_total_hits": 2})["hits"]["total"] == {"value": 2, "relation": "gte"}
    assert search({"track_total_hits": True})["hits"]["total"] == {"value": 3, "relation": "eq"}
    assert "total" not in search({"track_total_hits": False})["hits"]
    many = [(str(n), {"name": "x"}) for n in range(10_001)]
    assert search({"size": 0}, docs=many)["hits"]["total"] == {"value": 10_000, "relation": "gte"}
    assert search({"size": 0}, {"track_total_hits": "true"}, docs=many)["hits"]["total"] == {
        "value": 10_001,
        "relation": "eq",
    }


def test_hit_envelope() -> None:
    answer = search({"query": {"term": {"name": "cohere"}}})
    assert set(answer) == {"took", "timed_out", "_shards", "hits"}
    assert answer["_shards"] == {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
    assert answer["hits"]["hits"] == [
        {
            "_index": MODELS,
            "_id": "m2",
            "_version": 1,
            "_seq_no": 1,
            "_primary_term": 1,
            "_score": 1.0,
            "_source": MODEL_DOCS[1][1],
        }
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (["name", "model_state"], {"name": "Cohere embed", "model_state": "REGISTERED"}),
        ("model_s*", {"model_state": "REGISTERED"}),
        ({"includes": ["name*"]}, {"name": "Cohere embed"}),
        (
            {"excludes": ["*_time", "model*", "algorithm", "connector_id", "is_hidden"]},
            {"name": "Cohere embed"},
        ),
        ({"includes": "*", "excludes": "*"}, {}),
    ],
)
def test_source_filtering(source: Any, expected: dict[str, Any]) -> None:
    hit = search({"query": {"ids": {"values": ["m2"]}}, "_source": source})["hits"]["hits"][0]
    assert hit["_source"] == expected


def test_source_filtering_of_nested_objects_and_false() -> None:
    body: dict[str, Any] = {
        "query": {"ids": {"values": ["m3"]}},
        "_source": ["connector.parameters.endpoint", "connector.actions.url"],
    }
    hit = search(body)["hits"]["hits"][0]
    assert hit["_source"] == {
        "connector": {
            "parameters": {"endpoint": "api.openai.com"},
            "actions": [{"url": "https://x/v1"}],
        }
    }
    body = {"_source": {"includes": ["connector"], "excludes": ["connector.parameters"]}}
    sources = [h["_source"] for h in search(body, {"size": "3"})["hits"]["hits"]]
    assert sources[:2] == [{}, {}] and set(sources[2]["connector"]) == {
        "name",
        "protocol",
        "actions",
    }
    assert "_source" not in search({"_source": False})["hits"]["hits"][0]
    assert "_source" not in search({}, {"_source": "false"})["hits"]["hits"][0]
    assert search({}, {"_source": "name"})["hits"]["hits"][0]["_source"] == {"name": "OpenAI Chat"}
    url = {"_source_excludes": "connector*,description,*time,model*,algorithm,is_hidden,planning*"}
    assert search({}, url)["hits"]["hits"][1]["_source"] == {"name": "Cohere embed"}


def test_the_query_sees_only_the_view() -> None:
    docs = [("c1", {"name": "conn", "credential": {"key": "sk-secret"}})]

    def public(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if k != "credential"}

    def found(query: dict[str, Any]) -> list[str]:
        return query_ids(query, index=CONNECTORS, docs=docs, view=public)

    assert found({"term": {"credential.key": "sk-secret"}}) == []
    assert found({"term": {"credential": "sk-secret"}}) == []
    assert found({"exists": {"field": "credential"}}) == []
    assert found({"prefix": {"credential.key": "sk"}}) == []
    assert found({"term": {"name": "conn"}}) == ["c1"]


# --- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "error_type", "reason"),
    [
        ({"query": {"fuzzy": {"name": "x"}}}, "parsing_exception", "unknown query [fuzzy]"),
        (
            {"query": {"bool": {"foo": []}}},
            "parsing_exception",
            "[bool] query does not support [foo]",
        ),
        (
            {"query": {"term": {"a": 1, "b": 2}}},
            "parsing_exception",
            "[term] query doesn't support multiple fields, found [a] and [b]",
        ),
        (
            {"query": {"range": {"created_time": {"gtx": 1}}}},
            "parsing_exception",
            "[range] query does not support [gtx]",
        ),
        (
            {"query": {"term": {"name": {"valu": "x"}}}},
            "parsing_exception",
            "[term] query does not support [valu]",
        ),
        (
            {"query": {"term": {"name": ["a"]}}},
            "parsing_exception",
            "[term] query does not support array of values",
        ),
        ({"query": {}}, "illegal_argument_exception", "query malformed, empty clause found"),
        (
            {"query": {"term": {"name": "a"}, "match": {"name": "b"}}},
            "parsing_exception",
            "[term] malformed query, expected [END_OBJECT] but found [FIELD_NAME]",
        ),
        (
            {"query": {"bool": {"must": [{"nope": {}}]}}},
            "parsing_exception",
            "unknown query [nope]",
        ),
        (
            {"query": {"exists": {}}},
            "parsing_exception",
            "[exists] must be provided with a [field]",
        ),
        (
            {"query": {"match_all": {"x": 1}}},
            "parsing_exception",
            "[match_all] query does not support [x]",
        ),
        (
            {"query": {"term": "x"}},
            "parsing_exception",
            "[term] query malformed, no start_object after query name",
        ),
        (
            {"size": -1},
            "illegal_argument_exception",
            "[size] parameter cannot be negative, found [-1]",
        ),
        (
            {"from": -2},
            "illegal_argument_exception",
            "[from] parameter cannot be negative, found [-2]",
        ),
        ({"size": 1.5}, "parsing_exception", "[size] must be an integer, found [1.5]"),
        ({"size": "ten"}, "parsing_exception", "[size] must be an integer, found [ten]"),
        ({"size": True}, "parsing_exception", "[size] must be an integer, found [True]"),
        ({"foo": 1}, "parsing_exception", "Unknown key for a VALUE_NUMBER in [foo]."),
        ({"aggs": {}}, "parsing_exception", "[aggs] is not supported by modelgate's search"),
        ({"sort": [{"name": "asc"}]}, "illegal_argument_exception", None),
        (
            {"sort": [{"nothing": "asc"}]},
            "query_shard_exception",
            "No mapping found for [nothing] in order to sort on",
        ),
        (
            {"sort": [{"created_time": "up"}]},
            "illegal_argument_exception",
            "Unknown SortOrder [up]",
        ),
        (
            {"sort": [{"created_time": {"ordre": "asc"}}]},
            "parsing_exception",
            "[field_sort] unknown field [ordre]",
        ),
        (
            {"_source": 5},
            "parsing_exception",
            "Expected one of [VALUE_BOOLEAN, START_OBJECT] but found [VALUE_NUMBER]",
        ),
        (
            {"track_total_hits": -5},
            "illegal_argument_exception",
            "[track_total_hits] parameter must be positive or equals to -1, got -5",
        ),
        (
            {"query": {"term": {"created_time": "yesterday"}}},
            "query_shard_exception",
            "failed to parse date field [yesterday]",
        ),
        (
            {"query": {"term": {"planning_worker_node_count": "two"}}},
            "query_shard_exception",
            'failed to create query: For input string: "two"',
        ),
        (
            {"query": {"prefix": {"created_time": "1"}}},
            "query_shard_exception",
            "Can only use prefix queries on keyword and text fields - "
            "not on [created_time] which is of type [date]",
        ),
    ],
)
def test_refused_bodies_name_the_problem(
    body: dict[str, Any], error_type: str, reason: str | None
) -> None:
    error = refused(body)
    assert error.error_type == error_type
    if reason is not None:
        assert error.reason == reason
    else:
        assert error.reason.startswith("Text fields are not optimised for operations")


def test_result_window_is_limited_to_ten_thousand() -> None:
    assert search({"from": 9_990, "size": 10})["hits"]["hits"] == []
    error = refused({"from": 9_995, "size": 10})
    assert error.error_type == "illegal_argument_exception"
    assert error.reason.startswith(
        "Result window is too large, from + size must be less than or equal to: [10000] "
        "but was [10005]."
    )


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"size": "x"}, "Failed to parse int parameter [size] with value [x]"),
        ({"from": "-3"}, "[from] parameter cannot be negative, found [-3]"),
        ({"q": "name:x"}, "the [q] parameter is not supported by modelgate's search"),
        ({"scroll": "1m"}, "the [scroll] parameter is not supported by modelgate's search"),
        ({"deploy": "true"}, "request [_search] contains unrecognized parameter: [deploy]"),
        ({"sort": "created_time:sideways"}, "Unknown SortOrder [sideways]"),
        ({"size": "10001"}, None),
    ],
)
def test_refused_url_parameters(params: dict[str, str], reason: str | None) -> None:
    error = refused({}, params)
    assert error.error_type == "illegal_argument_exception"
    assert reason is None or error.reason == reason


def test_url_size_minus_one_means_unset_as_in_opensearch() -> None:
    assert ids({"size": 1}, {"size": "-1"}) == ["m1"]


def test_url_parameters_without_effect_and_total_as_int() -> None:
    assert ids({}, {"pretty": "true", "routing": "x", "preference": "_local"}) == ["m1", "m2", "m3"]
    assert search({}, {"rest_total_hits_as_int": "true"})["hits"]["total"] == 3
    assert search({"size": 0})["hits"]["max_score"] is None


def test_queries_on_tasks_and_connectors() -> None:
    tasks = [
        (
            "t1",
            {
                "task_type": "REGISTER_MODEL",
                "state": "COMPLETED",
                "create_time": 5,
                "error": None,
                "is_async": False,
            },
        ),
        (
            "t2",
            {
                "task_type": "DEPLOY_MODEL",
                "state": "FAILED",
                "create_time": 9,
                "error": "Connection refused",
                "is_async": True,
            },
        ),
    ]
    assert query_ids({"term": {"state": "FAILED"}}, index=TASKS, docs=tasks) == ["t2"]
    assert query_ids({"match": {"error": "REFUSED"}}, index=TASKS, docs=tasks) == ["t2"]
    assert query_ids({"term": {"is_async": True}}, index=TASKS, docs=tasks) == ["t2"]
    assert ids({"sort": [{"create_time": "desc"}]}, index=TASKS, docs=tasks) == ["t2", "t1"]
    connectors = [
        (
            "c1",
            {
                "name": "A",
                "version": "1",
                "protocol": "aws_sigv4",
                "parameters": {"region": "us-east-1"},
            },
        )
    ]
    assert query_ids(
        {"term": {"parameters.region": "us-east-1"}}, index=CONNECTORS, docs=connectors
    ) == ["c1"]
    assert query_ids({"term": {"version": 1}}, index=CONNECTORS, docs=connectors) == ["c1"]


# --- robustness ------------------------------------------------------------------------------
QUERY_WORDS = [
    "query",
    "bool",
    "must",
    "filter",
    "should",
    "must_not",
    "minimum_should_match",
    "term",
    "terms",
    "match",
    "range",
    "exists",
    "prefix",
    "ids",
    "values",
    "field",
    "value",
    "query",
    "gte",
    "lt",
    "boost",
    "operator",
    "name",
    "name.keyword",
    "created_time",
    "model_state",
    "connector.parameters.endpoint",
    "sort",
    "order",
    "mode",
    "missing",
    "unmapped_type",
    "_source",
    "includes",
    "excludes",
    "size",
    "from",
    "track_total_hits",
    "match_all",
    "case_insensitive",
    "zero_terms_query",
    "nothing",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12_000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "x", "asc", "desc", "DEPLOYED", "openai", "50%", "now-1d", "*", "-1"]),
)
JSON_ISH = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(QUERY_WORDS), inner, max_size=3)
    ),
    max_leaves=12,
)


FIELDS = [
    "name",
    "name.keyword",
    "created_time",
    "model_state",
    "planning_worker_nodes",
    "connector.parameters.endpoint",
    "connector",
    "connector_id",
    "_id",
    "is_hidden",
]
PARAMS = [
    "value",
    "query",
    "gte",
    "lt",
    "gt",
    "lte",
    "boost",
    "operator",
    "case_insensitive",
    "minimum_should_match",
    "zero_terms_query",
    "values",
    "field",
    "format",
    "from",
]
LEAF = st.dictionaries(
    st.sampled_from(["term", "terms", "match", "range", "exists", "prefix", "ids", "match_all"]),
    st.dictionaries(
        st.sampled_from(FIELDS + PARAMS),
        SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(st.sampled_from(PARAMS), SCALARS),
        max_size=2,
    ),
    min_size=1,
    max_size=1,
)
CLAUSE = st.recursive(
    LEAF,
    lambda inner: st.fixed_dictionaries(
        {
            "bool": st.dictionaries(
                st.sampled_from(["must", "filter", "should", "must_not", "minimum_should_match"]),
                inner | st.lists(inner, max_size=3) | SCALARS,
                max_size=3,
            )
        }
    ),
    max_leaves=8,
)
SORT = st.lists(
    st.sampled_from(FIELDS + ["_score", "_doc"])
    | st.dictionaries(
        st.sampled_from(FIELDS), st.sampled_from(["asc", "desc"]) | JSON_ISH, max_size=1
    ),
    max_size=3,
)
BODY = st.fixed_dictionaries(
    {},
    optional={
        "query": CLAUSE,
        "sort": SORT | JSON_ISH,
        "_source": JSON_ISH,
        "size": SCALARS,
        "from": SCALARS,
        "track_total_hits": SCALARS,
    },
)


@settings(max_examples=500, deadline=None)
@given(BODY)
def test_any_body_answers_or_is_refused_with_a_400(body: dict[str, Any]) -> None:
    try:
        answer = search(body)
    except MLCommonsError as error:
        assert error.status == 400
    else:
        assert all(hit["_id"] in {"m1", "m2", "m3"} for hit in answer["hits"]["hits"])
