"""SageMaker batch transform imitation: CreateTransformJob, DescribeTransformJob, StopTransformJob.

Called as ML Commons' blueprint does: POST https://api.sagemaker.REGION.amazonaws.com/
CreateTransformJob, the operation in the path (the SDKs' POST / with X-Amz-Target is the
AWS JSON imitation's route), SigV4-signed for the service "sagemaker".
A job is InProgress, then Completed (or Failed) after BatchJobs.reads_to_finish describes;
a stop makes it Stopping, and the next describe Stopped. The routes answer under /sagemaker
too, so a URL pointed at the mock can keep naming the provider (ML Commons reads it).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tools.mock_upstream.batch_jobs import BatchJobs, Job, now_s
from tools.mock_upstream.inputs import json_object
from tools.mock_upstream.sigv4 import aws_error, parse_sigv4_authorization, sigv4_denial

SAGEMAKER_JOBS = web.AppKey("mock_sagemaker_transform_jobs", BatchJobs)
ACCOUNT = "123456789012"
PREFIXES = ("", "/sagemaker")
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
REQUIRED = ("TransformJobName", "ModelName", "TransformInput", "TransformOutput")
FINAL = ("Completed", "Failed", "Stopped")
Operation = Callable[[web.Request, dict[str, Any]], Awaitable[web.Response]]


def install(app: web.Application, *, reads_to_finish: int | None = None) -> None:
    """Add the transform-job routes and their job table to the mock application."""
    app[SAGEMAKER_JOBS] = BatchJobs() if reads_to_finish is None else BatchJobs(reads_to_finish)
    for prefix in PREFIXES:
        for name in OPERATIONS:
            app.router.add_post(f"{prefix}/{name}", _by_path(name))


def _validation(message: str) -> web.Response:
    return aws_error(400, "ValidationException", message)


def _by_path(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        return await _dispatch(request, name)

    return handle


async def _dispatch(request: web.Request, name: str) -> web.Response:
    denial = await sigv4_denial(request, "sagemaker")
    if denial is not None:
        return denial
    body = await json_object(request)
    if body is None:
        return aws_error(
            400, "SerializationException", "Start of structure or map found where not expected."
        )
    return await OPERATIONS[name](request, body)


def _region(request: web.Request) -> str:
    claim = parse_sigv4_authorization(request.headers.get("Authorization", ""))
    return claim.region if claim is not None else "us-east-1"


async def create_transform_job(request: web.Request, body: dict[str, Any]) -> web.Response:
    """CreateTransformJob: start a job under a name unique in the account and region."""
    missing = [field for field in REQUIRED if field not in body]
    if missing:
        return _validation(
            f"1 validation error detected: Value null at '{missing[0]}' failed "
            "to satisfy constraint: Member must not be null"
        )
    name = body["TransformJobName"]
    if not isinstance(name, str) or not JOB_NAME.match(name):
        return _validation(f"Value '{name}' at 'transformJobName' failed to satisfy constraint")
    jobs = request.app[SAGEMAKER_JOBS]
    arn = f"arn:aws:sagemaker:{_region(request)}:{ACCOUNT}:transform-job/{name.lower()}"
    if name.lower() in jobs.jobs:
        return aws_error(
            400,
            "ResourceInUse",
            f"Job name must be unique within an AWS account "
            f"and region, and a job with this name already exists ({arn})",
        )
    stamp = now_s()
    description = {
        **{k: v for k, v in body.items() if k != "Tags"},
        "TransformJobArn": arn,
        "TransformJobStatus": "InProgress",
        "CreationTime": stamp,
        "TransformStartTime": stamp,
    }
    jobs.add(name.lower(), description, marker=str(body["ModelName"]))
    return web.json_response({"TransformJobArn": arn})


def _job(request: web.Request, body: dict[str, Any], *, count: bool) -> Job | web.Response:
    name = body.get("TransformJobName")
    jobs = request.app[SAGEMAKER_JOBS]
    key = name.lower() if isinstance(name, str) else ""
    job = jobs.read(key) if count else jobs.jobs.get(key)
    if job is None:
        return _validation(f"Could not find requested job with name {name}")
    return job


def _advance(jobs: BatchJobs, job: Job) -> None:
    described = job.description
    if described["TransformJobStatus"] in FINAL:
        return
    if job.cancel_requested:
        described.update(TransformJobStatus="Stopped", TransformEndTime=now_s())
    elif jobs.finished(job) and job.fails:
        reason = "ClientError: See job logs for more information"
        described.update(
            TransformJobStatus="Failed", FailureReason=reason, TransformEndTime=now_s()
        )
    elif jobs.finished(job):
        described.update(TransformJobStatus="Completed", TransformEndTime=now_s())


async def describe_transform_job(request: web.Request, body: dict[str, Any]) -> web.Response:
    """DescribeTransformJob: the job, one step further along."""
    job = _job(request, body, count=True)
    if isinstance(job, web.Response):
        return job
    _advance(request.app[SAGEMAKER_JOBS], job)
    return web.json_response(job.description)


async def stop_transform_job(request: web.Request, body: dict[str, Any]) -> web.Response:
    """StopTransformJob: Stopping now, Stopped on the next describe; an empty 200 answer."""
    job = _job(request, body, count=False)
    if isinstance(job, web.Response):
        return job
    status = job.description["TransformJobStatus"]
    if status in FINAL:
        return _validation(f"Transform job in status {status} cannot be stopped")
    job.cancel_requested = True
    job.description["TransformJobStatus"] = "Stopping"
    return web.Response(status=200)


OPERATIONS: dict[str, Operation] = {
    "CreateTransformJob": create_transform_job,
    "DescribeTransformJob": describe_transform_job,
    "StopTransformJob": stop_transform_job,
}
