"""How deeply parsed JSON nests, and the bound every reader of outside JSON applies.

Request bodies (api/routes/body.py) and upstream answers (workers/remote/outcome.py) are
refused past MAX_DEPTH: what they carry is copied into messages and responses, and every
process and client that parses it again must be able to.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 100


def nesting_depth(value: Any) -> int:
    """Return how deeply objects and arrays nest in a parsed JSON value (no recursion)."""
    if not isinstance(value, dict | list):
        return 0
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item
        # Only containers are queued: a list of a million numbers costs one pass, no tuples.
        pending.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return deepest
