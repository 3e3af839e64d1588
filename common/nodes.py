"""Worker nodes as the API sees them: liveness from heartbeats, eligibility from settings."""

from __future__ import annotations

import time

from common.errors import NodeUnavailableError
from common.records import Node, NodeRole


def alive(nodes: list[Node], ttl_s: float, now: float | None = None) -> list[Node]:
    """Return the nodes whose last heartbeat is recent enough."""
    current = time.time() if now is None else now
    return [node for node in nodes if current - node.last_seen < ttl_s]


def eligible(nodes: list[Node], *, only_ml: bool) -> list[Node]:
    """Return the nodes allowed to serve remote models under only_run_on_ml_node."""
    roles = {NodeRole.ML} if only_ml else {NodeRole.ML, NodeRole.DATA}
    return [node for node in nodes if node.role in roles]


def require_eligible(nodes: list[Node], *, only_ml: bool, ttl_s: float, message: str) -> list[Node]:
    """Return live eligible nodes, or raise the 400 ML Commons gives when there are none."""
    found = eligible(alive(nodes, ttl_s), only_ml=only_ml)
    if not found:
        raise NodeUnavailableError(message)
    return found
