"""The response_filter JSONPath subset and the embedding post-process shaping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.errors import IllegalArgumentError
from workers.remote.http import Answer
from workers.remote.jsonpath import MISSING, query
from workers.remote.outcome import inference_result, inference_results_body


def to_inference_results(answer: Answer, **shaping: Any) -> str:
    """The predict body for one remote answer, as workers/predict.py builds it."""
    return inference_results_body([inference_result(answer, **shaping)])


DOC = {
    "data": [{"embedding": [1, 2]}, {"embedding": [3, 4]}],
    "choices": [{"message": {"role": "assistant", "content": "hi"}}],
    "embeddings": {"float": [[0.5, 0.25]], "int8": [[1, -2]]},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.data[*].embedding", [[1, 2], [3, 4]]),
        ("$.choices[0].message.content", "hi"),
        ("$['choices'][-1].message.role", "assistant"),
        ("$.embeddings.float", [[0.5, 0.25]]),
        ("$.embeddings.*", [[[0.5, 0.25]], [[1, -2]]]),
        ("$", DOC),
    ],
)
def test_query(path: str, expected: Any) -> None:
    assert query(DOC, path) == expected


def test_query_misses_and_bad_paths() -> None:
    assert query(DOC, "$.nope.deeper") is MISSING
    assert query(DOC, "$.choices[5]") is MISSING
    assert query(DOC, "$.nope[*]") == []
    for bad in ("data", "$..data", "$.data["):
        with pytest.raises(IllegalArgumentError):
            query(DOC, bad)


def shaped(body: Any, **options: str) -> Any:
    text = to_inference_results(Answer(200, json.dumps(body)), **options)
    return json.loads(text)["inference_results"][0]["output"]


def test_response_filter_wraps_what_it_picks_unless_a_json_string() -> None:
    # ML Commons' parseResponse: only a picked string holding JSON becomes the map itself.
    message = shaped(DOC, response_filter="$.choices[0].message")
    picked = {"role": "assistant", "content": "hi"}
    assert message == [{"name": "response", "dataAsMap": {"response": picked}}]
    as_text = shaped({"out": json.dumps(picked)}, response_filter="$.out")
    assert as_text[0]["dataAsMap"] == picked
    assert shaped(DOC, response_filter="$.choices[0].message.content")[0]["dataAsMap"] == {
        "response": "hi"
    }
    assert shaped(DOC, response_filter="$.missing")[0]["dataAsMap"] == DOC


def test_openai_embedding_post_process_gives_one_tensor_per_vector() -> None:
    output = shaped(DOC, post_process="connector.post_process.openai.embedding")
    assert output == [
        {"name": "sentence_embedding", "data_type": "FLOAT32", "shape": [2], "data": [1, 2]},
        {"name": "sentence_embedding", "data_type": "FLOAT32", "shape": [2], "data": [3, 4]},
    ]


def test_cohere_v2_and_bedrock_post_process() -> None:
    int8 = shaped(DOC, post_process="connector.post_process.cohere_v2.embedding.int8")
    assert int8 == [
        {"name": "sentence_embedding", "data_type": "INT8", "shape": [2], "data": [1, -2]}
    ]
    bedrock = shaped(
        {"embedding": [0.1, 0.2, 0.3]}, post_process="connector.post_process.bedrock.embedding"
    )
    assert bedrock[0]["shape"] == [3] and bedrock[0]["data_type"] == "FLOAT32"


def test_post_process_on_a_body_without_embeddings_is_400() -> None:
    with pytest.raises(IllegalArgumentError, match="non-empty List containing List of Float"):
        shaped({"data": []}, post_process="connector.post_process.openai.embedding")
