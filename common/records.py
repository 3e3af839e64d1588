"""The records ML Commons defines, as typed structs, and the one codec to and from their JSON.

A record's stored JSON is its wire JSON: ML Commons' field names and order, optional fields
left out while unset. `to_json`/`from_json` are the only way records meet Redis, and
`to_wire` the only way they become a response body. msgspec structs (not dataclasses) because
decoding validates types and is several times faster, which the predict path needs.
"""

from __future__ import annotations

import json
import time
import zlib
from enum import StrEnum
from typing import Any, TypeVar, cast

import msgspec

# The connector spec leaves parameters, headers and request values free-form: these maps are
# the only untyped data a record carries.
FreeForm = dict[str, Any]


class MLModelState(StrEnum):
    """ML Commons' model_state values (MLModelState.java), legacy ones included."""

    REGISTERING = "REGISTERING"
    REGISTERED = "REGISTERED"
    DEPLOYING = "DEPLOYING"
    DEPLOYED = "DEPLOYED"
    PARTIALLY_DEPLOYED = "PARTIALLY_DEPLOYED"
    UNDEPLOYED = "UNDEPLOYED"
    DEPLOY_FAILED = "DEPLOY_FAILED"
    TRAINED = "TRAINED"
    UPLOADING = "UPLOADING"
    UPLOADED = "UPLOADED"
    LOADING = "LOADING"
    LOADED = "LOADED"
    PARTIALLY_LOADED = "PARTIALLY_LOADED"
    UNLOADED = "UNLOADED"
    LOAD_FAILED = "LOAD_FAILED"


# A model in one of these states is (being) served: predicts go ahead, deletion is refused.
SERVING_STATES = frozenset(
    {
        MLModelState.DEPLOYED,
        MLModelState.PARTIALLY_DEPLOYED,
        MLModelState.DEPLOYING,
        MLModelState.LOADED,
        MLModelState.PARTIALLY_LOADED,
        MLModelState.LOADING,
    }
)


class MLTaskState(StrEnum):
    """ML Commons' task states (MLTaskState.java)."""

    CREATED = "CREATED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    COMPLETED_WITH_ERROR = "COMPLETED_WITH_ERROR"
    CANCELLING = "CANCELLING"
    EXPIRED = "EXPIRED"
    UNREACHABLE = "UNREACHABLE"


FINAL_TASK_STATES = frozenset(
    {
        MLTaskState.COMPLETED,
        MLTaskState.FAILED,
        MLTaskState.COMPLETED_WITH_ERROR,
        MLTaskState.CANCELLED,
        MLTaskState.EXPIRED,
    }
)


class MLTaskType(StrEnum):
    """ML Commons' task types (MLTaskType.java)."""

    TRAINING = "TRAINING"
    PREDICTION = "PREDICTION"
    TRAINING_AND_PREDICTION = "TRAINING_AND_PREDICTION"
    EXECUTION = "EXECUTION"
    UPLOAD_MODEL = "UPLOAD_MODEL"
    LOAD_MODEL = "LOAD_MODEL"
    REGISTER_MODEL = "REGISTER_MODEL"
    DEPLOY_MODEL = "DEPLOY_MODEL"
    BATCH_INGEST = "BATCH_INGEST"
    BATCH_PREDICTION = "BATCH_PREDICTION"
    AGENT_EXECUTION = "AGENT_EXECUTION"


class FunctionName(StrEnum):
    """The algorithms a record can name; modelgate serves remote models only."""

    REMOTE = "REMOTE"


class ActionType(StrEnum):
    """Connector action types (ConnectorAction.ActionType)."""

    PREDICT = "PREDICT"
    EXECUTE = "EXECUTE"
    BATCH_PREDICT = "BATCH_PREDICT"
    CANCEL_BATCH_PREDICT = "CANCEL_BATCH_PREDICT"
    BATCH_PREDICT_STATUS = "BATCH_PREDICT_STATUS"


class ConnectorProtocol(StrEnum):
    """How a connector authenticates its calls."""

    HTTP = "http"
    AWS_SIGV4 = "aws_sigv4"


class NodeRole(StrEnum):
    """A worker node's role: ML nodes always serve remote models, data nodes only when allowed."""

    ML = "ml"
    DATA = "data"


class Record(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True, gc=False):
    """Base of every record: keyword-built, immutable, unset optional fields left out.

    gc=False: records are trees of plain values and never form reference cycles, so the
    cycle collector need not track them (a process may hold tens of thousands: the views).

    omit_defaults leaves out every field equal to its default, so a field the wire always
    shows has no default, even where its value rarely changes (is_hidden, algorithm).
    """


