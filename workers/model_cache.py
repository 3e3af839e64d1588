"""Models this node holds: connector and decrypted credentials, kept in process memory."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from common import painless
from common.errors import IllegalArgumentError
from common.records import Connector, to_json


@dataclass(frozen=True)
class PreparedModel:
    """A model ready to predict: its connector, decrypted credentials, compiled scripts."""

    generation: int
    connector: Connector
    credential: dict[str, str]
    # Painless pre/post-process scripts of the connector's actions, by their text.
    scripts: Mapping[str, painless.Script] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"PreparedModel(generation={self.generation}, credential=<hidden>)"


def compile_scripts(connector: Connector) -> dict[str, painless.Script]:
    """Compile the Painless scripts of a connector's actions, by their text.

    A script that does not compile is left out: the predict that needs it compiles it again
    and answers the 400 naming the problem (a connector saved before scripts were checked).
    """
    scripts: dict[str, painless.Script] = {}
    for action in connector.actions:
        for field_name, text in (
            ("pre_process_function", action.pre_process_function),
            ("post_process_function", action.post_process_function),
        ):
            if painless.is_script(text) and text is not None and "${parameters." not in text:
                try:
                    scripts[text] = painless.cached(text, f"script in {field_name}")
                except IllegalArgumentError:
                    continue
    return scripts


class ModelCache:
    """Thread-safe model_id -> PreparedModel, reloaded when the model's connector changes."""

    def __init__(self) -> None:
        self._items: dict[str, PreparedModel] = {}
        # One decoded connector and one decrypted credential per distinct connector, shared by
        # every model that uses it: 10,000 models on one connector hold one copy, not 10,000.
        # Bounded by the distinct connectors this node has loaded. Scripts compile once per
        # connector version, here, not per predict.
        self._connectors: dict[
            bytes, tuple[Connector, dict[str, str], Mapping[str, painless.Script]]
        ] = {}
        self._lock = threading.Lock()

    def prepare(
        self,
        generation: int,
        connector: Connector,
        decrypt: Callable[[dict[str, str]], dict[str, str]],
    ) -> PreparedModel:
        """Return a model ready to serve, sharing the connector with models that use it too."""
        key = to_json(connector)
        with self._lock:
            shared = self._connectors.get(key)
        if shared is None:
            shared = (connector, decrypt(connector.credential), compile_scripts(connector))
            with self._lock:
                shared = self._connectors.setdefault(key, shared)
        return PreparedModel(generation, *shared)

    def peek(self, model_id: str, generation: int) -> PreparedModel | None:
        """Return the cached model if it was prepared from what the API's record describes."""
        item = self._items.get(model_id)
        return item if item is not None and item.generation == generation else None

    def put(self, model_id: str, item: PreparedModel) -> None:
        """Hold a freshly deployed model."""
        with self._lock:
            self._items[model_id] = item

    def drop(self, model_id: str) -> bool:
        """Forget a model; True when it was held."""
        with self._lock:
            return self._items.pop(model_id, None) is not None
