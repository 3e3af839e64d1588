"""text_docs inputs become the parameter sets ML Commons' pre-process functions produce."""

from __future__ import annotations

import json

import pytest

from common.errors import IllegalArgumentError
from workers.remote.preprocess import parameter_sets

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
