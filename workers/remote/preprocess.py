"""Turn text_docs inputs (the _predict/text_embedding form) into request parameter sets.

Mirrors ML Commons' built-in pre-process functions: OpenAI-style and default connectors get
one request with "input" holding the documents, Cohere gets "texts", Bedrock gets one request
per document with "inputText". input_docs_processed_step_size splits documents into chunks.
"""

from __future__ import annotations

import json

from common.errors import IllegalArgumentError
from common.records import FreeForm

LIST_KEYS = {
    None: "input",
    "connector.pre_process.openai.embedding": "input",
    "connector.pre_process.default.embedding": "input",
    "connector.pre_process.cohere.embedding": "texts",
}
PER_DOCUMENT = {"connector.pre_process.bedrock.embedding": "inputText"}


def parameter_sets(
    function: str | None, docs: list[str], connector_params: dict[str, str | None]
) -> list[FreeForm]:
    """Return one parameters mapping per remote request the documents need."""
    if function in PER_DOCUMENT:
        return [{PER_DOCUMENT[function]: doc} for doc in docs]
    if function not in LIST_KEYS:
        raise IllegalArgumentError(f"Unsupported pre_process_function for text_docs: {function}")
    key = LIST_KEYS[function]
    return [
        {key: json.dumps(chunk, ensure_ascii=False)} for chunk in _chunks(docs, connector_params)
    ]


def _chunks(docs: list[str], connector_params: dict[str, str | None]) -> list[list[str]]:
    raw = connector_params.get("input_docs_processed_step_size")
    if raw is None:
        return [docs]
    try:
        step = int(raw)
    except ValueError:
        step = 0
    if step <= 0:
        raise IllegalArgumentError(
            "Invalid parameter: input_docs_processed_step_size. It must be positive integer."
        )
    return [docs[i : i + step] for i in range(0, len(docs), step)]
