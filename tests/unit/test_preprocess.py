"""text_docs inputs become the parameter sets ML Commons' pre-process functions produce."""

from __future__ import annotations

import json

import pytest

from common.errors import IllegalArgumentError
from workers.remote.preprocess import (
    fill_function,
    parameter_sets,
    remote_inference_parameters,
    rerank_parameters,
)

DOCS = ["hello", "Moët", "third"]


@pytest.mark.parametrize(
    ("function", "key"),
    [
        (None, "input"),
        ("connector.pre_process.openai.embedding", "input"),
        ("connector.pre_process.default.embedding", "input"),
        ("connector.pre_process.cohere.embedding", "texts"),
    ],
)
def test_list_style_functions_send_one_request(function: str | None, key: str) -> None:
    sets = parameter_sets(function, DOCS, {})
    assert len(sets) == 1 and json.loads(sets[0][key]) == DOCS


def test_bedrock_sends_one_request_per_document() -> None:
    sets = parameter_sets("connector.pre_process.bedrock.embedding", DOCS, {})
    assert sets == [{"inputText": "hello"}, {"inputText": "Moët"}, {"inputText": "third"}]


def test_step_size_chunks_documents() -> None:
    sets = parameter_sets(None, DOCS, {"input_docs_processed_step_size": "2"})
    assert [json.loads(s["input"]) for s in sets] == [["hello", "Moët"], ["third"]]
    for bad in ("0", "-1", "x"):
        with pytest.raises(IllegalArgumentError, match="must be positive integer"):
            parameter_sets(None, DOCS, {"input_docs_processed_step_size": bad})


def test_unknown_function_is_refused() -> None:
    with pytest.raises(IllegalArgumentError, match="Unsupported pre_process_function"):
        parameter_sets("connector.pre_process.painless.custom", DOCS, {})


PRE = "connector.pre_process."


@pytest.mark.parametrize(
    ("function", "key"),
    [
        ("bedrock.nova.text_embedding", "inputText"),
        ("bedrock.nova.image_embedding", "inputImage"),
        ("bedrock.nova.video_embedding", "inputVideo"),
        ("bedrock.nova.audio_embedding", "inputAudio"),
        ("cohere.multimodal_embedding", "images"),
    ],
)
def test_single_input_functions_send_one_request_per_document(function: str, key: str) -> None:
    assert parameter_sets(PRE + function, ["a", "b"], {}) == [{key: "a"}, {key: "b"}]


def test_nova_multimodal_unwraps_the_modality_of_each_document() -> None:
    docs = ['{"text": "hi"}', '{"image": "aGk="}', '{"video": "x"}', '{"audio": "y"}', "plain"]
    sets = parameter_sets(PRE + "bedrock.nova.embedding", docs, {})
    assert sets == [
        {"text": "hi"},
        {"image": "aGk="},
        {"video": "x"},
        {"audio": "y"},
        {"text": "plain"},
    ]
    # Not an object naming a modality: the document is text, sent unchanged.
    assert parameter_sets(PRE + "bedrock.nova.embedding", ['["a"]', '{"k": 1}'], {}) == [
        {"text": '["a"]'},
        {"text": '{"k": 1}'},
    ]


def test_bedrock_multimodal_sends_text_and_image_together() -> None:
    function = PRE + "bedrock.multimodal_embedding"
    assert parameter_sets(function, ["a cat", "aW1n"], {}) == [
        {"inputText": "a cat", "inputImage": "aW1n"}
    ]
    assert parameter_sets(function, ["only text"], {}) == [{"inputText": "only text"}]


def test_rerank_functions_need_text_similarity_input() -> None:
    with pytest.raises(IllegalArgumentError, match="TextSimilarityInputDataSet"):
        parameter_sets(PRE + "cohere.rerank", DOCS, {})


def test_rerank_parameters() -> None:
    cohere = rerank_parameters(PRE + "cohere.rerank", "q", ["d1", "d2"])
    assert cohere == {"query": "q", "documents": '["d1","d2"]', "top_n": "2"}
    bedrock = rerank_parameters(PRE + "bedrock.rerank", "q", ["d1"])
    assert json.loads(bedrock["queries"]) == [{"textQuery": {"text": "q"}, "type": "TEXT"}]
    assert json.loads(bedrock["sources"])[0]["inlineDocumentSource"]["textDocument"] == {
        "text": "d1"
    }
    assert bedrock["numberOfResults"] == "1"


SCRIPT = """
    StringBuilder builder = new StringBuilder();
    builder.append("\\"");
    builder.append(params.text_docs[0]);
    builder.append("\\"");
    return "{\\"parameters\\":{\\"inputText\\":" + builder
        + ",\\"n\\":" + params.text_docs.length + "}}";
"""


def test_a_script_runs_once_per_document_on_escaped_text() -> None:
    docs = ['quote " and <tag>', "line\nbreak"]
    sets = parameter_sets(SCRIPT, docs, {})
    # The script sees each document escaped as ML Commons does (Gson), so the JSON it
    # writes reads back to the document; numbers come back as Gson writes doubles.
    assert sets == [{"inputText": docs[0], "n": "1.0"}, {"inputText": docs[1], "n": "1.0"}]


def test_a_script_with_a_step_size_gets_chunks() -> None:
    script = 'return "{\\"parameters\\":{\\"n\\":\\"" + params.text_docs.length + "\\"}}";'
    sets = parameter_sets(script, ["a", "b", "c"], {"input_docs_processed_step_size": "2"})
    assert sets == [{"n": "2"}, {"n": "1"}]


@pytest.mark.parametrize(
    ("script", "problem"),
    [
        ("return null;", "Preprocess function output is null"),
        ('return "not json";', "not a JSON object"),
        ('return "{\\"parameters\\": 3}";', "not a JSON object"),
        ("return params.text_docs[5];", "failed at line 1: Index 5 out of bounds"),
    ],
)
def test_a_script_with_unusable_output_is_a_400(script: str, problem: str) -> None:
    with pytest.raises(IllegalArgumentError, match=problem):
        parameter_sets(script, ["a"], {})


def test_remote_inference_input_passes_through_unless_asked() -> None:
    script = 'return "{\\"parameters\\":{\\"prompt\\":\\"" + params.question + "?\\"}}";'
    given = {"question": "why"}
    assert remote_inference_parameters(script, given, {}) is None
    flag = {"pre_process_function.process_remote_inference_input": "true"}
    assert remote_inference_parameters(script, given, flag) == {"prompt": "why?"}
    assert remote_inference_parameters(PRE + "openai.embedding", given, flag) is None


def test_remote_inference_params_can_become_objects() -> None:
    script = 'return "{\\"parameters\\":{\\"n\\":\\"" + params.obj.k + "\\"}}";'
    flags = {
        "pre_process_function.process_remote_inference_input": "true",
        "pre_process_function.convert_remote_inference_param_to_object": "true",
    }
    assert remote_inference_parameters(script, {"obj": '{"k": 2}'}, flags) == {"n": "2.0"}


def test_parameters_in_a_script_are_filled_as_json_strings() -> None:
    filled = fill_function('return ${parameters.word} + "${parameters.none}";', {"word": 'a"b'})
    assert filled == 'return "a\\"b" + "${parameters.none}";'
    assert fill_function("connector.pre_process.openai.embedding", {}) == (
        "connector.pre_process.openai.embedding"
    )
