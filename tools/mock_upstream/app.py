"""The mock-upstream aiohttp application: every provider imitation and helper on its route."""

from __future__ import annotations

import random
from collections import Counter

from aiohttp import web

from tools.mock_upstream import hostile, httpbin
from tools.mock_upstream.bedrock import bedrock_invoke
from tools.mock_upstream.cohere import cohere_embed
from tools.mock_upstream.config import CONFIG_KEY, ERROR_RNG_KEY, MockConfig
from tools.mock_upstream.faults import with_faults
from tools.mock_upstream.openai import chat_completions, completions, openai_embeddings
from tools.mock_upstream.sagemaker import sagemaker_invocations
from tools.mock_upstream.tally import TALLY_KEY, count_requests, tally

# Benchmarks post large batches; aiohttp's 1 MiB default would reject them with 413.
MAX_BODY_BYTES = 64 * 1024 * 1024


def create_app(config: MockConfig) -> web.Application:
    """Build the mock-upstream application for config."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[count_requests])
    app[CONFIG_KEY] = config
    app[TALLY_KEY] = Counter()
    # One RNG per app, so a seed replays the same failure sequence in every run.
    app[ERROR_RNG_KEY] = random.Random(config.seed)
    app.router.add_routes(
        [
            web.post("/v1/chat/completions", with_faults(chat_completions)),
            web.post("/v1/completions", with_faults(completions)),
            web.post("/v1/embeddings", with_faults(openai_embeddings)),
            web.post("/v1/embed", with_faults(cohere_embed)),
            web.post("/endpoints/{endpoint_name}/invocations", with_faults(sagemaker_invocations)),
            web.post("/model/{model_id}/invoke", with_faults(bedrock_invoke)),
            web.post("/post", httpbin.echo),
            web.get("/get", httpbin.echo),
            web.route("*", r"/status/{code:\d{1,3}}", httpbin.status),
            web.post("/text", httpbin.plain_text),
            web.post("/empty", httpbin.empty),
            web.get("/health", httpbin.health),
            web.get("/tally/{name}", tally),
            *hostile.routes(),
        ]
    )
    return app
