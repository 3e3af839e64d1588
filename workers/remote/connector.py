"""Turn a connector, its credentials and request parameters into one outbound HTTP request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common import templating as tpl
from common.connectors import CLIENT_CONFIG_DEFAULTS
from common.errors import IllegalArgumentError
from workers.model_cache import PreparedModel
from workers.remote.sigv4 import sign_request


@dataclass(frozen=True)
class Outbound:
    """A fully built request to a remote model."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    connect_timeout: float
    read_timeout: float
    response_filter: str | None = None
    post_process: str | None = None

    def __repr__(self) -> str:  # headers may carry credentials: never print them
        return f"Outbound({self.method} {self.url})"


def find_action(connector: dict[str, Any], action_type: str) -> dict[str, Any]:
    """Return the connector's action of that type, or ML Commons' 400."""
    wanted = action_type.upper()
    for action in connector.get("actions") or []:
        if str(action.get("action_type", "")).upper() == wanted:
            return dict(action)
    raise IllegalArgumentError(f"no {wanted} action found")


def build_request(model: PreparedModel, parameters: dict[str, Any], action_type: str) -> Outbound:
    """Merge parameters, fill url/headers/body templates, sign when the protocol says so."""
    connector, credential = model.connector, model.credential
    action = find_action(connector, action_type)
    base: dict[str, str | None] = dict(connector.get("parameters") or {})
    request_params = tpl.stringify_parameters(parameters)
    raw = {**base, **request_params}
    escaped = {**base, **tpl.escape_request_parameters(request_params)}
    template = action.get("request_body")
    if template is not None:
        template = tpl.fill_credentials(template, credential)
    body = tpl.render_body(template, escaped)
    method = str(action["method"]).upper()
    if method == "POST" and not body:
        raise IllegalArgumentError("Content length is 0. Aborting request to remote model")
    url = tpl.render_url(action["url"], raw, credential)
    headers = tpl.render_headers(action.get("headers") or {}, raw, credential)
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    payload = None if body is None else body.encode(raw.get("charset") or "utf-8")
    if connector.get("protocol") == "aws_sigv4":
        headers = _sign(method, url, headers, payload or b"", connector, credential)
    config = {**CLIENT_CONFIG_DEFAULTS, **(connector.get("client_config") or {})}
    return Outbound(
        method,
        url,
        headers,
        payload,
        float(config["connection_timeout"]),
        float(config["read_timeout"]),
        response_filter=raw.get("response_filter"),
        post_process=action.get("post_process_function"),
    )


def _sign(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    connector: dict[str, Any],
    credential: dict[str, str],
) -> dict[str, str]:
    params = connector.get("parameters") or {}
    region = params.get("region") or credential.get("region")
    service = params.get("service_name") or credential.get("service_name")
    if not region or not service:
        raise IllegalArgumentError("Missing region" if not region else "Missing service name")
    return sign_request(
        method=method,
        url=url,
        headers=headers,
        body=body,
        credential=credential,
        region=str(region),
        service=str(service),
    )
