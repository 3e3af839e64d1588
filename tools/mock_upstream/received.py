"""What arrived: the bodies of requests carrying ?tally=<name>, kept for tests to read back.

Tests check that what a connector sends reaches the provider intact (an image's base64 text,
a prompt's every character): they point the connector at a route with ?tally=<unique name>,
then read GET /received/<name>. Only the last few bodies per name, and a bounded number of
names, are kept, so a long benchmark cannot grow the mock without bound.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from aiohttp import web

from tools.mock_upstream.faults import Handler

KEPT_PER_NAME = 16
KEPT_NAMES = 1024
Received = OrderedDict[str, deque[str]]
RECEIVED_KEY = web.AppKey("mock_upstream_received", Received)


@web.middleware
async def record_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Keep the body of a request carrying ?tally=<name> under that name."""
    name = request.query.get("tally")
    if name and request.can_read_body:
        received = request.app[RECEIVED_KEY]
        bodies = received.setdefault(name, deque(maxlen=KEPT_PER_NAME))
        received.move_to_end(name)
        while len(received) > KEPT_NAMES:
            received.popitem(last=False)
        # read() caches the body, so the handler reads the same bytes again.
        bodies.append((await request.read()).decode("utf-8", errors="replace"))
    return await handler(request)


async def received_bodies(request: web.Request) -> web.StreamResponse:
    """GET /received/{name}: the bodies that arrived under that name, oldest first."""
    name = request.match_info["name"]
    return web.json_response(
        {"name": name, "bodies": list(request.app[RECEIVED_KEY].get(name, ()))}
    )
