"""Batch predict through the whole stack, with the blueprints' connectors against the mock.

The connector bodies are the two batch blueprint pages' (and the batch-predict API page's),
unchanged but for the provider host pointed at the mock and the mock's AWS credentials. The
mock finishes a job on its second status read, so each GET of a task is one step.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from msgspec import structs

from common.batch import active_batch_tasks
from common.records import MLTask, MLTaskState, MLTaskType
from common.tasks import new_task
from tests.integration.cluster import Cluster, MockUpstream, connector_body, wait_for
from tools import processes

OPENAI_BLUEPRINT: dict[str, Any] = {
    "name": "OpenAI Embedding model",
    "description": "OpenAI embedding model for testing offline batch",
    "version": "1",
    "protocol": "http",
    "parameters": {
        "model": "text-embedding-ada-002",
        "input_file_id": "file-YbowBByiyVJN89oSZo2Enu9W",
        "endpoint": "/v1/embeddings",
    },
    "credential": {"openAI_key": "sk-batch-secret-value"},
    "actions": [
        {
            "action_type": "predict",
            "method": "POST",
            "url": "https://api.openai.com/v1/embeddings",
            "headers": {"Authorization": "Bearer ${credential.openAI_key}"},
            "request_body": '{ "input": ${parameters.input}, "model": "${parameters.model}" }',
            "pre_process_function": "connector.pre_process.openai.embedding",
            "post_process_function": "connector.post_process.openai.embedding",
        },
        {
            "action_type": "batch_predict",
            "method": "POST",
            "url": "https://api.openai.com/v1/batches",
            "headers": {"Authorization": "Bearer ${credential.openAI_key}"},
            "request_body": (
                '{ "input_file_id": "${parameters.input_file_id}", "endpoint": '
                '"${parameters.endpoint}", "completion_window": "24h" }'
            ),
        },
    ],
}

# The batch-predict API page's connector: status and cancel actions of its own.
OPENAI_DOCS_ACTIONS: list[dict[str, Any]] = [
    {
        "action_type": "batch_predict_status",
        "method": "GET",
        "url": "https://api.openai.com/v1/batches/${parameters.id}",
        "headers": {"Authorization": "Bearer ${credential.openAI_key}"},
    },
    {
        "action_type": "cancel_batch_predict",
        "method": "POST",
        "url": "https://api.openai.com/v1/batches/${parameters.id}/cancel",
        "headers": {"Authorization": "Bearer ${credential.openAI_key}"},
    },
]

SAGEMAKER_BLUEPRINT: dict[str, Any] = {
    "name": "DJL Sagemaker Connector: all-MiniLM-L6-v2",
    "version": "1",
    "description": "The connector to sagemaker embedding model all-MiniLM-L6-v2",
    "protocol": "aws_sigv4",
    "credential": {
        "access_key": "AKIAMOCKUPSTREAM",
        "secret_key": "mock-secret-key",
        "session_token": "mock-session-token",
    },
    "parameters": {
        "region": "us-east-1",
        "service_name": "sagemaker",
        "DataProcessing": {"InputFilter": "$.content", "JoinSource": "Input", "OutputFilter": "$"},
        "ModelName": "DJL-Text-Embedding-Model-imageforjsonlines",
        "TransformInput": {
            "ContentType": "application/json",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "s3://offlinebatch/sagemaker_djl_batch_input.json",
                }
            },
            "SplitType": "Line",
        },
        "TransformJobName": "SM-offline-batch-transform-07-12-13-30",
        "TransformOutput": {
            "AssembleWith": "Line",
            "Accept": "application/json",
            "S3OutputPath": "s3://offlinebatch/output",
        },
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.c5.xlarge"},
        "BatchStrategy": "SingleRecord",
    },
    "actions": [
        {
            "action_type": "predict",
            "method": "POST",
            "headers": {"content-type": "application/json"},
            "url": "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/OpenSearch-sagemaker-060124023703/invocations",
            "request_body": "${parameters.input}",
            "pre_process_function": "connector.pre_process.default.embedding",
            "post_process_function": "connector.post_process.default.embedding",
        },
        {
            "action_type": "batch_predict",
            "method": "POST",
            "headers": {"content-type": "application/json"},
            "url": "https://api.sagemaker.us-east-1.amazonaws.com/CreateTransformJob",
            "request_body": (
                '{ "BatchStrategy": "${parameters.BatchStrategy}", "ModelName": '
                '"${parameters.ModelName}", "DataProcessing" : ${parameters.DataProcessing}, '
                '"TransformInput": ${parameters.TransformInput}, "TransformJobName" : '
                '"${parameters.TransformJobName}", "TransformOutput" : '
                "${parameters.TransformOutput}, "
                '"TransformResources" : ${parameters.TransformResources}}'
            ),
        },
    ],
}


def pointed_at(body: dict[str, Any], mock: MockUpstream, hosts: dict[str, str]) -> dict[str, Any]:
    """The body with each provider host replaced by the mock (optionally under a path)."""
    text = json.dumps(body)
    for host, path in hosts.items():
        text = text.replace(f"https://{host}", mock.base + path)
    result: dict[str, Any] = json.loads(text)
    return result


# The provider name stays in the path: ML Commons builds default status and cancel calls
# only for batch_predict URLs that name a provider it knows.
def openai_connector(mock: MockUpstream, **parameters: str) -> dict[str, Any]:
    body = pointed_at(OPENAI_BLUEPRINT, mock, {"api.openai.com": "/openai"})
    body["parameters"].update(parameters)
    return body


def sagemaker_connector(mock: MockUpstream) -> dict[str, Any]:
    hosts = {
        "api.sagemaker.us-east-1.amazonaws.com": "/sagemaker",
        "runtime.sagemaker.us-east-1.amazonaws.com": "",
    }
    return pointed_at(SAGEMAKER_BLUEPRINT, mock, hosts)


def batch_model(gw: Cluster, body: dict[str, Any]) -> str:
    connector_id = gw.ok("POST", "/_plugins/_ml/connectors/_create", body)["connector_id"]
    return gw.register(connector_id, f"batch-{uuid.uuid4().hex[:8]}", deploy=True)


def start(gw: Cluster, model_id: str, parameters: dict[str, Any]) -> str:
    path = f"/_plugins/_ml/models/{model_id}/_batch_predict"
    answer = gw.ok("POST", path, {"parameters": parameters})
    assert answer["status"] == "CREATED"
    assert set(answer) == {"task_id", "status"}
    return str(answer["task_id"])


def read(gw: Cluster, task_id: str) -> dict[str, Any]:
    task: dict[str, Any] = gw.ok("GET", f"/_plugins/_ml/tasks/{task_id}")
    assert "sk-batch-secret-value" not in json.dumps(task)
    assert "mock-secret-key" not in json.dumps(task)
    return task


def job_name() -> str:
    return f"SM-batch-{uuid.uuid4().hex[:12]}"


def test_openai_blueprint_job_runs_to_completion(gw: Cluster, mock: MockUpstream) -> None:
    model_id = batch_model(gw, openai_connector(mock))
    task_id = start(gw, model_id, {"model": "text-embedding-ada-002"})

    running = read(gw, task_id)
    assert running["task_type"] == "BATCH_PREDICTION"
    assert running["function_name"] == "REMOTE"
    assert running["model_id"] == model_id
    assert running["input_type"] == "REMOTE"
    assert running["state"] == "RUNNING"
    assert running["is_async"] is False
    job = running["remote_job"]
    assert job["id"].startswith("batch_") and job["object"] == "batch"
    assert job["status"] == "in_progress"
    assert job["input_file_id"] == "file-YbowBByiyVJN89oSZo2Enu9W"
    assert job["endpoint"] == "/v1/embeddings" and job["completed_at"] is None

    done = read(gw, task_id)
    assert done["state"] == "COMPLETED"
    assert done["remote_job"]["status"] == "completed"
    assert done["remote_job"]["id"] == job["id"]
    assert done["remote_job"]["output_file_id"].startswith("file-")
    assert done["last_update_time"] >= running["last_update_time"]


def test_sagemaker_blueprint_job_runs_to_completion(gw: Cluster, mock: MockUpstream) -> None:
    model_id = batch_model(gw, sagemaker_connector(mock))
    name = job_name()
    task_id = start(gw, model_id, {"TransformJobName": name})

    running = read(gw, task_id)
    assert running["state"] == "RUNNING"
    job = running["remote_job"]
    assert job["TransformJobArn"].endswith(f":transform-job/{name.lower()}")
    assert job["TransformJobStatus"] == "InProgress"
    assert job["TransformJobName"] == name
    # The blueprint's JSON parameters reached the provider as JSON, not as strings.
    assert job["TransformResources"] == {"InstanceCount": 1, "InstanceType": "ml.c5.xlarge"}

    done = read(gw, task_id)
    assert done["state"] == "COMPLETED"
    assert done["remote_job"]["TransformJobStatus"] == "Completed"


def test_a_job_failing_at_the_provider_fails_the_task(gw: Cluster, mock: MockUpstream) -> None:
    model_id = batch_model(gw, openai_connector(mock, input_file_id="file-fail-lines"))
    task_id = start(gw, model_id, {})
    assert read(gw, task_id)["state"] == "RUNNING"
    failed = read(gw, task_id)
    assert failed["state"] == "FAILED"
    assert failed["remote_job"]["errors"]["data"][0]["code"] == "invalid_json_line"


def openai_docs_connector(mock: MockUpstream) -> dict[str, Any]:
    """The API page's connector at the mock's plain paths: its own actions must be used."""
    body = copy.deepcopy(OPENAI_BLUEPRINT)
    body["actions"] = [*body["actions"], *copy.deepcopy(OPENAI_DOCS_ACTIONS)]
    return pointed_at(body, mock, {"api.openai.com": ""})


@pytest.mark.parametrize("provider", ["openai-docs", "openai-blueprint", "sagemaker"])
def test_cancel_stops_the_remote_job(gw: Cluster, mock: MockUpstream, provider: str) -> None:
    if provider == "sagemaker":
        model_id = batch_model(gw, sagemaker_connector(mock))
        task_id = start(gw, model_id, {"TransformJobName": job_name()})
    else:
        docs = provider == "openai-docs"
        model_id = batch_model(gw, openai_docs_connector(mock) if docs else openai_connector(mock))
        task_id = start(gw, model_id, {})

    assert gw.ok("POST", f"/_plugins/_ml/tasks/{task_id}/_cancel") == {"status": "OK"}
    cancelled = read(gw, task_id)
    assert cancelled["state"] == "CANCELLED"
    status = cancelled["remote_job"].get("status") or cancelled["remote_job"]["TransformJobStatus"]
    assert status in ("cancelled", "Stopped")

    # The provider refuses to cancel a finished job: its error is relayed.
    again = gw.call("POST", f"/_plugins/_ml/tasks/{task_id}/_cancel")
    assert again.status_code == 400, again.text
    assert again.json()["error"]["reason"].startswith("Error from remote service: ")


def tasks_of(gw: Cluster, model_id: str) -> list[dict[str, Any]]:
    query = {"query": {"term": {"model_id": model_id}}}
    hits = gw.ok("POST", "/_plugins/_ml/tasks/_search", query)["hits"]["hits"]
    return [hit["_source"] for hit in hits if hit["_source"]["task_type"] == "BATCH_PREDICTION"]


def test_an_upstream_error_fails_the_task_with_its_reason(gw: Cluster, mock: MockUpstream) -> None:
    model_id = batch_model(gw, openai_connector(mock, input_file_id="file-missing-42"))
    response = gw.call("POST", f"/_plugins/_ml/models/{model_id}/_batch_predict", {})
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["type"] == "status_exception"
    assert error["reason"].startswith("Error from remote service: ")
    assert "No such File object: file-missing-42" in error["reason"]

    [task] = tasks_of(gw, model_id)
    assert task["state"] == "FAILED"
    assert "No such File object: file-missing-42" in task["error"]
    assert "remote_job" not in task


def test_sagemaker_signature_errors_are_relayed(gw: Cluster, mock: MockUpstream) -> None:
    body = sagemaker_connector(mock)
    body["credential"] = {**body["credential"], "secret_key": "not-the-secret"}
    model_id = batch_model(gw, body)
    response = gw.call(
        "POST",
        f"/_plugins/_ml/models/{model_id}/_batch_predict",
        {"parameters": {"TransformJobName": job_name()}},
    )
    assert response.status_code == 403, response.text
    assert "signature we calculated does not match" in response.json()["error"]["reason"]
    assert "not-the-secret" not in response.text
    [task] = tasks_of(gw, model_id)
    assert task["state"] == "FAILED" and "signature" in task["error"]


def test_a_connector_without_batch_predict_is_refused(gw: Cluster, mock: MockUpstream) -> None:
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    model_id = gw.register(connector_id, f"plain-{uuid.uuid4().hex[:8]}", deploy=True)
    response = gw.call("POST", f"/_plugins/_ml/models/{model_id}/_batch_predict", {})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "illegal_argument_exception"
    assert error["reason"] == "no BATCH_PREDICT action found"
    assert tasks_of(gw, model_id) == []


def test_cancel_needs_a_batch_task(gw: Cluster, mock: MockUpstream) -> None:
    missing = gw.call("POST", "/_plugins/_ml/tasks/NoSuchTask1234567890/_cancel")
    assert missing.status_code == 404, missing.text
    assert missing.json()["error"]["reason"] == "Fail to find task"

    body = {"name": "m", "function_name": "remote", "connector": connector_body()}
    register_task = gw.ok("POST", "/_plugins/_ml/models/_register", body)["task_id"]
    refused = gw.call("POST", f"/_plugins/_ml/tasks/{register_task}/_cancel")
    assert refused.status_code == 400, refused.text
    reason = "The task ID you provided does not have any associated batch job"
    assert refused.json()["error"]["reason"] == reason


def test_unknown_batch_model_is_not_found(gw: Cluster) -> None:
    response = gw.call("POST", "/_plugins/_ml/models/NoSuchModel123456789/_batch_predict", {})
    assert response.status_code == 404, response.text
    assert response.json()["error"]["reason"] == "Failed to find model"


def test_batch_inference_can_be_switched_off(gw: Cluster, mock: MockUpstream) -> None:
    model_id = batch_model(gw, openai_connector(mock))
    task_id = start(gw, model_id, {})
    gw.set_settings(offline_batch_inference_enabled=False)
    try:
        for method, path in (
            ("POST", f"/_plugins/_ml/models/{model_id}/_batch_predict"),
            ("GET", f"/_plugins/_ml/tasks/{task_id}"),
            ("POST", f"/_plugins/_ml/tasks/{task_id}/_cancel"),
        ):
            answer = gw.call(method, path, {"parameters": {}} if method == "POST" else None)
            assert answer.status_code == 500, (path, answer.text)
            error = answer.json()["error"]
            assert error["type"] == "illegal_state_exception"
            assert "offline_batch_inference_enabled" in error["reason"]
    finally:
        gw.set_settings(offline_batch_inference_enabled=None)


def test_running_batch_jobs_are_capped(gw: Cluster, mock: MockUpstream) -> None:
    running = sum(
        1
        for _, task in gw.store.tasks.all()
        if task.task_type == "BATCH_PREDICTION" and task.state == "RUNNING"
    )
    model_id = batch_model(gw, openai_connector(mock))
    gw.set_settings(max_batch_inference_tasks=running + 1)
    try:
        start(gw, model_id, {})  # now running + 1 jobs run: the cap is reached
        answer = gw.call(
            "POST", f"/_plugins/_ml/models/{model_id}/_batch_predict", {"parameters": {}}
        )
        assert answer.status_code == 429, answer.text
        assert "max_batch_inference_tasks" in answer.json()["error"]["reason"]
    finally:
        gw.set_settings(max_batch_inference_tasks=None)


def stored(gw: Cluster, task_id: str) -> MLTask:
    """The task as recorded in Redis: reading it so never asks the provider (a GET would)."""
    task = gw.store.tasks.get(task_id)
    assert task is not None
    return task


def test_running_jobs_are_refreshed_in_the_background(gw: Cluster, mock: MockUpstream) -> None:
    """ML Commons' MLBatchTaskUpdateJob: the sync-up reads running jobs' status, with no GET."""
    model_id = batch_model(gw, openai_connector(mock))
    finishing = start(gw, model_id, {})
    cancelled = start(gw, model_id, {})
    assert gw.ok("POST", f"/_plugins/_ml/tasks/{cancelled}/_cancel") == {"status": "OK"}
    for task_id in (finishing, cancelled):  # the cancel only asked the provider
        assert stored(gw, task_id).state == MLTaskState.RUNNING

    gw.set_settings(sync_up_job_interval_in_seconds=1)
    beat = gw.start_beat()
    try:
        for task_id, state in (
            (finishing, MLTaskState.COMPLETED),
            (cancelled, MLTaskState.CANCELLED),
        ):
            wait_for(lambda t=task_id, s=state: stored(gw, t).state == s, 30, f"{task_id} {state}")
    finally:
        processes.stop(beat, grace_s=10)
        gw.set_settings(sync_up_job_interval_in_seconds=None)
    job = stored(gw, finishing).remote_job or {}
    assert job["status"] == "completed" and job["output_file_id"].startswith("file-")
    assert (stored(gw, cancelled).remote_job or {})["status"] == "cancelled"


def test_the_background_refresh_takes_the_oldest_active_jobs() -> None:
    def task(created: int, state: MLTaskState, kind: MLTaskType) -> MLTask:
        return structs.replace(
            new_task(kind, is_async=False, model_id="m", input_type="REMOTE"),
            state=state,
            create_time=created,
            remote_job={"id": "job"},
        )

    batch = MLTaskType.BATCH_PREDICTION
    tasks = [
        ("newest", task(30, MLTaskState.RUNNING, batch)),
        ("cancelling", task(20, MLTaskState.CANCELLING, batch)),
        ("done", task(5, MLTaskState.COMPLETED, batch)),
        ("deploy", task(1, MLTaskState.RUNNING, MLTaskType.DEPLOY_MODEL)),
        ("oldest", task(10, MLTaskState.RUNNING, batch)),
    ]
    assert active_batch_tasks(tasks, 2) == ["oldest", "cancelling"]
    assert active_batch_tasks(tasks, 50) == ["oldest", "cancelling", "newest"]
