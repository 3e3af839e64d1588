"""Every message that crosses a process boundary, with its one encode and one decode.

Lifecycle jobs travel as Celery task arguments (the JSON text of the message), predict
requests and replies on Redis lists. Each message carries `v`, its format version: a
process refuses a message newer than it understands instead of misreading it, so a rolling
upgrade can run old and new nodes side by side.
"""

from __future__ import annotations

from typing import TypeVar, cast

import msgspec

from common.errors import MLCommonsError
from common.records import Connector, DeploySetting, FreeForm, RateLimiter, typed_decoders

MESSAGE_VERSION = 1
M = TypeVar("M", bound="Message")


class MessageError(MLCommonsError):
    """A message could not be read: malformed, or written by a newer version."""


class Message(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """Base of every cross-process message."""

    v: int = MESSAGE_VERSION

    def encode(self) -> bytes:
        """Return the message as JSON bytes."""
        return _ENCODER.encode(self)

    def text(self) -> str:
        """Return the message as JSON text (Celery's JSON serializer carries text)."""
        return self.encode().decode()

    @classmethod
    def decode(cls: type[M], raw: str | bytes) -> M:
        """Read a message of this class; raise MessageError if malformed or too new."""
        try:
            message = cast(M, _DECODERS[cls].decode(raw))
        except (msgspec.DecodeError, RecursionError) as error:
            raise MessageError(f"Unreadable {cls.__name__} message: {error}") from None
        if message.v > MESSAGE_VERSION:
            raise MessageError(
                f"{cls.__name__} message version {message.v} is newer than this node "
                f"understands ({MESSAGE_VERSION})"
            )
        return message


_ENCODER = msgspec.json.Encoder()


class Addressed(msgspec.Struct, frozen=True, gc=False):
    """The one field every reply shares: which waiting caller it is for."""

    request_id: str


class ErrorInfo(msgspec.Struct, frozen=True, gc=False):
    """An MLCommonsError as it crosses a queue: enough to answer the client the same way."""

    type: str
    reason: str
    status: int

    @classmethod
    def of(cls, error: MLCommonsError) -> ErrorInfo:
        """Capture an error for sending."""
        return cls(type=error.error_type, reason=error.reason, status=error.status)

    def to_error(self) -> MLCommonsError:
        """Rebuild the error on the receiving side."""
        error = MLCommonsError(self.reason, status=self.status)
        error.error_type = self.type
        return error


class RegisterJob(Message, kw_only=True, frozen=True):
    """API -> a node's Celery worker: register one remote model."""

    task_id: str
    model_id: str
    reply_key: str  # the list of the waiting API process (common/stores/replies.py)
    request_id: str  # which of that process's callers waits
    name: str
    description: str | None = None
    model_group_id: str | None = None
    connector_id: str | None = None
    connector: Connector | None = None
    deploy_setting: DeploySetting | None = None
    interface: dict[str, str] | None = None
    is_enabled: bool | None = None
    rate_limiter: RateLimiter | None = None
    deploy: bool = False


class DeployJob(Message, kw_only=True, frozen=True):
    """API or worker -> one node's own queue: load a model for a deploy task."""

    task_id: str
    model_id: str
    epoch: int = 0  # the model's undeploy epoch when the deploy was planned


class UndeployJob(Message, kw_only=True, frozen=True):
    """API -> one node's own queue: drop a model from memory."""

    model_id: str


class JobReply(Message, kw_only=True, frozen=True):
    """Worker -> the API call waiting on a lifecycle job: the model id, or the error."""

    request_id: str
    model_id: str | None = None
    error: ErrorInfo | None = None


class PredictRequest(Message, kw_only=True, frozen=True):
    """API -> the predict list of the eligible nodes: one prediction to run."""

    reply_key: str  # the list of the waiting API process (common/stores/replies.py)
    request_id: str  # which of that process's callers waits
    queue: str
    deadline: float  # epoch seconds; past it the API has stopped waiting
    model_id: str
    generation: int  # MLModel.serving_generation as the API saw it
    parameters: FreeForm
    action_type: str = "predict"
    text_docs: list[str] | None = None
    query_text: str | None = None  # with text_docs: a text_similarity (rerank) input
    trusted: list[str]
    private_ip_enabled: bool
    # plugins.ml_commons.max_json_size when the request was queued; -1 means unlimited.
    max_json_size: int = 100_000_000


class PredictReply(Message, kw_only=True, frozen=True):
    """Node -> the waiting API request: the inference_results body or the error, and who served."""

    request_id: str
    node: str
    node_name: str
    role: str
    body: str | None = None
    error: ErrorInfo | None = None


class BatchJob(Message, kw_only=True, frozen=True):
    """API -> a node's Celery worker: start, look up or cancel a batch task's remote job.

    The node answers with a JobReply once the task record shows the outcome.
    """

    task_id: str
    reply_key: str  # the list of the waiting API process (common/stores/replies.py)
    request_id: str  # which of that process's callers waits
    deadline: float  # epoch seconds; past it the API has stopped waiting
    parameters: FreeForm = msgspec.field(default_factory=dict)  # batch_predict only
    trusted: list[str]
    private_ip_enabled: bool
    max_json_size: int = 100_000_000


# Built at import, while the process has one thread: see common.records.typed_decoders.
_DECODERS = typed_decoders(
    RegisterJob,
    DeployJob,
    UndeployJob,
    JobReply,
    PredictRequest,
    PredictReply,
    Addressed,
    BatchJob,
)


def addressee(raw: str | bytes) -> str:
    """Return the request_id a reply answers, reading nothing else of it."""
    try:
        return cast(Addressed, _DECODERS[Addressed].decode(raw)).request_id
    except (msgspec.DecodeError, RecursionError) as error:
        raise MessageError(f"Unreadable reply: {error}") from None
