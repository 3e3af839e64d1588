"""Model records as clients see them."""

from __future__ import annotations

from typing import Any

from common.records import MLModel, to_wire


def public_view(model: MLModel) -> dict[str, Any]:
    """Return a model's wire JSON without any inline connector credential."""
    wire = to_wire(model)
    connector = wire.get("connector")
    if isinstance(connector, dict):
        connector.pop("credential", None)
    return wire
