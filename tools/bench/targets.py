"""The two requests bench repeats: predict through the gateway, and the same chat sent direct."""

from __future__ import annotations

import json
from dataclasses import dataclass

# The chat model and API key the mock upstream is called with, by the connector and directly.
UPSTREAM_MODEL = "gpt-3.5-turbo"
UPSTREAM_KEY = "bench-key"


@dataclass(frozen=True)
class Target:
    """The one request a load run sends over and over."""

    name: str
    url: str
    body: bytes
    headers: dict[str, str]
    # Top-level key a successful JSON answer must carry; None accepts any JSON object.
    required_key: str | None = None


def _chat_messages() -> list[dict[str, str]]:
    return [{"role": "user", "content": "Hello!"}]


def api_target(api: str, model_id: str) -> Target:
    """Predict through the gateway."""
    body = {"parameters": {"messages": _chat_messages()}}
    return Target(
        name="api",
        url=f"{api}/_plugins/_ml/models/{model_id}/_predict",
        # Serialised once so the client spends no time per request re-encoding it.
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        required_key="inference_results",
    )


def direct_target(upstream: str) -> Target:
    """The same chat completion sent straight to the mock, the baseline."""
    body = {"model": UPSTREAM_MODEL, "messages": _chat_messages()}
    return Target(
        name="direct",
        url=f"{upstream}/v1/chat/completions",
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {UPSTREAM_KEY}"},
    )
