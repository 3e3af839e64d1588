"""Turn a connector, its credentials and request parameters into one outbound HTTP request."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from yarl import URL

from common import request_rules as rules
from common import templating as tpl
from common.errors import IllegalArgumentError
from common.records import (
    ActionType,
    ClientConfig,
    Connector,
    ConnectorAction,
    ConnectorProtocol,
    FreeForm,
)
from common.request_rules import METHODS, URI_ERROR
from workers.model_cache import PreparedModel
from workers.remote.http import Answer, HttpClient
from workers.remote.sigv4 import sign_request


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

    def send(
        self, http: HttpClient, *, max_body: int, allow_private: bool
    ) -> Coroutine[Any, Any, Answer]:
        """Send this request once with http (the caller bounds the wait)."""
        return http.send(
            self.method,
            self.url,
            headers=self.headers,
            body=self.body,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_body=max_body,
            allow_private=allow_private,
        )


def find_action(connector: Connector, action_type: str) -> ConnectorAction:
    """Return the connector's action of that type, or ML Commons' 400."""
    action = connector.action(action_type)
    if action is None:
        raise IllegalArgumentError(f"no {action_type.upper()} action found")
    return action


def build_request(model: PreparedModel, parameters: FreeForm, action_type: str) -> Outbound:
    """Merge parameters, fill url/headers/body templates, sign when the protocol says so.

    Raises IllegalArgumentError (400) for anything in the connector or the request that
    cannot make a valid HTTP request: the HTTP client is never handed one it would refuse.
    """
    connector, credential = model.connector, model.credential
    action = find_action(connector, action_type)
    method = _method(action.method)
    base = dict(connector.parameters)
    request_params = tpl.stringify_parameters(parameters)
    raw = {**base, **request_params}
    escaped = {**base, **tpl.escape_request_parameters(request_params)}
    body = _body(action.request_body, escaped, credential)
    # A cancel may POST nothing (OpenAI's /cancel): ML Commons exempts that action alone.
    if method == "POST" and not body and action.action_type != ActionType.CANCEL_BATCH_PREDICT:
        raise IllegalArgumentError("Content length is 0. Aborting request to remote model")
    url = _url(action.url, raw, credential)
    headers = tpl.render_headers(action.headers or {}, raw, credential)
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    codec = rules.charset_codec(raw.get("charset"))
    payload = None if body is None else rules.encode_body(body, codec)
    if connector.protocol == ConnectorProtocol.AWS_SIGV4:
        headers = _sign(method, url, headers, payload or b"", connector, credential)
    # Last, on what will be sent: signing adds headers built from credential values.
    rules.check_headers(headers)
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


def _method(method: str) -> str:
    # Create-time validation covers new connectors; a stored record is checked all the same.
    if method.upper() not in METHODS:
        raise IllegalArgumentError("unsupported http method")
    return method.upper()


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
    rules.check_url_text(url)
    missing = tpl.leftover_parameters(url)
    if missing:
        raise IllegalArgumentError(f"Some parameter placeholder not filled in url: {missing}")
    _check_parsed(url)
    return url


def _check_parsed(url: str) -> None:
    """Parse url as the HTTP client will (yarl), so whatever it would refuse is a 400 here."""
    try:
        parsed = URL(url, encoded=True)
        parsed.port  # noqa: B018  (raises ValueError on a bad port)
        host = parsed.raw_host or ""
        _check_host_name(host)
    except (ValueError, UnicodeError):  # UnicodeError: not a host name DNS can carry
        raise IllegalArgumentError(URI_ERROR) from None
    if parsed.scheme not in ("http", "https") or not host:
        raise IllegalArgumentError(URI_ERROR)
    if parsed.raw_user is not None or parsed.raw_password is not None:
        raise IllegalArgumentError(rules.USERINFO)


def _check_host_name(host: str) -> None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        host.encode("idna")  # empty or over-long labels cannot be resolved


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
