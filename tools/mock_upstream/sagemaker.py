"""SageMaker imitation: endpoint invocations of an embedding or a text-generation container."""

from __future__ import annotations

from aiohttp import web

from tools.mock_upstream.config import CONFIG_KEY
from tools.mock_upstream.inputs import as_texts, is_text_list, is_text_or_texts, read_json
from tools.mock_upstream.model import embedding_vector, reply_to
from tools.mock_upstream.sigv4 import aws_error, sigv4_denial

SAGEMAKER_MALFORMED = (
    'Received client error (400) from primary with message "expected a JSON list of strings '
    'or an object with inputs".'
)


async def sagemaker_invocations(request: web.Request) -> web.StreamResponse:
    """POST /endpoints/{endpoint_name}/invocations: embedding or text-generation container."""
    denial = await sigv4_denial(request, "sagemaker")
    if denial is not None:
        return denial
    body = await read_json(request)
    # botocore surfaces this header as InvokedProductionVariant.
    headers = {"x-Amzn-Invoked-Production-Variant": "AllTraffic"}
    if is_text_list(body):
        dim = request.app[CONFIG_KEY].embedding_dim
        return web.json_response([embedding_vector(t, dim) for t in body], headers=headers)
    if isinstance(body, dict) and is_text_or_texts(body.get("inputs")):
        generated = [{"generated_text": reply_to(t)} for t in as_texts(body["inputs"])]
        return web.json_response(generated, headers=headers)
    return aws_error(424, "ModelError", SAGEMAKER_MALFORMED)
