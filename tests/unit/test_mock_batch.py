"""The mock's batch providers: OpenAI batches and SageMaker transform jobs, step by step."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from yarl import URL

from tools.mock_upstream.app import create_app
from tools.mock_upstream.config import MockConfig

T = TypeVar("T")
Client = TestClient[web.Request, web.Application]
CONFIG = MockConfig(aws_access_key="AKIATESTKEY", aws_secret_key="test-secret")
AUTH = {"Authorization": "Bearer sk-test"}
BATCH = {"input_file_id": "file-abc", "endpoint": "/v1/embeddings", "completion_window": "24h"}


def run(scenario: Callable[[Client], Awaitable[T]]) -> T:
    async def go() -> T:
        async with TestClient(TestServer(create_app(CONFIG))) as client:
            return await scenario(client)

    return asyncio.run(go())


async def send(
    client: Client, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    async with client.request(method, path, data=data, headers=headers or {}) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None


async def aws(client: Client, operation: str, body: Any, *, signed: bool = True) -> tuple[int, Any]:
    url = f"http://{client.host}:{client.port}/sagemaker/{operation}"
    data = json.dumps(body).encode()
    request = AWSRequest(method="POST", url=url, data=data, headers={"Content-Type": "x"})
    if signed:
        credentials = Credentials("AKIATESTKEY", "test-secret")
        SigV4Auth(credentials, "sagemaker", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    async with client.session.post(URL(url), data=data, headers=headers) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None


def test_openai_batch_runs_its_course_one_read_at_a_time() -> None:
    async def scenario(client: Client) -> list[Any]:
        _, created = await send(client, "POST", "/v1/batches", BATCH, AUTH)
        path = f"/openai/v1/batches/{created['id']}"
        return [created, *[(await send(client, "GET", path, None, AUTH))[1] for _ in range(3)]]

    created, first, second, third = run(scenario)
    assert created["status"] == "validating" and created["object"] == "batch"
    assert first["status"] == "in_progress" and first["in_progress_at"] is not None
    assert second["status"] == "completed" and second["output_file_id"].startswith("file-")
    assert third == second


def test_openai_batch_refusals() -> None:
    async def scenario(client: Client) -> list[tuple[int, Any]]:
        return [
            await send(client, "POST", "/v1/batches", BATCH),
            await send(client, "POST", "/v1/batches", {**BATCH, "endpoint": "/v2/x"}, AUTH),
            await send(client, "POST", "/v1/batches", {**BATCH, "input_file_id": "x"}, AUTH),
            await send(client, "GET", "/v1/batches/batch_nope", None, AUTH),
        ]

    unauthorized, endpoint, file_id, missing = run(scenario)
    assert unauthorized[0] == 401
    assert endpoint[0] == 400 and endpoint[1]["error"]["param"] == "endpoint"
    assert file_id[0] == 400 and file_id[1]["error"]["param"] == "input_file_id"
    assert missing[0] == 404


def test_openai_cancel_and_failure() -> None:
    async def scenario(client: Client) -> list[Any]:
        _, job = await send(client, "POST", "/v1/batches", BATCH, AUTH)
        cancel = f"/v1/batches/{job['id']}/cancel"
        _, cancelling = await send(client, "POST", cancel, None, AUTH)
        _, cancelled = await send(client, "GET", f"/v1/batches/{job['id']}", None, AUTH)
        again = await send(client, "POST", cancel, None, AUTH)
        failing = {**BATCH, "input_file_id": "file-fail-1"}
        _, doomed = await send(client, "POST", "/v1/batches", failing, AUTH)
        for _ in range(2):
            _, failed = await send(client, "GET", f"/v1/batches/{doomed['id']}", None, AUTH)
        return [cancelling, cancelled, again, failed]

    cancelling, cancelled, again, failed = run(scenario)
    assert cancelling["status"] == "cancelling" and cancelled["status"] == "cancelled"
    assert again[0] == 400
    assert failed["status"] == "failed" and failed["errors"]["data"]


def transform(name: str, model: str = "m") -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": model,
        "TransformInput": {"DataSource": {}},
        "TransformOutput": {"S3OutputPath": "s3://b/o"},
        "TransformResources": {"InstanceCount": 1},
    }


def test_sagemaker_transform_job_runs_its_course_and_stops() -> None:
    async def scenario(client: Client) -> list[Any]:
        _, created = await aws(client, "CreateTransformJob", transform("Job-1"))
        steps = [(await aws(client, "DescribeTransformJob", {"TransformJobName": "job-1"}))[1]]
        steps.append((await aws(client, "DescribeTransformJob", {"TransformJobName": "Job-1"}))[1])
        await aws(client, "CreateTransformJob", transform("Job-2"))
        stop = await aws(client, "StopTransformJob", {"TransformJobName": "Job-2"})
        stopped = await aws(client, "DescribeTransformJob", {"TransformJobName": "Job-2"})
        return [created, *steps, stop, stopped[1]]

    created, running, done, stop, stopped = run(scenario)
    assert created == {
        "TransformJobArn": "arn:aws:sagemaker:us-east-1:123456789012:transform-job/job-1"
    }
    assert running["TransformJobStatus"] == "InProgress" and running["TransformJobName"] == "Job-1"
    assert done["TransformJobStatus"] == "Completed"
    assert stop == (200, None)
    assert stopped["TransformJobStatus"] == "Stopped"


def test_sagemaker_refusals() -> None:
    async def scenario(client: Client) -> list[tuple[int, Any]]:
        await aws(client, "CreateTransformJob", transform("Dup"))
        return [
            await aws(client, "CreateTransformJob", transform("Dup")),
            await aws(client, "CreateTransformJob", transform("x"), signed=False),
            await aws(client, "DescribeTransformJob", {"TransformJobName": "nope"}),
            await aws(client, "CreateTransformJob", {"TransformJobName": "n"}),
        ]

    duplicate, unsigned, missing, invalid = run(scenario)
    assert duplicate[0] == 400 and "already exists" in duplicate[1]["message"]
    assert unsigned[0] == 403
    assert missing[0] == 400 and "Could not find requested job" in missing[1]["message"]
    assert invalid[0] == 400 and "ModelName" in invalid[1]["message"]
