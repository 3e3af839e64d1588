"""Set-up over the ML Commons API: trust the mock, add a connector, register and deploy models."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from tools.bench.errors import SetupError, describe
from tools.bench.parallel import for_each_tracked
from tools.bench.targets import UPSTREAM_KEY, UPSTREAM_MODEL

if TYPE_CHECKING:
    from tools.bench.progress import ProgressReporter

JsonObject = dict[str, Any]

TRUSTED_ENDPOINTS = r"^http://127\.0\.0\.1:.*$"
SETUP_TIMEOUT_S = 30.0
DEPLOY_TIMEOUT_S = 30.0
DEPLOY_POLL_S = 0.2
# Register is refused until a worker announced itself, which lags a fresh stack's API a bit.
NODE_WAIT_S = 30.0
NODE_POLL_S = 0.5
NO_NODE_MESSAGE = "no eligible node"


def cluster_settings_body(dispatch_policy: str | None = None) -> JsonObject:
    """Let connectors reach the loopback mock; set task_dispatch_policy when one is given."""
    persistent: JsonObject = {
        "plugins.ml_commons.trusted_connector_endpoints_regex": [TRUSTED_ENDPOINTS],
        "plugins.ml_commons.connector.private_ip_enabled": True,
    }
    if dispatch_policy is not None:
        persistent["plugins.ml_commons.task_dispatch_policy"] = dispatch_policy
    return {"persistent": persistent}


def connector_body(endpoint: str) -> JsonObject:
    """An OpenAI chat connector aimed at endpoint (host:port)."""
    return {
        "name": "bench-openai",
        "description": "bench",
        "version": 1,
        "protocol": "http",
        "parameters": {"endpoint": endpoint, "model": UPSTREAM_MODEL},
        "credential": {"openAI_key": UPSTREAM_KEY},
        "actions": [
            {
                "action_type": "predict",
                "method": "POST",
                "url": "http://${parameters.endpoint}/v1/chat/completions",
                "headers": {"Authorization": "Bearer ${credential.openAI_key}"},
                "request_body": (
                    '{ "model": "${parameters.model}", "messages": ${parameters.messages} }'
                ),
            }
        ],
    }


def register_body(connector_id: str) -> JsonObject:
    """A remote model on connector_id, uniquely named so repeated runs do not collide."""
    return {
        "name": f"bench-model-{uuid.uuid4().hex[:12]}",
        "function_name": "remote",
        "connector_id": connector_id,
    }


def upstream_endpoint(upstream: str) -> str:
    """The host:port part of the upstream URL, as the connector's endpoint parameter wants it."""
    try:
        parts = urlsplit(upstream)
        port = parts.port
    except ValueError as exc:
        raise SetupError(f"bad --upstream URL {upstream!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise SetupError(f"--upstream must look like http://HOST:PORT, got {upstream!r}")
    return parts.netloc.rsplit("@", 1)[-1]


async def _fetch(
    session: aiohttp.ClientSession, method: str, url: str, body: JsonObject | None
) -> tuple[int, str]:
    try:
        async with session.request(method, url, json=body) as resp:
            return resp.status, (await resp.read()).decode("utf-8", "replace")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SetupError(f"{method} {url} failed: {describe(exc)}") from exc


def _parse(call: str, status: int, text: str, require: str | None) -> JsonObject:
    if not 200 <= status < 300:
        raise SetupError(f"{call} -> HTTP {status}: {text}")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise SetupError(f"{call} -> HTTP {status} but not a JSON object: {text}")
    if require is not None and not (isinstance(payload.get(require), str) and payload[require]):
        raise SetupError(f"{call} -> HTTP {status} without {require!r}: {text}")
    return payload


async def api_call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: JsonObject | None = None,
    require: str | None = None,
) -> JsonObject:
    """One set-up call: a 2xx JSON object (with a non-empty string `require`) or SetupError."""
    status, text = await _fetch(session, method, url, body)
    return _parse(f"{method} {url}", status, text, require)


def _model_state(url: str, status: int, text: str) -> Any:
    # A 404 right after registering just means the model is not visible yet.
    if status == 404:
        return None
    return _parse(f"GET {url}", status, text, None).get("model_state")


