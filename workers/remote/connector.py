"""Turn a connector, its credentials and request parameters into one outbound HTTP request."""

from __future__ import annotations

import codecs
import random
from dataclasses import dataclass
from urllib.parse import urlsplit

from common import templating as tpl
from common.errors import IllegalArgumentError
from common.records import ClientConfig, Connector, ConnectorAction, ConnectorProtocol, FreeForm
from workers.model_cache import PreparedModel
from workers.remote.sigv4 import sign_request

URI_ERROR = (
    "Encountered error when trying to create uri from endpoint in ml connector. "
    "Please update the endpoint in connection configuration"
)


@dataclass(frozen=True)
class RetryPolicy:
    """client_config's retry settings: retry 429 and 5xx answers (ML Commons 3.8 rules)."""

    max_retry_times: int
    backoff_s: float
    timeout_s: float
    policy: str

    @classmethod
    def from_config(cls, config: ClientConfig) -> RetryPolicy | None:
        """Return the policy, or None when max_retry_times is 0 (the default: no retry)."""
        if config.max_retry_times == 0:
            return None
        return cls(
            config.max_retry_times,
            config.retry_backoff_millis / 1000,
            float(config.retry_timeout_seconds),
            config.retry_backoff_policy,
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number attempt (0-based)."""
        if self.policy == "constant":
            return self.backoff_s
        ceiling = self.backoff_s * 2.0**attempt
        if self.policy == "exponential_equal_jitter":
            return ceiling / 2 + random.uniform(0, ceiling / 2)
        return random.uniform(0, ceiling)

    def allows(self, attempt: int, elapsed_s: float) -> bool:
        """True while another retry fits the count (-1: unlimited) and the time budget."""
        within_count = self.max_retry_times < 0 or attempt < self.max_retry_times
        return within_count and elapsed_s + self.delay(attempt) < self.timeout_s


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
    retry: RetryPolicy | None = None

    def __repr__(self) -> str:  # headers may carry credentials: never print them
        return f"Outbound({self.method} {self.url})"


def find_action(connector: Connector, action_type: str) -> ConnectorAction:
    """Return the connector's action of that type, or ML Commons' 400."""
    action = connector.action(action_type)
    if action is None:
        raise IllegalArgumentError(f"no {action_type.upper()} action found")
    return action


def build_request(model: PreparedModel, parameters: FreeForm, action_type: str) -> Outbound:
    """Merge parameters, fill url/headers/body templates, sign when the protocol says so."""
    connector, credential = model.connector, model.credential
    action = find_action(connector, action_type)
    base = dict(connector.parameters)
    request_params = tpl.stringify_parameters(parameters)
    raw = {**base, **request_params}
    escaped = {**base, **tpl.escape_request_parameters(request_params)}
    body = _body(action.request_body, escaped, credential)
    method = action.method.upper()
    if method == "POST" and not body:
        raise IllegalArgumentError("Content length is 0. Aborting request to remote model")
    url = _url(action.url, raw, credential)
    headers = tpl.render_headers(action.headers or {}, raw, credential)
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    payload = None if body is None else body.encode(_charset(raw.get("charset")))
    if connector.protocol == ConnectorProtocol.AWS_SIGV4:
        headers = _sign(method, url, headers, payload or b"", connector, credential)
    config = connector.client_config or ClientConfig()
    return Outbound(
        method,
        url,
        headers,
        payload,
        float(config.connection_timeout),
        float(config.read_timeout),
        response_filter=raw.get("response_filter"),
        post_process=action.post_process_function,
        retry=RetryPolicy.from_config(config),
    )


def _body(
    template: str | None, params: dict[str, str | None], credential: dict[str, str]
) -> str | None:
    # Credentials go in before parameters, so a request value can never pull one in.
    filled = None if template is None else tpl.fill_credentials(template, credential)
    try:
        return tpl.render_body(filled, params)
    except IllegalArgumentError:
        # Re-render without credentials: the error quotes the payload, never a secret.
        tpl.render_body(template, params)
        raise IllegalArgumentError("Invalid payload") from None


def _url(template: str, params: dict[str, str | None], credential: dict[str, str]) -> str:
    url = tpl.render_url(template, params, credential)
    missing = tpl.leftover_parameters(url)
    if missing:
        raise IllegalArgumentError(f"Some parameter placeholder not filled in url: {missing}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        raise IllegalArgumentError(URI_ERROR) from None
    bad_chars = any(c.isspace() or ord(c) < 0x20 for c in url)
    if parts.scheme not in ("http", "https") or not parts.hostname or bad_chars:
        raise IllegalArgumentError(URI_ERROR)
    return url


def _charset(name: str | None) -> str:
    try:
        return codecs.lookup(name or "utf-8").name
    except LookupError:
        raise IllegalArgumentError(f"Unsupported charset: {name}") from None


def _sign(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    connector: Connector,
    credential: dict[str, str],
) -> dict[str, str]:
    params = connector.parameters
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
