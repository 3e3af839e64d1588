"""Painless pre/post-process scripts through the cluster, against the mock OpenAI embeddings."""

from __future__ import annotations

import uuid
from typing import Any

from tests.integration.cluster import Cluster, MockUpstream, connector_body

# Each embedding of the answer as a tensor: what connector.post_process.openai.embedding does.
POST_SCRIPT = """
    def out = new StringBuilder("[");
    for (int i = 0; i < params.data.length; i++) {
        if (i > 0) { out.append(","); }
        def v = params.data[i].embedding;
        out.append("{\\"name\\":\\"sentence_embedding\\",\\"data_type\\":\\"FLOAT32\\",");
        out.append("\\"shape\\":[" + v.length + "],\\"data\\":" + v + "}");
    }
    return out.append("]").toString();
"""
PRE_SCRIPT = 'return "{\\"parameters\\":{\\"input\\":[\\"" + params.text_docs[0] + "\\"]}}";'


def embedding_model(gw: Cluster, mock: MockUpstream, **functions: str) -> str:
    action = {
        "action_type": "predict",
        "method": "POST",
        "url": "http://${parameters.endpoint}/v1/embeddings",
        "headers": {"Authorization": "Bearer ${credential.openAI_key}"},
        "request_body": '{ "input": ${parameters.input}, "model": "${parameters.model}" }',
        **functions,
    }
    body = connector_body(
        parameters={"endpoint": mock.host, "model": "text-embedding-ada-002"}, actions=[action]
    )
    connector_id = gw.ok("POST", "/_plugins/_ml/connectors/_create", body)["connector_id"]
    model_id = gw.register(connector_id, f"painless-{uuid.uuid4().hex[:8]}")
    gw.deploy(model_id)
    return model_id


def outputs(response: Any) -> list[Any]:
    assert response.status_code == 200, response.text
    return [result["output"] for result in response.json()["inference_results"]]


def test_a_post_process_script_shapes_the_answer_like_the_builtin(
    gw: Cluster, mock: MockUpstream
) -> None:
    scripted = embedding_model(gw, mock, post_process_function=POST_SCRIPT)
    builtin = embedding_model(
        gw, mock, post_process_function="connector.post_process.openai.embedding"
    )
    ask = {"input": ["hello world", "second text"]}
    with_script = outputs(gw.predict(scripted, ask))
    assert len(with_script) == 1 and len(with_script[0]) == 2
    assert with_script[0][0]["name"] == "sentence_embedding"
    assert with_script[0][0]["shape"] == [len(with_script[0][0]["data"])]
    assert with_script == outputs(gw.predict(builtin, ask))


def test_a_pre_process_script_makes_one_request_per_document(
    gw: Cluster, mock: MockUpstream
) -> None:
    model_id = embedding_model(
        gw,
        mock,
        pre_process_function=PRE_SCRIPT,
        post_process_function="connector.post_process.openai.embedding",
    )
    answer = gw.call(
        "POST",
        f"/_plugins/_ml/_predict/text_embedding/{model_id}",
        {"text_docs": ['say "hi"', "world"]},
    )
    results = outputs(answer)
    assert [len(output) for output in results] == [1, 1]
    assert results[0][0]["data"] != results[1][0]["data"]


def test_a_failing_script_is_a_400_naming_the_line(gw: Cluster, mock: MockUpstream) -> None:
    model_id = embedding_model(
        gw, mock, post_process_function="def d = params.data;\nreturn d[99].embedding;"
    )
    answer = gw.predict(model_id, {"input": ["x"]})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "illegal_argument_exception"
    assert "failed at line 2: Index 99 out of bounds" in error["reason"]


def test_a_bad_script_or_name_is_refused_at_create_and_update(
    gw: Cluster, mock: MockUpstream
) -> None:
    bad = connector_body(parameters={"endpoint": mock.host})
    bad["actions"][0]["post_process_function"] = "def x = params.a;\nreturn x.explode();"
    answer = gw.call("POST", "/_plugins/_ml/connectors/_create", bad)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["reason"] == (
        "Invalid painless script in post_process_function: line 2: unknown method [explode] "
        "with [0] arguments"
    )
    unknown = connector_body(parameters={"endpoint": mock.host})
    unknown["actions"][0]["pre_process_function"] = "connector.pre_process.nova.embeddings"
    answer = gw.call("POST", "/_plugins/_ml/connectors/_create", unknown)
    assert answer.status_code == 400, answer.text
    assert "Unsupported pre_process_function" in answer.json()["error"]["reason"]
    good = connector_body(parameters={"endpoint": mock.host})
    connector_id = gw.ok("POST", "/_plugins/_ml/connectors/_create", good)["connector_id"]
    update = {"actions": [{**good["actions"][0], "post_process_function": "return [;"}]}
    answer = gw.call("PUT", f"/_plugins/_ml/connectors/{connector_id}", update)
    assert answer.status_code == 400, answer.text
    assert "line 1: unexpected" in answer.json()["error"]["reason"]


def test_a_pre_process_script_can_process_a_parameters_predict(
    gw: Cluster, mock: MockUpstream
) -> None:
    script = 'return "{\\"parameters\\":{\\"input\\":[\\"" + params.question + "\\", \\"two\\"]}}";'
    model_id = embedding_model(
        gw,
        mock,
        pre_process_function=script,
        post_process_function="connector.post_process.openai.embedding",
    )
    # Without the flag ML Commons passes a parameters predict through: no "input" here.
    plain = gw.predict(model_id, {"question": "why"})
    assert plain.status_code == 400, plain.text
    flagged = gw.predict(
        model_id,
        {"question": "why", "pre_process_function.process_remote_inference_input": "true"},
    )
    assert [len(output) for output in outputs(flagged)] == [2]
