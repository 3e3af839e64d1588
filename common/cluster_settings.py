"""The plugins.ml_commons.* cluster settings: definitions, validation, effective values."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from common import trusted_regex
from common.errors import IllegalArgumentError

PREFIX = "plugins.ml_commons."

# ML Commons' default list (main branch), copied from MLCommonsSettings.
DEFAULT_TRUSTED_ENDPOINTS = [
    r"^https://runtime\.sagemaker\..*[a-z0-9-]\.amazonaws\.com/.*$",
    r"^https://api\.sagemaker\..*[a-z0-9-]\.amazonaws\.com/.*$",
    r"^https://api\.openai\.com/.*$",
    r"^https://api\.cohere\.ai/.*$",
    r"^https://api\.deepseek\.com/.*$",
    r"^https://generativelanguage\.googleapis\.com/.*$",
    r"^https://bedrock-runtime\..*[a-z0-9-]\.amazonaws\.com/.*$",
    r"^https://bedrock-agent-runtime\..*[a-z0-9-]\.amazonaws\.com/.*$",
    r"^https://bedrock\..*[a-z0-9-]\.amazonaws\.com/.*$",
    r"^https://textract\..*[a-z0-9-]\.amazonaws\.com$",
    r"^https://comprehend\..*[a-z0-9-]\.amazonaws\.com$",
    r"^https://rekognition(-fips)?\..*[a-z0-9-]\.amazonaws\.com$",
]


_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")


@dataclass(frozen=True)
class Definition:
    """One setting: its kind ("bool", "int", "list", "choice") and default."""

    kind: str
    default: Any
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()


DEFINITIONS: dict[str, Definition] = {
    "trusted_connector_endpoints_regex": Definition("list", DEFAULT_TRUSTED_ENDPOINTS),
    "only_run_on_ml_node": Definition("bool", True),
    "connector_access_control_enabled": Definition("bool", False),
    "model_access_control_enabled": Definition("bool", False),
    # The per-user rate limiter API (/_plugins/_ml/controllers); ML Commons' default is on.
    "controller_enabled": Definition("bool", True),
    "model_auto_deploy.enable": Definition("bool", True),
    "connector.private_ip_enabled": Definition("bool", False),
    # node_ids in deploy and undeploy bodies are refused unless this is on (ML Commons' rule).
    "allow_custom_deployment_plan": Definition("bool", False),
    "remote_inference.enabled": Definition("bool", True),
    # Batch predict (api/routes/batch.py): the switch, and how many jobs may run at once.
    "offline_batch_inference_enabled": Definition("bool", True),
    "max_batch_inference_tasks": Definition("int", 100, 0, 10000),
    # How often the sync-up job (model TTL expiry, workers/sync_up.py) runs; 0 turns it off.
    "sync_up_job_interval_in_seconds": Definition("int", 10, 0, 86400),
    # Accepted so OpenSearch test harnesses that set them keep working; they tune
    # resources modelgate does not have (JVM heap, local model files).
    "native_memory_threshold": Definition("int", 90, 0, 100),
    "jvm_heap_memory_threshold": Definition("int", 85, 0, 100),
    "max_model_on_node": Definition("int", 10, 0, 10000),
    "allow_registering_model_via_url": Definition("bool", False),
    "allow_registering_model_via_local_file": Definition("bool", False),
    # The cap on an upstream answer's size, in bytes, that a node reads and parses; -1 lifts it.
    "max_json_size": Definition("int", 100_000_000, -1, 2**31 - 1),
    # Where a remote predict goes (common/dispatch.py). ML Commons' default is round_robin;
    # modelgate's is least_load, its shared pull list: docs/decisions/0006 says why.
    "task_dispatch_policy": Definition(
        "choice", "least_load", choices=("round_robin", "least_load")
    ),
}


@dataclass(frozen=True)
class ClusterSettings:
    """Effective values (transient over persistent over default) that code acts on."""

    trusted_endpoints: tuple[str, ...]
    only_run_on_ml_node: bool
    auto_deploy: bool
    private_ip_enabled: bool
    remote_inference_enabled: bool
    connector_access_control: bool
    model_access_control: bool
    max_json_size: int
    sync_up_interval_s: int
    controller_enabled: bool = True
    # Which predict list a remote predict goes on (common/dispatch.py).
    task_dispatch_policy: str = "least_load"
    batch_inference_enabled: bool = True
    max_batch_tasks: int = 100


def effective(persistent: dict[str, Any], transient: dict[str, Any]) -> ClusterSettings:
    """Resolve the raw stored maps into typed values."""

    def value(short: str) -> Any:
        name = PREFIX + short
        raw = transient.get(name, persistent.get(name))
        return DEFINITIONS[short].default if raw is None else raw

    return ClusterSettings(
        trusted_endpoints=tuple(value("trusted_connector_endpoints_regex")),
        only_run_on_ml_node=_as_bool(value("only_run_on_ml_node")),
        auto_deploy=_as_bool(value("model_auto_deploy.enable")),
        private_ip_enabled=_as_bool(value("connector.private_ip_enabled")),
        remote_inference_enabled=_as_bool(value("remote_inference.enabled")),
        connector_access_control=_as_bool(value("connector_access_control_enabled")),
        model_access_control=_as_bool(value("model_access_control_enabled")),
        max_json_size=int(value("max_json_size")),
        sync_up_interval_s=int(value("sync_up_job_interval_in_seconds")),
        controller_enabled=_as_bool(value("controller_enabled")),
        task_dispatch_policy=str(value("task_dispatch_policy")),
        batch_inference_enabled=_as_bool(value("offline_batch_inference_enabled")),
        max_batch_tasks=int(value("max_batch_inference_tasks")),
    )


def _as_bool(value: Any) -> bool:
    return value is True or value == "true"


def flatten(body: Any, scope: str, parent: str = "") -> dict[str, Any]:
    """Turn nested {"plugins":{"ml_commons":{...}}} into dotted names; lists are leaves."""
    if not isinstance(body, dict):
        raise IllegalArgumentError(f"{scope} settings must be an object")
    flat: dict[str, Any] = {}
    for name, value in body.items():
        full = f"{parent}.{name}" if parent else str(name)
        if isinstance(value, dict):
            flat.update(flatten(value, scope, full))
        else:
            flat[full] = value
    return flat


def validate(flat: dict[str, Any], scope: str) -> dict[str, Any]:
    """Check names and values; return them normalised to the strings OpenSearch echoes."""
    return {name: _normalise(name, value, scope) for name, value in flat.items()}


def _normalise(name: str, value: Any, scope: str) -> Any:
    short = name[len(PREFIX) :] if name.startswith(PREFIX) else None
    definition = DEFINITIONS.get(short) if short is not None else None
    if definition is None:
        raise IllegalArgumentError(f"{scope} setting [{name}], not recognized")
    if value is None:
        return None
    if definition.kind == "list":
        return _normalise_list(name, value)
    text = _scalar_text(value)
    if definition.kind == "bool" and text not in ("true", "false"):
        raise IllegalArgumentError(
            f"Failed to parse value [{text}] as only [true] or [false] are allowed."
        )
    if definition.kind == "int":
        _check_int(name, text, definition)
    if definition.kind == "choice" and text not in definition.choices:
        raise IllegalArgumentError(f"Failed to parse value [{text}] for setting [{name}]")
    return text


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        raise IllegalArgumentError(f"Failed to parse value [{value}]: a single value is expected")
    return str(value)


def _check_int(name: str, text: str, definition: Definition) -> None:
    # Java's Integer.parseInt: ASCII digits with an optional sign; Python's int() would also
    # take spaces, underscores and other scripts' digits.
    if _INTEGER.fullmatch(text) is None:
        raise IllegalArgumentError(f"Failed to parse value [{text}] for setting [{name}]")
    number = int(text)
    if definition.minimum is not None and number < definition.minimum:
        raise IllegalArgumentError(
            f"Failed to parse value [{text}] for setting [{name}] must be >= {definition.minimum}"
        )
    if definition.maximum is not None and number > definition.maximum:
        raise IllegalArgumentError(
            f"Failed to parse value [{text}] for setting [{name}] must be <= {definition.maximum}"
        )


def _normalise_list(name: str, value: Any) -> list[str]:
    # Only strings: a null, number, boolean or nested value in the list is a mistake, not a
    # pattern (Python's str() would store "None" or "5").
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, str):
            raise IllegalArgumentError(
                f"Failed to parse value [{_json_text(item)}] for setting [{name}]: "
                "every item of this list must be a string"
            )
    if name == PREFIX + "trusted_connector_endpoints_regex":
        trusted_regex.check_patterns(items)
    return list(items)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Turn dotted names back into the nested form OpenSearch answers with by default."""
    nested: dict[str, Any] = {}
    for name in sorted(flat):
        node = nested
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = flat[name]
    return nested


def defaults() -> dict[str, Any]:
    """Return every default as the strings OpenSearch echoes."""
    result: dict[str, Any] = {}
    for short, definition in DEFINITIONS.items():
        default = definition.default
        if isinstance(default, bool):
            default = "true" if default else "false"
        elif isinstance(default, int):
            default = str(default)
        result[PREFIX + short] = default
    return result
