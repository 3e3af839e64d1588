"""Fault injection around provider endpoints: the configured latency and random 500s."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from tools.mock_upstream.config import CONFIG_KEY, ERROR_RNG_KEY
from tools.mock_upstream.openai import openai_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

INJECTED_FAILURE = "mock upstream injected failure"


def with_faults(handler: Handler) -> Handler:
    """Wrap a provider endpoint with the configured latency and random failures."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        config = request.app[CONFIG_KEY]
        # Drain the body first so a failing answer never races the client's upload.
        await request.read()
        if config.latency_ms > 0:
            await asyncio.sleep(config.latency_ms / 1000)
        if request.app[ERROR_RNG_KEY].random() < config.error_rate:
            return openai_error(500, INJECTED_FAILURE, type="server_error")
        return await handler(request)

    return wrapped
