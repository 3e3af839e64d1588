"""Request counting: every request carrying ?tally=<name> is counted under that name.

Tests point a connector at any route with ?tally=<unique name>, then read GET /tally/<name>
to learn how many requests really arrived (retries, duplicates), even when the route
resets the connection instead of answering.
"""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from tools.mock_upstream.faults import Handler

TALLY_KEY = web.AppKey("mock_upstream_tally", Counter)


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count the request under its ?tally= name before any handler can fail it."""
    name = request.query.get("tally")
    if name:
        request.app[TALLY_KEY][name] += 1
    return await handler(request)


async def tally(request: web.Request) -> web.StreamResponse:
    """GET /tally/{name}: how many requests arrived under that name."""
    name = request.match_info["name"]
    return web.json_response({"name": name, "count": request.app[TALLY_KEY][name]})
