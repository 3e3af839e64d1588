"""The requests bench repeats: predicts through the gateway, and the same chat sent direct."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

# The chat model and API key the mock upstream is called with, by the connector and directly.
UPSTREAM_MODEL = "gpt-3.5-turbo"
UPSTREAM_KEY = "bench-key"
PREDICT_KEY = "inference_results"


@dataclass(frozen=True)
class Target:
    """The request a load run sends over and over, to its URLs in turn."""

    name: str
    urls: tuple[str, ...]
    body: bytes
    headers: dict[str, str]
    # First key a successful JSON answer starts with; None accepts any JSON object.
    first_key: str | None = None


def _chat_messages() -> list[dict[str, str]]:
    return [{"role": "user", "content": "Hello!"}]


def predict_url(api: str, model_id: str) -> str:
    """The predict URL of one model."""
    return f"{api}/_plugins/_ml/models/{model_id}/_predict"


def api_target(api: str, model_ids: Sequence[str]) -> Target:
    """Predicts through the gateway, spread over model_ids round-robin."""
    if not model_ids:
        raise ValueError("api_target needs at least one model id")
    body = {"parameters": {"messages": _chat_messages()}}
    return Target(
        name="api",
        urls=tuple(predict_url(api, model_id) for model_id in model_ids),
        # Serialised once so the client spends no time per request re-encoding it.
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        first_key=PREDICT_KEY,
    )


def direct_target(upstream: str) -> Target:
    """The same chat completion sent straight to the mock, the baseline."""
    body = {"model": UPSTREAM_MODEL, "messages": _chat_messages()}
    return Target(
        name="direct",
        urls=(f"{upstream}/v1/chat/completions",),
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {UPSTREAM_KEY}"},
    )
