"""OpenAI Batch API imitation: create, read and cancel batches (POST/GET /v1/batches...).

A batch goes validating -> in_progress (first read) -> completed (or failed) after
BatchJobs.reads_to_finish reads; a cancel makes it cancelling, and the next read cancelled.
The same routes answer under /openai too, so a URL pointed at the mock can keep naming the
provider, which ML Commons reads to build a connector's default status and cancel calls.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tools.mock_upstream.batch_jobs import BatchJobs, Job, new_hex, now_s
from tools.mock_upstream.inputs import bearer_token, json_object
from tools.mock_upstream.openai import BAD_API_KEY, openai_error

OPENAI_BATCHES = web.AppKey("mock_openai_batches", BatchJobs)
ENDPOINTS = ("/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions")
WINDOW_S = 24 * 3600
PREFIXES = ("", "/openai")
FINAL = ("completed", "failed", "expired", "cancelled")


def install(app: web.Application, *, reads_to_finish: int | None = None) -> None:
    """Add the batch routes and their job table to the mock application."""
    jobs = BatchJobs() if reads_to_finish is None else BatchJobs(reads_to_finish)
    app[OPENAI_BATCHES] = jobs
    for prefix in PREFIXES:
        app.router.add_post(f"{prefix}/v1/batches", create_batch)
        app.router.add_get(f"{prefix}/v1/batches/{{batch_id}}", get_batch)
        app.router.add_post(f"{prefix}/v1/batches/{{batch_id}}/cancel", cancel_batch)


def _invalid(message: str, param: str | None) -> web.Response:
    return openai_error(400, message, type="invalid_request_error", param=param, code=None)


def _unauthorized() -> web.Response:
    return openai_error(
        401, BAD_API_KEY, type="invalid_request_error", param=None, code="invalid_api_key"
    )


def _creation_error(body: dict[str, Any] | None) -> web.Response | None:
    if body is None:
        return _invalid("We could not parse the JSON body of your request.", None)
    file_id = body.get("input_file_id")
    if not isinstance(file_id, str) or not file_id.startswith("file-"):
        return _invalid(f"Invalid 'input_file_id': {file_id!r}.", "input_file_id")
    if file_id.startswith("file-missing"):
        return openai_error(404, f"No such File object: {file_id}", type="invalid_request_error")
    if body.get("endpoint") not in ENDPOINTS:
        allowed = ", ".join(ENDPOINTS)
        return _invalid(f"Invalid 'endpoint': expected one of {allowed}.", "endpoint")
    if body.get("completion_window") != "24h":
        return _invalid("Invalid 'completion_window': expected '24h'.", "completion_window")
    return None


def _new_batch(body: dict[str, Any]) -> dict[str, Any]:
    created = now_s()
    return {
        "id": f"batch_{new_hex()}",
        "object": "batch",
        "endpoint": body["endpoint"],
        "errors": None,
        "input_file_id": body["input_file_id"],
        "completion_window": "24h",
        "status": "validating",
        "output_file_id": None,
        "error_file_id": None,
        "created_at": created,
        "in_progress_at": None,
        "expires_at": created + WINDOW_S,
        "finalizing_at": None,
        "completed_at": None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
        "metadata": body.get("metadata"),
    }


async def create_batch(request: web.Request) -> web.Response:
    """POST /v1/batches: start a batch over an uploaded input file."""
    if not bearer_token(request):
        return _unauthorized()
    body = await json_object(request)
    refusal = _creation_error(body)
    if refusal is not None:
        return refusal
    assert body is not None  # _creation_error refuses a missing body
    batch = _new_batch(body)
    request.app[OPENAI_BATCHES].add(batch["id"], batch, marker=body["input_file_id"])
    return web.json_response(batch)


def _advance(jobs: BatchJobs, job: Job) -> None:
    batch, stamp = job.description, now_s()
    if batch["status"] in FINAL:
        return
    if job.cancel_requested:
        batch.update(status="cancelled", cancelled_at=stamp)
    elif jobs.finished(job):
        _finish(batch, stamp, failed=job.fails)
    else:
        batch.update(status="in_progress", in_progress_at=batch["in_progress_at"] or stamp)
        batch["request_counts"]["total"] = 3


def _finish(batch: dict[str, Any], stamp: int, *, failed: bool) -> None:
    if failed:
        error = {"code": "invalid_json_line", "message": "Line 1 is not valid JSON.", "line": 1}
        batch.update(status="failed", failed_at=stamp, errors={"object": "list", "data": [error]})
        return
    batch.update(
        status="completed",
        in_progress_at=batch["in_progress_at"] or stamp,
        finalizing_at=stamp,
        completed_at=stamp,
        output_file_id=f"file-{new_hex()}",
        request_counts={"total": 3, "completed": 3, "failed": 0},
    )


def _missing(batch_id: str) -> web.Response:
    return openai_error(
        404, f"No batch found with id '{batch_id}'.", type="invalid_request_error", param=None
    )


async def get_batch(request: web.Request) -> web.Response:
    """GET /v1/batches/{id}: the batch, one step further along."""
    if not bearer_token(request):
        return _unauthorized()
    jobs = request.app[OPENAI_BATCHES]
    batch_id = request.match_info["batch_id"]
    job = jobs.read(batch_id)
    if job is None:
        return _missing(batch_id)
    _advance(jobs, job)
    return web.json_response(job.description)


async def cancel_batch(request: web.Request) -> web.Response:
    """POST /v1/batches/{id}/cancel: cancelling now, cancelled on the next read."""
    if not bearer_token(request):
        return _unauthorized()
    batch_id = request.match_info["batch_id"]
    job = request.app[OPENAI_BATCHES].jobs.get(batch_id)
    if job is None:
        return _missing(batch_id)
    batch = job.description
    if batch["status"] in FINAL:
        return _invalid(f"Cannot cancel a batch with status '{batch['status']}'.", None)
    job.cancel_requested = True
    batch.update(status="cancelling", cancelling_at=now_s())
    return web.json_response(batch)
