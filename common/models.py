"""Model records as clients see them."""

from __future__ import annotations

from typing import Any

from common.connectors import public_view as public_connector
from common.records import MLModel, to_wire


def public_view(model: MLModel) -> dict[str, Any]:
    """Return a model's wire JSON without any inline connector credential."""
    wire = to_wire(model)
    if model.connector is not None:
        wire["connector"] = public_connector(model.connector)
    return wire
