"""Provider imitations the connector blueprint pages need, beyond the basic four providers.

routes() lists the new provider routes; the five handlers below extend a basic route
(app.py puts them on it): each answers its new shapes and hands anything else to the basic one.
"""

from __future__ import annotations

from aiohttp import web

from tools.mock_upstream import azure_openai, bedrock_runtime, cohere_chat, google
from tools.mock_upstream.aleph_alpha import semantic_embed
from tools.mock_upstream.aws_json import aws_json_call
from tools.mock_upstream.bedrock_runtime import bedrock_runtime_invoke
from tools.mock_upstream.cohere_chat import cohere_embed_any
from tools.mock_upstream.faults import with_faults
from tools.mock_upstream.openai_compatible import compatible_chat
from tools.mock_upstream.received import received_bodies
from tools.mock_upstream.sagemaker_highlighter import sagemaker_highlight_or_any
from tools.mock_upstream.yandex import text_embedding, yandex_or_openai_embeddings

__all__ = [
    "bedrock_runtime_invoke",
    "cohere_embed_any",
    "compatible_chat",
    "routes",
    "sagemaker_any",
    "yandex_or_openai_embeddings",
]

# app.py puts this on the SageMaker invocations route: the highlighter container, then the rest.
sagemaker_any = sagemaker_highlight_or_any


def routes() -> list[web.RouteDef]:
    """The new provider routes, with the configured latency and failures like the others."""
    provider_routes = [
        web.post("/", aws_json_call),
        web.post("/semantic_embed", semantic_embed),
        web.post("/foundationModels/v1/textEmbedding", text_embedding),
        *azure_openai.routes(),
        *bedrock_runtime.routes(),
        *cohere_chat.routes(),
        *google.routes(),
    ]
    wrapped = [web.route(r.method, r.path, with_faults(r.handler)) for r in provider_routes]
    return [*wrapped, web.get("/received/{name}", received_bodies)]
