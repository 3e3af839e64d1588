"""Turn predict inputs into request parameter sets, as ML Commons' pre-process functions do.

text_docs (the _predict/text_embedding form): OpenAI-style and default connectors get one
request with "input" holding the documents, Cohere gets "texts"; Bedrock and the Nova
functions get one request per document ("inputText", "inputImage", ...); the multimodal
function sends text and image together. A Painless script runs once per document (or per
input_docs_processed_step_size chunk) with params {"text_docs": [...]} and must return
{"parameters": {...}}. A plain parameters predict passes through, unless the connector's
script is asked to process it (pre_process_function.process_remote_inference_input=true).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from common import painless
from common.errors import IllegalArgumentError
from common.painless.values import double_text
from common.process_functions import PRE
from common.records import FreeForm

LIST_KEYS = {
    None: "input",
    PRE + "openai.embedding": "input",
    PRE + "default.embedding": "input",
    PRE + "cohere.embedding": "texts",
}
PER_DOCUMENT_KEYS = {
    PRE + "bedrock.embedding": "inputText",
    PRE + "bedrock.nova.text_embedding": "inputText",
    PRE + "bedrock.nova.image_embedding": "inputImage",
    PRE + "bedrock.nova.video_embedding": "inputVideo",
    PRE + "bedrock.nova.audio_embedding": "inputAudio",
    PRE + "cohere.multimodal_embedding": "images",
}
MULTIMODAL = (PRE + "bedrock.multimodal_embedding", PRE + "multimodal.embedding")
NOVA_MULTIMODAL = PRE + "bedrock.nova.embedding"
RERANK = (PRE + "cohere.rerank", PRE + "bedrock.rerank", PRE + "default.rerank")
PROCESS_REMOTE_INPUT = "pre_process_function.process_remote_inference_input"
CONVERT_TO_OBJECT = "pre_process_function.convert_remote_inference_param_to_object"
SCRIPT_WHAT = "script in pre_process_function"


def parameter_sets(
    function: str | None,
    docs: list[str],
    connector_params: Mapping[str, str | None],
    script: painless.Script | None = None,
) -> list[FreeForm]:
    """Return one parameters mapping per remote request the documents need."""
    if painless.is_script(function):
        assert function is not None
        compiled = script or painless.cached(function, SCRIPT_WHAT)
        step = _step_size(connector_params) or 1  # a script gets one document per request
        return [_run_script(compiled, docs[i : i + step]) for i in range(0, len(docs), step)]
    if function in PER_DOCUMENT_KEYS:
        return [{PER_DOCUMENT_KEYS[function]: doc} for doc in docs]
    if function == NOVA_MULTIMODAL:
        return [dict([_nova_input(doc)]) for doc in docs]
    if function in MULTIMODAL:
        sets: FreeForm = {"inputText": docs[0]}
        if len(docs) > 1:
            sets["inputImage"] = docs[1]
        return [sets]
    if function in RERANK:
        raise IllegalArgumentError(
            "This pre_process_function can only support TextSimilarityInputDataSet"
        )
    if function not in LIST_KEYS:
        raise IllegalArgumentError(f"Unsupported pre_process_function for text_docs: {function}")
    key = LIST_KEYS[function]
    step = _step_size(connector_params) or len(docs)
    return [
        {key: json.dumps(docs[i : i + step], ensure_ascii=False)} for i in range(0, len(docs), step)
    ]


def rerank_parameters(function: str | None, query: str, docs: list[str]) -> FreeForm:
    """The parameters of a rerank pre-process function (text_similarity input)."""
    if function == PRE + "bedrock.rerank":
        return {
            "queries": _json([{"textQuery": {"text": query}, "type": "TEXT"}]),
            "sources": _json(
                [
                    {
                        "inlineDocumentSource": {"textDocument": {"text": doc}, "type": "TEXT"},
                        "type": "INLINE",
                    }
                    for doc in docs
                ]
            ),
            "numberOfResults": str(len(docs)),
        }
    if function in (PRE + "cohere.rerank", PRE + "default.rerank"):
        return {"query": query, "documents": _json(docs), "top_n": str(len(docs))}
    raise IllegalArgumentError(
        "This pre_process_function can only support TextDocsInputDataSet which including a "
        "list of string with key 'text_docs'"
    )


def remote_inference_parameters(
    function: str | None,
    parameters: Mapping[str, str | None],
    connector_params: Mapping[str, str | None],
    script: painless.Script | None = None,
) -> FreeForm | None:
    """A script's parameters for a plain parameters predict, or None to pass it through."""
    if not painless.is_script(function):
        return None
    merged = {**connector_params, **parameters}
    if str(merged.get(PROCESS_REMOTE_INPUT)).lower() != "true":
        return None
    assert function is not None
    compiled = script or painless.cached(function, SCRIPT_WHAT)
    params: dict[str, Any] = dict(parameters)
    if str(merged.get(CONVERT_TO_OBJECT)).lower() == "true":
        params = {key: _as_object(value) for key, value in parameters.items()}
    return _parameters_of(compiled.run(params))