class ConnectorAction(Record, kw_only=True, frozen=True):
    """One action of a connector: where and how to call the remote model."""

    action_type: ActionType
    method: str
    url: str
    headers: dict[str, str] | None = None
    request_body: str | None = None
    pre_process_function: str | None = None
    post_process_function: str | None = None


class ClientConfig(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """A connector's client_config; every field is shown, defaults included, as ML Commons does."""

    max_connection: int = 30
    connection_timeout: int = 30
    read_timeout: int = 30
    retry_backoff_millis: int = 200
    retry_timeout_seconds: int = 30
    max_retry_times: int = 0
    retry_backoff_policy: str = "constant"
    skip_ssl_verification: bool = False


class Owner(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """The user who created a connector or model group, as ML Commons serialises a User.

    Every field is shown (a User's toXContent writes them all), so no omit_defaults.
    """

    name: str
    backend_roles: list[str]
    roles: list[str]
    custom_attribute_names: list[str] = msgspec.field(default_factory=list)
    user_requested_tenant: str | None = "__user__"


class Connector(Record, kw_only=True, frozen=True):
    """A connector; credential values are AES-GCM sealed (common/crypto.py), never plain."""

    name: str | None = None
    version: str | None = None
    description: str | None = None
    protocol: ConnectorProtocol
    parameters: dict[str, str | None]
    credential: dict[str, str]
    actions: list[ConnectorAction]
    backend_roles: list[str] | None = None  # set only under connector access control
    owner: Owner | None = None
    access: str | None = None
    created_time: int | None = None
    last_updated_time: int | None = None
    client_config: ClientConfig | None = None

    def action(self, action_type: str) -> ConnectorAction | None:
        """Return the action of this type (any case), if the connector has one."""
        wanted = action_type.upper()
        return next((a for a in self.actions if a.action_type == wanted), None)


class DeploySetting(Record, kw_only=True, frozen=True):
    """A model's deploy_setting."""

    is_auto_deploy_enabled: bool | None = None
    model_ttl_minutes: int | None = None


# Java TimeUnit names, as ML Commons' rate_limiter.unit takes them, in seconds.
TIME_UNITS = {
    "NANOSECONDS": 1e-9,
    "MICROSECONDS": 1e-6,
    "MILLISECONDS": 1e-3,
    "SECONDS": 1.0,
    "MINUTES": 60.0,
    "HOURS": 3600.0,
    "DAYS": 86400.0,
}


class RateLimiter(Record, kw_only=True, frozen=True):
    """A model's rate_limiter: `limit` predicts per `unit` (a Java TimeUnit name)."""

    limit: str
    unit: str

    @classmethod
    def of(cls, body: dict[str, Any]) -> RateLimiter:
        """Build one from a validated request body: the limit as the text ML Commons stores
        (a JSON true stays "true"), the unit upper-case."""
        limit = body["limit"]
        text = str(limit).lower() if isinstance(limit, bool) else str(limit)
        return cls(limit=text, unit=str(body["unit"]).upper())

    @property
    def per_second(self) -> float:
        """The sustained rate the limit allows."""
        return float(self.limit) / TIME_UNITS[self.unit]

    @property
    def burst(self) -> float:
        """Predicts allowed at once after an idle spell: the whole limit, at least one
        (ML Commons' per-node bursts of max(L/nodes, 1) add up to about L). A limit of 0 lets
        nothing through, where ML Commons' bucket would still pass one predict per node."""
        limit = float(self.limit)
        return max(limit, 1.0) if limit > 0 else 0.0


class MLModel(Record, kw_only=True, frozen=True):
    """A remote model, in MLModel.toXContent's field order."""

    name: str
    model_group_id: str
    algorithm: FunctionName
    model_version: str
    description: str | None = None
    model_state: MLModelState
    model_config: FreeForm | None = None
    deploy_setting: DeploySetting | None = None
    is_enabled: bool | None = None
    is_controller_enabled: bool | None = None  # a user-level rate limiter exists (controllers)
    rate_limiter: RateLimiter | None = None
    created_time: int
    last_updated_time: int
    last_registered_time: int | None = None
    last_deployed_time: int | None = None
    last_undeployed_time: int | None = None
    planning_worker_node_count: int | None = None
    current_worker_node_count: int | None = None
    planning_worker_nodes: list[str] | None = None
    deploy_to_all_nodes: bool | None = None
    is_hidden: bool
    connector: Connector | None = None
    connector_id: str | None = None
    interface: dict[str, str] | None = None

    @property
    def is_serving(self) -> bool:
        """True while the model is deployed, partly deployed or being deployed."""
        return self.model_state in SERVING_STATES

    @property
    def serving_generation(self) -> int:
        """A fingerprint of what a node loads to serve this model: its connector.

        It stays the same through deploy and undeploy (which rewrite the record), so a node's
        prepared model stays valid; a different inline connector or connector id changes it.
        """
        if self.connector is not None:
            return zlib.crc32(to_json(self.connector))
        return zlib.crc32((self.connector_id or "").encode())


class ModelGroup(Record, kw_only=True, frozen=True):
    """A model group; latest_version is kept live in its own counter (common/stores/groups.py)."""

    name: str
    latest_version: int
    description: str | None = None
    backend_roles: list[str] | None = None  # shown only when non-empty, as ML Commons does
    owner: Owner | None = None
    access: str
    created_time: int
    last_updated_time: int


class UserRateLimit(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True, gc=False):
    """One user's rate limiter in a controller; enforced once both fields are set (decoded
    with the controller holding it)."""

    limit: str | None = None
    unit: str | None = None

    @property
    def limiter(self) -> RateLimiter | None:
        """The enforceable limiter, or None while a field is missing."""
        if self.limit is None or self.unit is None:
            return None
        return RateLimiter(limit=self.limit, unit=self.unit)


class Controller(Record, kw_only=True, frozen=True):
    """A model's controller (.plugins-ml-controller): per-user rate limiters."""

    model_id: str
    user_rate_limiter: dict[str, UserRateLimit]


class MLTask(Record, kw_only=True, frozen=True):
    """A task record, in MLTask.toXContent's field order (model_id first)."""

    model_id: str | None = None
    task_type: MLTaskType
    function_name: FunctionName
    state: MLTaskState
    input_type: str | None = None
    worker_node: list[str]
    create_time: int
    last_update_time: int
    error: str | None = None
    is_async: bool
    # A batch predict's remote job as its provider describes it (ids, status, timestamps).
    remote_job: FreeForm | None = None

    @property
    def is_final(self) -> bool:
        """True once the task can no longer change."""
        return self.state in FINAL_TASK_STATES


class Node(Record, kw_only=True, frozen=True):
    """A worker node as its heartbeat announces it in the node table."""

    id: str
    name: str
    role: NodeRole
    host: str
    pid: int
    started: float
    last_seen: float
    in_flight: int = 0  # predicts and lifecycle jobs running at the last beat
    metrics_port: int | None = None  # the node's Prometheus endpoint (None: metrics off)


def now_ms() -> int:
    """Return the wall clock in epoch milliseconds, the unit ML Commons records use."""
    return int(time.time() * 1000)


R = TypeVar("R", bound=msgspec.Struct)
_ENCODER = msgspec.json.Encoder()


Decoders = dict[type[msgspec.Struct], msgspec.json.Decoder[msgspec.Struct]]


def typed_decoders(*kinds: type[msgspec.Struct]) -> Decoders:
    """Build a decoder per struct type now, while the process has one thread.

    msgspec builds a struct's type information on its first decode, and threads racing to
    do that can read it half-built and crash the process (msgspec 0.22, reproduced here with
    32 threads). Building every decoder at import, before any server thread starts, avoids it.
    """
    return {kind: msgspec.json.Decoder(kind) for kind in kinds}


_DECODERS = typed_decoders(Connector, MLModel, ModelGroup, MLTask, Node, Controller)


def to_json(record: msgspec.Struct) -> bytes:
    """Encode a record as its stored (and wire) JSON."""
    return _ENCODER.encode(record)


def from_json(raw: str | bytes, kind: type[R]) -> R:
    """Decode and type-check a stored record; unknown fields (from newer versions) are ignored."""
    return cast(R, _DECODERS[kind].decode(raw))


def to_wire(record: msgspec.Struct) -> dict[str, Any]:
    """Return a record as the JSON object a response body carries."""
    wire = msgspec.to_builtins(record)
    assert isinstance(wire, dict)
    return wire


def from_wire(data: object, kind: type[R]) -> R:
    """Build a record from JSON-shaped Python data (a validated request, say)."""
    return msgspec.convert(data, type=kind)


def interface_text(interface: dict[str, Any]) -> dict[str, str]:
    """Store each interface schema as JSON text, as ML Commons does."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in interface.items()}
