"""Amazon Comprehend and Textract: AWS JSON 1.1 APIs on POST /, chosen by X-Amz-Target."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable

from aiohttp import web

from tools.mock_upstream.inputs import JSONDict, json_object
from tools.mock_upstream.sigv4 import aws_error, sigv4_denial

AMZ_JSON = "application/x-amz-json-1.1"
Operation = Callable[[JSONDict], JSONDict | str]


def _language(text: str) -> str:
    """A plausible dominant language: the script of the text decides."""
    if any("\u3040" <= c <= "\u30ff" for c in text):
        return "ja"
    if any("\uac00" <= c <= "\ud7af" for c in text):
        return "ko"
    if any("\u4e00" <= c <= "\u9fff" for c in text):
        return "zh"
    french = {"bonjour", "merci", "le", "la", "est"}
    return "fr" if french & set(text.lower().split()) else "en"


def _text(body: JSONDict) -> str | None:
    text = body.get("Text")
    return text if isinstance(text, str) and text else None


def detect_dominant_language(body: JSONDict) -> JSONDict | str:
    text = _text(body)
    if text is None:
        return "1 validation error detected: Value at 'text' failed to satisfy constraint"
    first = _language(text)
    second = "en" if first != "en" else "fr"
    return {
        "Languages": [
            {"LanguageCode": first, "Score": 0.9},
            {"LanguageCode": second, "Score": 0.05},
        ]
    }


def detect_entities(body: JSONDict) -> JSONDict | str:
    text = _text(body)
    if text is None or not isinstance(body.get("LanguageCode"), str):
        return "1 validation error detected: Text and LanguageCode are required"
    entities = []
    offset = 0
    for word in text.split():
        start = text.index(word, offset)
        offset = start + len(word)
        if word[:1].isupper():
            name = word.strip(".,;:!?")
            entities.append(
                {
                    "BeginOffset": start,
                    "EndOffset": start + len(name),
                    "Score": 0.99,
                    "Text": name,
                    "Type": "PERSON" if start == 0 else "LOCATION",
                }
            )
    return {"Entities": entities}


def detect_document_text(body: JSONDict) -> JSONDict | str:
    document = body.get("Document")
    raw = document.get("Bytes") if isinstance(document, dict) else None
    try:
        image = base64.b64decode(raw, validate=True) if isinstance(raw, str) else b""
    except binascii.Error:
        image = b""
    if not image:
        return "Request has invalid parameters: Document.Bytes must be base64 image bytes"
    box = {"BoundingBox": {"Height": 1, "Left": 0, "Top": 0, "Width": 1}, "Polygon": []}
    line_id = str(uuid.uuid4())
    blocks = [
        {
            "BlockType": "PAGE",
            "Geometry": box,
            "Id": str(uuid.uuid4()),
            "Relationships": [{"Ids": [line_id], "Type": "CHILD"}],
        },
        {
            "BlockType": "LINE",
            "Confidence": 99.0,
            "Geometry": box,
            "Id": line_id,
            "Text": f"{len(image)} bytes",
            "Relationships": [],
        },
    ]
    return {
        "Blocks": blocks,
        "DetectDocumentTextModelVersion": "1.0",
        "DocumentMetadata": {"Pages": 1},
    }


OPERATIONS: dict[str, tuple[str, Operation]] = {
    "Comprehend_20171127.DetectDominantLanguage": ("comprehend", detect_dominant_language),
    "Comprehend_20171127.DetectEntities": ("comprehend", detect_entities),
    "Textract.DetectDocumentText": ("textract", detect_document_text),
}


async def aws_json_call(request: web.Request) -> web.StreamResponse:
    """POST /: the operation named by X-Amz-Target, signed for its service."""
    target = request.headers.get("X-Amz-Target", "")
    if target not in OPERATIONS:
        return aws_error(400, "UnknownOperationException", f"Unknown operation {target!r}")
    service, operation = OPERATIONS[target]
    denial = await sigv4_denial(request, service)
    if denial is not None:
        return denial
    body = await json_object(request)
    result = operation(body) if body is not None else "Request body is not a JSON object"
    if isinstance(result, str):
        return aws_error(400, "InvalidRequestException", result)
    return web.json_response(result, content_type=AMZ_JSON)
