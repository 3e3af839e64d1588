"""The fake model behind every imitation: echo replies, words as tokens, repeatable embeddings."""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from typing import Any

from tools.mock_upstream.inputs import JSONDict


def word_count(text: str) -> int:
    """Tokens of text, counted as words."""
    return len(text.split())


def new_id(prefix: str) -> str:
    """A fresh response id in a provider's style, such as chatcmpl-..."""
    return prefix + uuid.uuid4().hex[:24]


def reply_to(text: str) -> str:
    """The model's reply to text."""
    return "Echo: " + text


def content_text(content: Any) -> str:
    """Text of a chat message's content, which is a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def last_user_text(messages: list[JSONDict]) -> str:
    """Text of the last user message; empty when there is none."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def messages_word_count(messages: list[JSONDict]) -> int:
    """Tokens of a whole chat, counted as words."""
    return sum(word_count(content_text(m.get("content"))) for m in messages)


def embedding_vector(text: str, dim: int) -> list[float]:
    """Deterministic unit vector for text: equal texts embed identically in every process."""
    # sha256 rather than hash(): str hashing is salted per process.
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")
    rng = random.Random(seed)
    raw = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [round(v / norm, 6) for v in raw]
