"""Serve one prediction on this node: load the model if needed, call it, shape the answer."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

from common.endpoints import is_private_address, require_trusted
from common.errors import IllegalArgumentError
from workers.deploy import prepare_model
from workers.model_cache import PreparedModel
from workers.remote.connector import build_request
from workers.remote.http import HttpClient
from workers.remote.outcome import to_inference_results
from workers.runtime import Runtime

RESOLVE_TTL_S = 30.0


async def serve(rt: Runtime, job: dict[str, Any]) -> str:
    """Return the inference_results JSON text for a predict job, or raise MLCommonsError."""
    model = await _model(rt, job["model_id"], int(job["generation"]))
    outbound = build_request(model, job["parameters"], job["action_type"])
    require_trusted(outbound.url, job["trusted"])
    if not job["private_ip_enabled"]:
        await _refuse_private(rt.http, outbound.url)
    answer = await rt.http.send(
        outbound.method,
        outbound.url,
        headers=outbound.headers,
        body=outbound.body,
        connect_timeout=outbound.connect_timeout,
        read_timeout=outbound.read_timeout,
    )
    return to_inference_results(
        answer, response_filter=outbound.response_filter, post_process=outbound.post_process
    )


async def _model(rt: Runtime, model_id: str, generation: int) -> PreparedModel:
    cached = rt.cache.peek(model_id, generation)
    if cached is not None:
        return cached
    # A cache miss reads Redis and decrypts: do it off the event loop.
    loop = asyncio.get_running_loop()
    fresh = await loop.run_in_executor(None, prepare_model, rt, model_id)
    rt.cache.put(model_id, fresh)
    return fresh


async def _refuse_private(http: HttpClient, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise IllegalArgumentError(f"Protocol is not http or https: {parts.scheme}")
    host = parts.hostname or ""
    if not host:
        raise IllegalArgumentError(
            "Encountered error when trying to create uri from endpoint in ml connector. "
            "Please update the endpoint in connection configuration: " + url
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if any(is_private_address(a) for a in await _addresses(http, host, port)):
        raise IllegalArgumentError(f"Remote inference host name has private ip address: {host}")


_RESOLVED: dict[str, tuple[float, list[str]]] = {}


async def _addresses(http: HttpClient, host: str, port: int) -> list[str]:
    cached = _RESOLVED.get(host)
    if cached is not None and time.monotonic() - cached[0] < RESOLVE_TTL_S:
        return cached[1]
    try:
        addresses = await http.resolve(host, port)
    except OSError:
        raise IllegalArgumentError(f"Failed to resolve remote inference host: {host}") from None
    _RESOLVED[host] = (time.monotonic(), addresses)
    return addresses
