"""Models this node holds: connector and decrypted credentials, kept in process memory."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from common.records import Connector


@dataclass(frozen=True)
class PreparedModel:
    """A model ready to predict: its connector and decrypted credentials."""

    generation: int
    connector: Connector
    credential: dict[str, str]

    def __repr__(self) -> str:
        return f"PreparedModel(generation={self.generation}, credential=<hidden>)"


class ModelCache:
    """Thread-safe model_id -> PreparedModel, reloaded when the model record changes."""

    def __init__(self) -> None:
        self._items: dict[str, PreparedModel] = {}
        self._lock = threading.Lock()

    def peek(self, model_id: str, generation: int) -> PreparedModel | None:
        """Return the cached model if it is as fresh as the record the API read."""
        item = self._items.get(model_id)
        return item if item is not None and item.generation >= generation else None

    def put(self, model_id: str, item: PreparedModel) -> None:
        """Hold a freshly deployed model."""
        with self._lock:
            self._items[model_id] = item

    def drop(self, model_id: str) -> bool:
        """Forget a model; True when it was held."""
        with self._lock:
            return self._items.pop(model_id, None) is not None
