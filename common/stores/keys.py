"""The one key builder: every Redis key modelgate uses is spelled through KeyBuilder.key."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyBuilder:
    """Join key parts under the cluster's prefix (several clusters can share a server)."""

    prefix: str = "mg"

    def key(self, *parts: str) -> str:
        """Build a key: the only place key names are joined."""
        return ":".join((self.prefix, *parts))
