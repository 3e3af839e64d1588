"""Answers shaped by Painless post-process scripts and the non-embedding built-in functions."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from common.errors import IllegalArgumentError, MLCommonsError
from common.messages import ErrorInfo
from common.painless import compile_script
from common.painless.values import Rope
from workers.remote import scripted
from workers.remote.http import Answer
from workers.remote.offload import shape_encoded
from workers.remote.outcome import inference_result

P = "connector.post_process."


def shaped(body: Any, post: str, response_filter: str | None = None) -> list[dict[str, Any]]:
    text = body if isinstance(body, str) else json.dumps(body)
    result = inference_result(Answer(200, text), post_process=post, response_filter=response_filter)
    assert result["status_code"] == 200
    output: list[dict[str, Any]] = result["output"]
    return output


def test_json_object_from_a_script_is_one_tensor_in_ml_commons_field_order() -> None:
    script = (
        'return "{\\"extra\\":1,\\"data\\":" + params.v + ",\\"shape\\":[2],'
        '\\"data_type\\":\\"FLOAT32\\",\\"name\\":\\"e\\"}";'
    )
    output = shaped({"v": [0.5, 1]}, script)
    assert output == [{"name": "e", "data_type": "FLOAT32", "shape": [2], "data": [0.5, 1.0]}]
    assert list(output[0]) == ["name", "data_type", "shape", "data"]


def test_json_array_from_a_script_is_one_tensor_per_item() -> None:
    script = """
        def out = new StringBuilder("[");
        for (int i = 0; i < params.result.length; i++) {
            if (i > 0) out.append(",");
            out.append("{\\"name\\":\\"r" + i + "\\",\\"result\\":\\"" + params.result[i] + "\\"}");
        }
        return out.append("]").toString();
    """
    assert shaped(["a", "b"], script) == [
        {"name": "r0", "result": "a"},
        {"name": "r1", "result": "b"},
    ]


def test_text_from_a_script_is_the_response() -> None:
    assert shaped({"a": {"b": "hello"}}, "return params.a.b;") == [
        {"name": "response", "dataAsMap": {"response": "hello"}}
    ]


def test_null_from_a_script_leaves_the_answer_as_it_is() -> None:
    assert shaped({"x": 1}, "return null;") == [{"name": "response", "dataAsMap": {"x": 1}}]


def test_script_sees_numbers_as_doubles_like_gson() -> None:
    assert shaped(
        {"n": 3, "l": [1, 2.5], "m": {"k": 7}}, 'return "" + params.n + params.l + params.m;'
    ) == [{"name": "response", "dataAsMap": {"response": "3.0[1.0, 2.5]{k=7.0}"}}]


def test_a_scalar_answer_is_refused() -> None:
    with pytest.raises(IllegalArgumentError, match="Unsupported response type"):
        shaped("42", "return 'x';")


def test_a_failing_script_is_a_400_naming_the_line() -> None:
    with pytest.raises(IllegalArgumentError, match="failed at line 2: .*out of bounds") as info:
        shaped({"l": []}, "def l = params.l;\nreturn l[3];")
    assert info.value.status == 400


def test_invalid_tensor_type_is_refused() -> None:
    with pytest.raises(IllegalArgumentError, match="data_type FLOAT99"):
        shaped({}, 'return "{\\"name\\":\\"x\\",\\"data_type\\":\\"FLOAT99\\"}";')


def test_response_filter_applies_to_the_script_output() -> None:
    output = shaped({"a": 1}, 'return "{\\"inner\\":{\\"k\\":\\"v\\"}}";', "$.inner")
    assert output == [{"name": "response", "dataAsMap": {"response": {"k": "v"}}}]


def test_an_upstream_error_is_relayed_before_the_script_runs() -> None:
    with pytest.raises(MLCommonsError, match="Error from remote service") as info:
        inference_result(Answer(401, '{"message":"no"}'), post_process="return 'x';")
    assert info.value.status == 401


def test_the_offload_child_shapes_with_the_same_script() -> None:
    answer = Answer(200, json.dumps({"embedding": [0.25, 0.5]}))
    script = (
        'return "{\\"name\\":\\"e\\",\\"data_type\\":\\"FLOAT32\\",\\"data\\":"'
        ' + params.embedding + "}";'
    )
    encoded = shape_encoded(answer, None, script)
    assert isinstance(encoded, bytes)
    assert msgspec.json.decode(encoded) == inference_result(answer, post_process=script)
    failed = shape_encoded(answer, None, "return params.embedding.nope();")
    assert isinstance(failed, ErrorInfo) and "unknown method [nope]" in failed.to_error().reason


# Built-in functions other than embeddings.


def test_cohere_rerank_scores_documents_in_their_order() -> None:
    body = {"results": [{"index": 1, "relevance_score": 0.9}, {"index": 0, "relevance_score": 0.1}]}
    assert shaped(body, P + "cohere.rerank") == [
        {"name": "similarity", "data_type": "FLOAT32", "shape": [1], "data": [0.1]},
        {"name": "similarity", "data_type": "FLOAT32", "shape": [1], "data": [0.9]},
    ]


def test_bedrock_and_default_rerank() -> None:
    bedrock = {"results": [{"index": 0, "relevanceScore": 0.7}]}
    assert shaped(bedrock, P + "bedrock.rerank")[0]["data"] == [0.7]
    default = [{"index": 0, "relevance_score": 0.3}]
    assert shaped(default, P + "default.rerank")[0]["data"] == [0.3]


def test_rerank_without_scores_is_refused() -> None:
    with pytest.raises(IllegalArgumentError, match="should contain index and relevance_score"):
        shaped({"results": [{"index": 0}]}, P + "cohere.rerank")
    with pytest.raises(IllegalArgumentError, match="is not a List"):
        shaped({"results": {"index": 0}}, P + "cohere.rerank")


def test_bedrock_batch_job_arn_adds_the_escaped_arn() -> None:
    body = {"jobArn": "arn:aws:bedrock:us-east-1:1:model-invocation-job/abc"}
    assert shaped(body, P + "bedrock.batch_job_arn") == [
        {
            "name": "response",
            "dataAsMap": {
                **body,
                "processedJobArn": "arn:aws:bedrock:us-east-1:1:model-invocation-job%2Fabc",
            },
        }
    ]
    with pytest.raises(IllegalArgumentError, match="job arn is missing"):
        shaped({"x": 1}, P + "bedrock.batch_job_arn")


def test_passthrough_keeps_a_remote_ml_commons_answer() -> None:
    tensor = {"name": "output", "dataAsMap": {"response": [{"a": 1.5}]}}
    body = {"inference_results": [{"output": [tensor], "status_code": 200}]}
    assert shaped(body, P + "mlcommons.passthrough") == [tensor]
    assert shaped({"plain": True}, P + "mlcommons.passthrough") == [
        {"name": "response", "dataAsMap": {"plain": True}}
    ]


# A String built around a long list of doubles is kept as a Rope and parsed around the list;
# the result must be exactly what printing and parsing the text gives.
VECTOR = [0.1 * i - 1.5 for i in range(40)] + [1e-5, -2.5e-9, 123456789.0]


@pytest.mark.parametrize(
    "script",
    [
        'return "{\\"name\\":\\"e\\",\\"data_type\\":\\"FLOAT32\\",\\"data\\":" + params.v + "}";',
        'return "[{\\"name\\":\\"a\\",\\"data_type\\":\\"FLOAT32\\",\\"data\\":" + params.v'
        ' + "},{\\"name\\":\\"b\\",\\"data_type\\":\\"FLOAT32\\",\\"data\\":" + params.v + "}]";',
        'return "{\\"name\\":\\"" + params.v + "\\"}";',  # inside a JSON string
        'return "{" + params.v + ":1}";',  # as a key: not JSON
        'return "" + params.v;',  # a bare list of numbers
        'return "{\\"dataAsMap\\":{\\"v\\":" + params.v + "},\\"name\\":\\"m\\"}";',
        'def b = new StringBuilder("{\\"result\\":\\"x\\",\\"data_type\\":\\"FLOAT32\\",'
        '\\"data\\":"); b.append(params.v); b.append("}"); return b.toString();',
        'def s = "{\\"data_type\\":\\"FLOAT32\\",\\"data\\":" + params.v + "}";'
        " return s.substring(0, s.length());",
    ],
)
def test_a_rope_shapes_exactly_like_its_text(script: str) -> None:
    compiled = compile_script(script)
    params = scripted.script_params(json.dumps({"v": VECTOR}))
    rope = compiled.run_value(params)  # a Rope unless a method read the characters
    text = compiled.run(params)  # the same String, printed
    assert rope is not None and text is not None
    outcomes: list[Any] = []
    for value in (rope, text):
        try:
            outcomes.append(scripted.tensors_or_text(value))
        except IllegalArgumentError as error:
            outcomes.append(str(error))
    assert outcomes[0] == outcomes[1]
    assert (
        outcomes[0] is None
        or isinstance(outcomes[0], str)
        or outcomes[0][0].get("data")
        in (
            None,
            VECTOR,
        )
    )


def test_a_rope_that_is_json_is_parsed_around_its_lists() -> None:
    script = 'return "{\\"data_type\\":\\"FLOAT32\\",\\"data\\":" + params.v + "}";'
    rope = compile_script(script).run_value(scripted.script_params(json.dumps({"v": VECTOR})))
    assert isinstance(rope, Rope)
    parsed = scripted.rope_json(rope)
    assert parsed == {"data_type": "FLOAT32", "data": VECTOR}
    assert parsed["data"] is not VECTOR  # the params' own list, not a re-parse of text
