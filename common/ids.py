"""The one place ids are minted."""

from __future__ import annotations

import base64
import secrets


def new_id() -> str:
    """Return a 20-character URL-safe id, the shape OpenSearch gives documents."""
    return base64.urlsafe_b64encode(secrets.token_bytes(15)).decode("ascii")


def new_node_id() -> str:
    """Return a 22-character node id, the shape OpenSearch gives nodes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")