def fill_function(function: str | None, parameters: Mapping[str, str | None]) -> str | None:
    """Fill ${parameters.x} in a script with x as a JSON string, as ML Commons does."""
    if function is None or "${parameters." not in function:
        return function
    replace: Callable[[re.Match[str]], str] = lambda m: (  # noqa: E731
        _json(parameters[m[1]]) if m[1] in parameters else m[0]
    )
    return _PLACEHOLDER.sub(replace, function)


_PLACEHOLDER = re.compile(r"\$\{parameters\.([^}]+)\}")


def _run_script(script: painless.Script, docs: list[str]) -> FreeForm:
    return _parameters_of(script.run({"text_docs": [_gson_text(doc) for doc in docs]}))


def _parameters_of(output: str | None) -> FreeForm:
    """A pre-process script's {"parameters": {...}}, values as strings (Gson's toJson)."""
    if output is None:
        raise IllegalArgumentError("Preprocess function output is null")
    try:
        value = json.loads(output, strict=False, parse_int=float)  # Gson reads doubles
    except (ValueError, RecursionError):
        raise IllegalArgumentError(
            'Preprocess function output is not a JSON object {"parameters": {...}}'
        ) from None
    parameters = value.get("parameters", {}) if isinstance(value, dict) else None
    if not isinstance(parameters, dict):
        raise IllegalArgumentError(
            'Preprocess function output is not a JSON object {"parameters": {...}}'
        )
    return {key: item if isinstance(item, str) else _json(item) for key, item in parameters.items()}


NOVA_MODALITIES = ("text", "image", "video", "audio")


def _nova_input(doc: str) -> tuple[str, str]:
    """ML Commons' Nova multimodal pre-process: the document's modality and its content.

    A document may be JSON naming its modality ({"image": "<base64>"}), whose value is sent;
    anything else is text, sent as it is.
    """
    try:
        wrapped = json.loads(doc)
    except ValueError:
        return "text", doc
    if not isinstance(wrapped, dict):
        return "text", doc
    for modality in NOVA_MODALITIES:
        if modality in wrapped:
            value = wrapped[modality]
            return modality, value if isinstance(value, str) else json.dumps(value)
    return "text", doc


def _step_size(connector_params: Mapping[str, str | None]) -> int | None:
    raw = connector_params.get("input_docs_processed_step_size")
    if raw is None:
        return None
    try:
        step = int(raw)
    except ValueError:
        step = 0
    if step <= 0:
        raise IllegalArgumentError(
            "Invalid parameter: input_docs_processed_step_size. It must be positive integer."
        )
    return step


def _json(value: Any) -> str:
    """Gson's toJson: compact, non-ASCII kept, doubles as Java writes them."""
    if isinstance(value, float):
        return double_text(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _gson_text(doc: str) -> str:
    """ML Commons' processTextDoc: the document as the inside of a Gson JSON string."""
    text = json.dumps(doc, ensure_ascii=False)[1:-1]
    return text.translate(_GSON_HTML)


# Gson escapes these by default (HTML-safe output).
_GSON_HTML = {ord(c): f"\\u{ord(c):04x}" for c in "<>&='\u2028\u2029"}


def _as_object(value: str | None) -> Any:
    if value is None or value.strip()[:1] not in ("{", "["):
        return value
    try:
        return json.loads(value, parse_int=float)
    except ValueError:
        return value