async def wait_deployed(
    session: aiohttp.ClientSession,
    api: str,
    model_id: str,
    timeout_s: float = DEPLOY_TIMEOUT_S,
    poll_s: float = DEPLOY_POLL_S,
) -> None:
    """Poll the model until DEPLOYED; SetupError on DEPLOY_FAILED or after timeout_s."""
    url = f"{api}/_plugins/_ml/models/{model_id}"
    deadline = time.monotonic() + timeout_s
    while True:
        status, text = await _fetch(session, "GET", url, None)
        state = _model_state(url, status, text)
        if state == "DEPLOYED":
            return
        if state == "DEPLOY_FAILED":
            raise SetupError(f"GET {url} -> HTTP {status}, deployment failed: {text}")
        if time.monotonic() >= deadline:
            last = f"HTTP {status}: {text}"
            raise SetupError(f"model {model_id} not DEPLOYED after {timeout_s:g}s; last {last}")
        await asyncio.sleep(poll_s)


async def _register(session: aiohttp.ClientSession, url: str, body: JsonObject) -> str:
    """Register the model, retrying while no worker node is eligible yet; its model_id."""
    deadline = time.monotonic() + NODE_WAIT_S
    while True:
        status, text = await _fetch(session, "POST", url, body)
        # Safe to repeat: a refused register has created nothing.
        waiting = status == 400 and NO_NODE_MESSAGE in text
        if not waiting or time.monotonic() >= deadline:
            model_id: str = _parse(f"POST {url}", status, text, "model_id")["model_id"]
            return model_id
        await asyncio.sleep(NODE_POLL_S)


def setup_session(auth: aiohttp.BasicAuth | None = None) -> aiohttp.ClientSession:
    """A client session for set-up calls, each bounded by SETUP_TIMEOUT_S (with credentials
    for an API with security on)."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SETUP_TIMEOUT_S), auth=auth)


@dataclass(frozen=True)
class Provisioned:
    """The deployed models and how long setting them up took."""

    model_ids: tuple[str, ...]
    register_s: float
    deploy_wait_s: float
    total_s: float

    def to_json(self) -> JsonObject:
        return {
            "models": len(self.model_ids),
            "register_s": round(self.register_s, 3),
            "deploy_wait_s": round(self.deploy_wait_s, 3),
            "total_s": round(self.total_s, 3),
        }


async def _connector(
    session: aiohttp.ClientSession, api: str, upstream: str, dispatch_policy: str | None = None
) -> str:
    """Trust the mock and create an OpenAI connector to it; its id."""
    endpoint = upstream_endpoint(upstream)
    settings = cluster_settings_body(dispatch_policy)
    await api_call(session, "PUT", f"{api}/_cluster/settings", settings)
    url = f"{api}/_plugins/_ml/connectors/_create"
    created = await api_call(session, "POST", url, connector_body(endpoint), "connector_id")
    connector_id: str = created["connector_id"]
    return connector_id


async def prepare_models(
    api: str,
    upstream: str,
    count: int = 1,
    parallel: int = 1,
    reporter: ProgressReporter | None = None,
    auth: aiohttp.BasicAuth | None = None,
    dispatch_policy: str | None = None,
) -> Provisioned:
    """Create one connector to the mock, then register and deploy count models on it.

    Registrations run parallel at once (`_register?deploy=true`, so each also starts its
    deployment); then every model is polled until DEPLOYED, again parallel at once.
    """
    started = time.perf_counter()
    register_url = f"{api}/_plugins/_ml/models/_register?deploy=true"
    async with setup_session(auth) as session:
        connector_id = await _connector(session, api, upstream, dispatch_policy)

        async def register(_: int) -> str:
            return await _register(session, register_url, register_body(connector_id))

        async def deployed(model_id: str) -> None:
            await wait_deployed(session, api, model_id)

        registering = time.perf_counter()
        model_ids = await for_each_tracked("register", range(count), parallel, register, reporter)
        waiting = time.perf_counter()
        await for_each_tracked("deployed", model_ids, parallel, deployed, reporter)
    finished = time.perf_counter()
    return Provisioned(
        tuple(model_ids), waiting - registering, finished - waiting, finished - started
    )


async def check_model(api: str, model_id: str) -> None:
    """Make sure a model given with --model-id exists and is (or becomes) deployed."""
    async with setup_session() as session:
        await wait_deployed(session, api, model_id)
