"""The plugins.ml_commons.* cluster settings: definitions, validation, effective values."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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
    "model_auto_deploy.enable": Definition("bool", True),
    "connector.private_ip_enabled": Definition("bool", False),
    "remote_inference.enabled": Definition("bool", True),
    # Accepted so OpenSearch test harnesses that set them keep working; they tune
    # resources modelgate does not have (JVM heap, local model files, sync-up cron).
    "sync_up_job_interval_in_seconds": Definition("int", 10, 0, 86400),
    "native_memory_threshold": Definition("int", 90, 0, 100),
    "jvm_heap_memory_threshold": Definition("int", 85, 0, 100),
    "max_model_on_node": Definition("int", 10, 0, 10000),
    "allow_registering_model_via_url": Definition("bool", False),
    "allow_registering_model_via_local_file": Definition("bool", False),
    # The cap on an upstream answer's size, in bytes, that a node reads and parses; -1 lifts it.
    "max_json_size": Definition("int", 100_000_000, -1, 2**31 - 1),
    "task_dispatch_policy": Definition(
        "choice", "round_robin", choices=("round_robin", "least_load")
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
        return _normalise_list(value)
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
    try:
        number = int(text)
    except ValueError:
        raise IllegalArgumentError(f"Failed to parse value [{text}] for setting [{name}]") from None
    if definition.minimum is not None and number < definition.minimum:
        raise IllegalArgumentError(
            f"Failed to parse value [{text}] for setting [{name}] must be >= {definition.minimum}"
        )
    if definition.maximum is not None and number > definition.maximum:
        raise IllegalArgumentError(
            f"Failed to parse value [{text}] for setting [{name}] must be <= {definition.maximum}"
        )


def _normalise_list(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    patterns = [_scalar_text(item) for item in items]
    for pattern in patterns:
        if len(pattern) > 256:
            raise IllegalArgumentError(f"Regex pattern too long (max 256 chars): {pattern}")
        try:
            re.compile(pattern)
        except re.error:
            raise IllegalArgumentError(f"Invalid regex pattern: {pattern}") from None
        if _may_backtrack_badly(pattern):
            raise IllegalArgumentError(
                "Regex pattern contains nested quantifiers or backreferences that may cause "
                f"ReDoS: {pattern}"
            )
    return patterns


_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


def _may_backtrack_badly(pattern: str) -> bool:
    """True for backreferences or a repeated group that itself repeats (e.g. (a+)+)."""
    # re._parser is the stdlib's own regex parser; reading its tree is the reliable way to
    # see quantifier nesting (the patterns are already known to compile).
    from re import _parser  # type: ignore[attr-defined]

    return _walk(_parser.parse(pattern), inside_repeat=False)


def _walk(items: Any, *, inside_repeat: bool) -> bool:
    for op, arg in items:
        name = str(op)
        if name in ("GROUPREF", "GROUPREF_EXISTS"):
            return True
        if name in _REPEATS:
            low, high, sub = arg
            if inside_repeat and high > 1:
                return True
            if _walk(sub, inside_repeat=inside_repeat or high > 1):
                return True
        elif name == "SUBPATTERN" and _walk(arg[-1], inside_repeat=inside_repeat):
            return True
        elif name == "BRANCH" and any(_walk(b, inside_repeat=inside_repeat) for b in arg[1]):
            return True
    return False


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
