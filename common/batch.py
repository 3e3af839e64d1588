"""Batch predict rules ML Commons applies: job names, remote status -> task state, default actions.

A batch job runs at the provider; modelgate keeps its description in the task's remote_job and
reads its state from the provider's status field with ML Commons' default patterns
(plugins.ml_commons.remote_job.status_field and remote_job.status_regex.*). A connector that
only names its batch_predict action gets batch_predict_status and cancel_batch_predict built
from that URL for the providers ML Commons knows (ConnectorUtils.createConnectorAction).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from common import templating as tpl
from common.errors import IllegalArgumentError, MLCommonsError
from common.records import ActionType, Connector, ConnectorAction, MLTask, MLTaskState, MLTaskType

TASK_BATCH_PREDICT = "mg.batch_predict"
TASK_BATCH_STATUS = "mg.batch_predict_status"
TASK_BATCH_CANCEL = "mg.cancel_batch_predict"

# The fields ML Commons reads a remote job's status from: openai/bedrock/cohere, sagemaker.
STATUS_FIELDS = ("status", "Status", "TransformJobStatus")
# Checked in this order; a status matching none leaves the task as it is.
_STATE_PATTERNS = (
    (re.compile("(stopping|cancelling)", re.IGNORECASE), MLTaskState.CANCELLING),
    (re.compile("(stopped|cancelled)", re.IGNORECASE), MLTaskState.CANCELLED),
    (re.compile("(complete|completed|partiallyCompleted)", re.IGNORECASE), MLTaskState.COMPLETED),
    (re.compile("(expired|timeout)", re.IGNORECASE), MLTaskState.EXPIRED),
    (re.compile("(failed)", re.IGNORECASE), MLTaskState.FAILED),
)
# The providers ML Commons recognises in a batch_predict URL, in its order of preference.
PROVIDERS = ("sagemaker", "openai", "bedrock", "cohere")
NO_BATCH_JOB = "The task ID you provided does not have any associated batch job"
CANCEL_FAILED = "Couldn't cancel the transform job. Please try again"
NO_STATUS = "Couldn't fetch status of the transform job"
NOT_CREATED = "Unable to create batch transform job"
# The batch task states the background refresh reads from the provider, and how many per run.
ACTIVE_BATCH_STATES = frozenset({MLTaskState.RUNNING, MLTaskState.CANCELLING})
ACTIVE_BATCH_LIMIT = 50


def active_batch_tasks(tasks: Iterable[tuple[str, MLTask]], limit: int) -> list[str]:
    """The ids of the oldest `limit` batch tasks whose remote job is still going."""
    active = [
        (task.create_time, task_id)
        for task_id, task in tasks
        if task.task_type == MLTaskType.BATCH_PREDICTION
        and task.state in ACTIVE_BATCH_STATES
        and task.remote_job is not None
    ]
    return [task_id for _, task_id in sorted(active)[:limit]]


def task_state(remote_job: dict[str, Any]) -> MLTaskState | None:
    """Return the task state a remote job's status fields name, or None for no change."""
    state = None
    for field in STATUS_FIELDS:
        if field in remote_job:
            text = _java_text(remote_job[field])
            matched = next((s for pattern, s in _STATE_PATTERNS if pattern.search(text)), None)
            state = matched or state
    return state


def _java_text(value: Any) -> str:
    # ML Commons matches String.valueOf(value): null is "null", booleans lower case.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def job_parameters(remote_job: dict[str, Any]) -> dict[str, str]:
    """The request parameters of a status or cancel call: the remote job's text fields.

    SageMaker's describe and stop calls need the job name, which its answer gives only
    inside the ARN: ML Commons takes it from there when the job has no name of its own.
    """
    parameters = {k: v for k, v in remote_job.items() if isinstance(v, str)}
    arn = parameters.get("TransformJobArn")
    if "TransformJobName" not in parameters and arn is not None:
        parameters["TransformJobName"] = arn[arn.rfind("/") + 1 :]
    return parameters


def batch_action(connector: Connector, action_type: ActionType) -> ConnectorAction:
    """Return the connector's action of this type, or the one ML Commons builds by default."""
    own = connector.action(action_type)
    if own is not None:
        return own
    batch = connector.action(ActionType.BATCH_PREDICT)
    if batch is None:
        raise IllegalArgumentError(f"no {ActionType.BATCH_PREDICT} action found")
    endpoint = tpl.substitute(batch.url, dict(connector.parameters))
    provider = next((name for name in PROVIDERS if name in endpoint), None)
    cancel = action_type == ActionType.CANCEL_BATCH_PREDICT
    if provider is None:
        what = "cancel the batch job" if cancel else "get the batch job details"
        error = MLCommonsError(f"Please configure the action type to {what} in the connector")
        error.error_type = "unsupported_operation_exception"
        raise error
    method, url, body = _default_call(provider, endpoint, cancel=cancel)
    return ConnectorAction(
        action_type=action_type, method=method, url=url, headers=batch.headers, request_body=body
    )


def _default_call(provider: str, endpoint: str, *, cancel: bool) -> tuple[str, str, str | None]:
    """Method, URL and body of a provider's status or cancel call (ML Commons' defaults)."""
    if provider == "sagemaker":
        operation = "StopTransformJob" if cancel else "DescribeTransformJob"
        url = endpoint.replace("CreateTransformJob", operation)
        return "POST", url, '{ "TransformJobName" : "${parameters.TransformJobName}"}'
    job = "${parameters.processedJobArn}" if provider == "bedrock" else "${parameters.id}"
    if cancel:
        suffix = "stop" if provider == "bedrock" else "cancel"
        return "POST", f"{endpoint}/{job}/{suffix}", None
    return "GET", f"{endpoint}/{job}", None
