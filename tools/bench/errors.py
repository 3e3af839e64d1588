"""Bench's set-up error and the short one-line texts it reports for failures."""

from __future__ import annotations

ERROR_TEXT_LIMIT = 200


class SetupError(Exception):
    """A set-up step failed; the message names the call and what came back."""


def clip(raw: bytes | str) -> str:
    """raw on one line, cut to ERROR_TEXT_LIMIT characters."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = " ".join(text.split())
    return text if len(text) <= ERROR_TEXT_LIMIT else text[:ERROR_TEXT_LIMIT] + "..."


def describe(exc: BaseException) -> str:
    """The exception's type and its clipped message."""
    text = str(exc)
    return f"{type(exc).__name__}: {clip(text)}" if text else type(exc).__name__
