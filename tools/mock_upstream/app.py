"""The mock-upstream aiohttp application: every provider imitation and helper on its route."""

from __future__ import annotations

import random
from collections import Counter

from aiohttp import web

from tools.mock_upstream import batch_openai, batch_sagemaker, hostile, httpbin, providers
from tools.mock_upstream.config import CONFIG_KEY, ERROR_RNG_KEY, MockConfig
from tools.mock_upstream.faults import with_faults
from tools.mock_upstream.openai import completions
from tools.mock_upstream.received import RECEIVED_KEY, Received, record_bodies
from tools.mock_upstream.tally import TALLY_KEY, count_requests, tally

# Benchmarks post large batches; aiohttp's 1 MiB default would reject them with 413.
MAX_BODY_BYTES = 64 * 1024 * 1024


def create_app(config: MockConfig) -> web.Application:
    """Build the mock-upstream application for config."""
    app = web.Application(
        client_max_size=MAX_BODY_BYTES, middlewares=[count_requests, record_bodies]
    )
    app[CONFIG_KEY] = config
    app[TALLY_KEY] = Counter()
    app[RECEIVED_KEY] = Received()
    # One RNG per app, so a seed replays the same failure sequence in every run.
    app[ERROR_RNG_KEY] = random.Random(config.seed)
    app.router.add_routes(
        [
            web.post("/v1/chat/completions", with_faults(providers.compatible_chat)),
            web.post("/v1/completions", with_faults(completions)),
            web.post("/v1/embeddings", with_faults(providers.yandex_or_openai_embeddings)),
            web.post("/v1/embed", with_faults(providers.cohere_embed_any)),
            web.post(
                "/endpoints/{endpoint_name}/invocations", with_faults(providers.sagemaker_any)
            ),
            web.post("/model/{model_id}/invoke", with_faults(providers.bedrock_runtime_invoke)),
            web.post("/post", httpbin.echo),
            web.get("/get", httpbin.echo),
            web.route("*", r"/status/{code:\d{1,3}}", httpbin.status),
            web.post("/text", httpbin.plain_text),
            web.post("/empty", httpbin.empty),
            web.get("/health", httpbin.health),
            web.get("/tally/{name}", tally),
            *hostile.routes(),
            *providers.routes(),
        ]
    )
    batch_openai.install(app)
    batch_sagemaker.install(app)
    return app
