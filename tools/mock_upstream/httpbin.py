"""httpbin-like endpoints for the gateway's HTTP client: echo, any status, odd bodies, health."""

from __future__ import annotations

from aiohttp import web

from tools.mock_upstream.inputs import NOT_JSON, read_json


def _query_dict(request: web.Request) -> dict[str, str | list[str]]:
    query: dict[str, str | list[str]] = {}
    for key in request.query:
        values = request.query.getall(key)
        query[key] = values[0] if len(values) == 1 else values
    return query


def _header_dict(request: web.Request) -> dict[str, str]:
    return {name.lower(): ", ".join(request.headers.getall(name)) for name in request.headers}


async def echo(request: web.Request) -> web.StreamResponse:
    """GET /get and POST /post: describe exactly what arrived."""
    raw = await request.read()
    parsed = await read_json(request) if raw else None
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": _query_dict(request),
            "headers": _header_dict(request),
            "json": None if parsed is NOT_JSON else parsed,
            "data": raw.decode("utf-8", errors="replace"),
        }
    )


async def status(request: web.Request) -> web.StreamResponse:
    """Any method on /status/{code}: answer with that status."""
    code = int(request.match_info["code"])
    if not 200 <= code <= 599:
        return web.json_response({"error": "status must be between 200 and 599"}, status=400)
    if code in (204, 205, 304):  # HTTP forbids a body on these
        return web.Response(status=code)
    return web.json_response({"status": code}, status=code)


async def plain_text(request: web.Request) -> web.StreamResponse:
    """POST /text: a body that is not JSON."""
    return web.Response(text="plain text answer", content_type="text/plain")


async def empty(request: web.Request) -> web.StreamResponse:
    """POST /empty: 200 with no body."""
    return web.Response(status=200)


async def health(request: web.Request) -> web.StreamResponse:
    """GET /health: liveness, exempt from latency and failure injection."""
    return web.json_response({"status": "ok"})
