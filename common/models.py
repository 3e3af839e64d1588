"""Model records as clients see them."""

from __future__ import annotations

from common.store import Doc


def public_view(doc: Doc) -> Doc:
    """Return a model without any inline connector credential."""
    connector = doc.get("connector")
    if not isinstance(connector, dict) or "credential" not in connector:
        return doc
    return {**doc, "connector": {k: v for k, v in connector.items() if k != "credential"}}
