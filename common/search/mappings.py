"""ML Commons' index mappings, and how a query's field name resolves against them.

The tables copy ML Commons' `index-mappings/ml_{connector,model,model_group,task}.json`:
they decide whether a field is analysed text, an exact keyword, a number, a date,
a boolean or a flat_object, which is what makes `term` on `name` differ from `term` on
`name.keyword`. A field the mapping does not name is mapped dynamically, as OpenSearch does for
these indices (none of them sets `dynamic: false`): a string becomes text with a `.keyword`
sub-field, a number a number, a boolean a boolean (decided here per value).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    """How a field is indexed, so how a query value compares with it."""

    TEXT = "text"
    KEYWORD = "keyword"
    LONG = "long"
    FLOAT = "float"
    DATE = "date"
    BOOLEAN = "boolean"
    FLAT = "flat_object"  # every leaf under it is an exact keyword
    OBJECT = "object"  # a path with mapped sub-fields: nothing is indexed under the name itself
    DYNAMIC = "dynamic"  # unmapped: the kind follows each value's JSON type
    DYNAMIC_KEYWORD = "dynamic_keyword"  # the `.keyword` sub-field of an unmapped string
    ID = "_id"


NUMERIC = frozenset({Kind.LONG, Kind.FLOAT, Kind.DATE})
# ignore_above of the `.keyword` sub-fields ML Commons and dynamic mapping declare: longer
# strings are kept in _source but not indexed there, so term and exists on them miss.
SUBFIELD_IGNORE_ABOVE = 256


@dataclass(frozen=True, slots=True)
class Field:
    """A query's field name resolved: its kind, where its values sit in _source, its limits."""

    name: str
    kind: Kind
    source: tuple[str, ...]
    ignore_above: int | None = None
    # For a flat_object, the path below the flat_object root ("" when the root itself).
    below: tuple[str, ...] = ()


_TEXT_KW = "text+keyword"
_COMMON = {
    "name": _TEXT_KW,
    "description": "text",
    "created_time": "date",
    "last_updated_time": "date",
}
_CONNECTOR = {
    **_COMMON,
    "version": "keyword",
    "protocol": "keyword",
    "parameters": "flat_object",
    "credential": "flat_object",
    "client_config": "flat_object",
    "actions": "flat_object",
    "backend_roles": _TEXT_KW,
    "access": "keyword",
}
_INLINE_CONNECTOR = {
    key: _CONNECTOR[key]
    for key in (
        "name",
        "version",
        "description",
        "protocol",
        "parameters",
        "credential",
        "client_config",
        "actions",
    )
}
_MODEL = {
    **_COMMON,
    "algorithm": "keyword",
    "version": "long",
    "model_version": "keyword",
    "model_group_id": "keyword",
    "chunk_number": "long",
    "total_chunks": "long",
    "model_id": "keyword",
    "model_format": "keyword",
    "model_state": "keyword",
    "model_content_size_in_bytes": "long",
    "planning_worker_node_count": "long",
    "current_worker_node_count": "long",
    "planning_worker_nodes": "keyword",
    "deploy_to_all_nodes": "boolean",
    "is_hidden": "boolean",
    "tenant_id": "keyword",
    "provisioned_by": "keyword",
    "model_config.model_type": "keyword",
    "model_config.embedding_dimension": "long",
    "model_config.framework_type": "keyword",
    "model_config.pooling_mode": "keyword",
    "model_config.normalize_result": "boolean",
    "model_config.model_max_length": "long",
    "model_config.all_config": "text",
    "model_config.additional_config": "flat_object",
    "deploy_setting": "flat_object",
    "is_enabled": "boolean",
    "is_controller_enabled": "boolean",
    "rate_limiter": "flat_object",
    "model_content_hash_value": "keyword",
    "auto_redeploy_retry_times": "long",
    "last_registered_time": "date",
    "last_deployed_time": "date",
    "last_undeployed_time": "date",
    "interface": "flat_object",
    **{
        f"guardrails.{side}.{leaf}": "text"
        for side in ("input_guardrail", "output_guardrail")
        for leaf in ("regex", "stop_words.index_name", "stop_words.source_fields")
    },
    **{f"connector.{key}": kind for key, kind in _INLINE_CONNECTOR.items()},
}
_MODEL_GROUP = {
    **_COMMON,
    "latest_version": "long",
    "model_group_id": "keyword",
    "backend_roles": _TEXT_KW,
    "access": "keyword",
}
_TASK = {
    "model_id": "keyword",
    "task_type": "keyword",
    "function_name": "keyword",
    "state": "keyword",
    "input_type": "keyword",
    "progress": "float",
    "output_index": "keyword",
    "worker_node": "keyword",
    "create_time": "date",
    "last_update_time": "date",
    "error": "text",
    "is_async": "boolean",
    "remote_job": "flat_object",
}
MAPPINGS: dict[str, dict[str, str]] = {
    ".plugins-ml-connector": _CONNECTOR,
    ".plugins-ml-model": _MODEL,
    ".plugins-ml-model-group": _MODEL_GROUP,
    ".plugins-ml-task": _TASK,
}


class Mapping:
    """One index's fields, resolving a query's field name (`name.keyword`, `parameters.x`)."""

    def __init__(self, fields: dict[str, str]) -> None:
        self._fields: dict[str, Field] = {}
        for name, spec in fields.items():
            source = tuple(name.split("."))
            if spec == _TEXT_KW:
                self._fields[name] = Field(name, Kind.TEXT, source)
                self._fields[name + ".keyword"] = Field(
                    name + ".keyword", Kind.KEYWORD, source, SUBFIELD_IGNORE_ABOVE
                )
            else:
                self._fields[name] = Field(name, Kind(spec), source)
        self._objects = {
            ".".join(name.split(".")[:n])
            for name, spec in fields.items()
            for n in range(1, name.count(".") + 1)
        }

    def resolve(self, name: str) -> Field:
        """Return how `name` is indexed; unknown names are mapped dynamically."""
        if name == "_id":
            return Field(name, Kind.ID, ())
        found = self._fields.get(name)
        if found is not None:
            return found
        parts = tuple(name.split("."))
        for n in range(len(parts) - 1, 0, -1):
            root = self._fields.get(".".join(parts[:n]))
            if root is not None and root.kind is Kind.FLAT:
                return Field(name, Kind.FLAT, root.source, below=parts[n:])
        if name in self._objects:
            return Field(name, Kind.OBJECT, parts)
        parent = ".".join(parts[:-1])
        if parts[-1] == "keyword" and parent and parent not in self._fields:
            return Field(name, Kind.DYNAMIC_KEYWORD, parts[:-1], SUBFIELD_IGNORE_ABOVE)
        return Field(name, Kind.DYNAMIC, parts)


@functools.cache
def mapping_for(index: str) -> Mapping:
    """Return the mapping of one of ML Commons' indices (an unknown index maps all dynamically)."""
    return Mapping(MAPPINGS.get(index, {}))
