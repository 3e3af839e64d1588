"""ML Commons' batch rules: remote status -> task state, job parameters, default actions."""

from __future__ import annotations

from typing import Any

import pytest

from common.batch import batch_action, job_parameters, task_state
from common.errors import IllegalArgumentError, MLCommonsError
from common.records import (
    ActionType,
    Connector,
    ConnectorAction,
    ConnectorProtocol,
    MLTaskState,
)


@pytest.mark.parametrize(
    ("remote_job", "state"),
    [
        ({"status": "validating"}, None),
        ({"status": "in_progress"}, None),
        ({"status": "finalizing"}, None),
        ({"status": "completed"}, MLTaskState.COMPLETED),
        ({"status": "failed"}, MLTaskState.FAILED),
        ({"status": "expired"}, MLTaskState.EXPIRED),
        ({"status": "cancelling"}, MLTaskState.CANCELLING),
        ({"status": "cancelled"}, MLTaskState.CANCELLED),
        ({"TransformJobStatus": "InProgress"}, None),
        ({"TransformJobStatus": "Completed"}, MLTaskState.COMPLETED),
        ({"TransformJobStatus": "Failed"}, MLTaskState.FAILED),
        ({"TransformJobStatus": "Stopping"}, MLTaskState.CANCELLING),
        ({"TransformJobStatus": "Stopped"}, MLTaskState.CANCELLED),
        ({"Status": "PartiallyCompleted"}, MLTaskState.COMPLETED),
        ({"Status": "Timeout"}, MLTaskState.EXPIRED),
        ({"id": "batch_1"}, None),
        # The last status field that matches wins, as ML Commons' loop over them does.
        ({"status": "completed", "TransformJobStatus": "Failed"}, MLTaskState.FAILED),
    ],
)
def test_task_state_follows_ml_commons_patterns(
    remote_job: dict[str, Any], state: MLTaskState | None
) -> None:
    assert task_state(remote_job) == state


def test_job_parameters_keep_text_and_name_a_sagemaker_job_from_its_arn() -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:transform-job/sm-job-1"
    params = job_parameters({"TransformJobArn": arn, "request_counts": {"total": 1}, "n": None})
    assert params == {"TransformJobArn": arn, "TransformJobName": "sm-job-1"}
    named = job_parameters({"TransformJobArn": arn, "TransformJobName": "SM-Job-1"})
    assert named["TransformJobName"] == "SM-Job-1"


def connector(url: str, *extra: ConnectorAction) -> Connector:
    batch = ConnectorAction(
        action_type=ActionType.BATCH_PREDICT,
        method="POST",
        url=url,
        headers={"Authorization": "Bearer ${credential.key}"},
        request_body="{}",
    )
    return Connector(
        protocol=ConnectorProtocol.HTTP,
        parameters={"host": "api.openai.com"},
        credential={},
        actions=[batch, *extra],
    )


def test_openai_default_actions_are_built_from_the_batch_url() -> None:
    source = connector("https://${parameters.host}/v1/batches")
    status = batch_action(source, ActionType.BATCH_PREDICT_STATUS)
    assert (status.method, status.url, status.request_body) == (
        "GET",
        "https://api.openai.com/v1/batches/${parameters.id}",
        None,
    )
    assert status.headers == {"Authorization": "Bearer ${credential.key}"}
    cancel = batch_action(source, ActionType.CANCEL_BATCH_PREDICT)
    assert (cancel.method, cancel.url) == (
        "POST",
        "https://api.openai.com/v1/batches/${parameters.id}/cancel",
    )


def test_sagemaker_and_bedrock_default_actions() -> None:
    sagemaker = connector("https://api.sagemaker.us-east-1.amazonaws.com/CreateTransformJob")
    status = batch_action(sagemaker, ActionType.BATCH_PREDICT_STATUS)
    assert status.url.endswith("/DescribeTransformJob") and status.method == "POST"
    assert status.request_body == '{ "TransformJobName" : "${parameters.TransformJobName}"}'
    stop = batch_action(sagemaker, ActionType.CANCEL_BATCH_PREDICT)
    assert stop.url.endswith("/StopTransformJob")
    bedrock = connector("https://bedrock.us-east-1.amazonaws.com/model-invocation-job")
    status = batch_action(bedrock, ActionType.BATCH_PREDICT_STATUS)
    assert status.url.endswith("/model-invocation-job/${parameters.processedJobArn}")
    stop = batch_action(bedrock, ActionType.CANCEL_BATCH_PREDICT)
    assert stop.url.endswith("/${parameters.processedJobArn}/stop")


def test_own_actions_win_and_unknown_providers_are_refused() -> None:
    own = ConnectorAction(
        action_type=ActionType.BATCH_PREDICT_STATUS,
        method="GET",
        url="http://h/jobs/${parameters.id}",
    )
    assert batch_action(connector("http://h/jobs", own), ActionType.BATCH_PREDICT_STATUS) == own
    with pytest.raises(MLCommonsError) as refused:
        batch_action(connector("http://h/jobs"), ActionType.CANCEL_BATCH_PREDICT)
    assert refused.value.error_type == "unsupported_operation_exception"
    assert refused.value.reason == (
        "Please configure the action type to cancel the batch job in the connector"
    )
    bare = Connector(protocol=ConnectorProtocol.HTTP, parameters={}, credential={}, actions=[])
    with pytest.raises(IllegalArgumentError, match="no BATCH_PREDICT action found"):
        batch_action(bare, ActionType.BATCH_PREDICT_STATUS)
