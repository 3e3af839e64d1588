"""More SageMaker containers: ColPali (multi-vector query and image embeddings) and an
asymmetric E5 text embedder ({"texts", "content_type"}).

Bodies with "queries" or "images" are ColPali's, bodies with "texts" the E5 container's;
anything else goes on to sagemaker.py's embedding and text-generation containers.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tools.mock_upstream.inputs import JSONDict, is_text_list, read_json
from tools.mock_upstream.model import embedding_vector
from tools.mock_upstream.sagemaker import sagemaker_invocations
from tools.mock_upstream.sigv4 import sigv4_denial

COLPALI_DIM = 128
PATCHES = 4
E5_DIM = 384
E5_PREFIXES = {"query": "query: ", "passage": "passage: "}


def _queries(queries: list[str]) -> JSONDict:
    tokens = [["<bos>", "Query", ":", *("\u2581" + w for w in q.split())] for q in queries]
    return {
        "query_embeddings": [[embedding_vector(t, COLPALI_DIM) for t in ts] for ts in tokens],
        "query_tokens": [
            {"raw": "<bos>Query: " + q, "tokens": ts} for q, ts in zip(queries, tokens, strict=True)
        ],
    }


def _images(images: list[str]) -> JSONDict:
    return {
        "image_embeddings": [
            [embedding_vector(f"{i}:{n}", COLPALI_DIM) for n in range(PATCHES)] for i in images
        ],
        "image_mask": [[1] * PATCHES for _ in images],
        "patch_shape": {
            "height": 2,
            "width": 2,
            "total": PATCHES,
            "image_size": [28, 28],
            "patch_size": 14,
        },
    }


def _colpali(body: JSONDict) -> JSONDict:
    result: JSONDict = {}
    queries, images = body.get("queries"), body.get("images")
    if is_text_list(queries):
        result.update(_queries(queries))
    if is_text_list(images):
        result.update(_images(images))
    if is_text_list(queries) and is_text_list(images):
        result["scores"] = [[0.5] * len(images) for _ in queries]
    return result


def _e5(body: JSONDict) -> list[list[float]] | None:
    """E5 vectors of texts, each embedded with its content type's prefix."""
    texts, kind = body.get("texts"), body.get("content_type")
    if not is_text_list(texts) or kind not in E5_PREFIXES:
        return None
    return [embedding_vector(E5_PREFIXES[kind] + text, E5_DIM) for text in texts]


async def sagemaker_any(request: web.Request) -> web.StreamResponse:
    """POST /endpoints/{endpoint_name}/invocations: ColPali and E5 here, others in sagemaker.py."""
    body: Any = await read_json(request)
    if not isinstance(body, dict) or not ({"queries", "images", "texts"} & body.keys()):
        return await sagemaker_invocations(request)
    denial = await sigv4_denial(request, "sagemaker")
    if denial is not None:
        return denial
    result: Any = _e5(body) if "texts" in body else _colpali(body)
    if not result:
        message = "queries/images, or texts with a query or passage content_type, are required"
        return web.json_response({"message": message}, status=400)
    return web.json_response(result, headers={"x-Amzn-Invoked-Production-Variant": "AllTraffic"})
