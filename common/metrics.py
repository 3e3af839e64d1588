"""Prometheus metric names, buckets and outcomes shared by the API's and the nodes' exporters.

Names only: prometheus_client is imported by api/metrics.py and workers/metrics.py, never here,
because it picks its multi-process mode when first imported (tools/serve.py sets that up).
"""

from __future__ import annotations

from enum import StrEnum

# Seconds, from a cached answer on one host (sub-millisecond) to the predict timeout.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
# prometheus_client's switch to multi-process mode; tools/serve.py sets it for the API.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
API_PATH = "/metrics"

# Counters are named without `_total`, which prometheus_client appends.
API_PREDICTS = "modelgate_api_predicts"
API_PREDICT_SECONDS = "modelgate_api_predict_seconds"
NODE_PREDICTS = "modelgate_node_predicts"
NODE_PREDICT_SECONDS = "modelgate_node_predict_seconds"
QUEUE_WAIT_SECONDS = "modelgate_queue_wait_seconds"
UPSTREAM_SECONDS = "modelgate_upstream_seconds"
UPSTREAM_ERRORS = "modelgate_upstream_errors"
UPSTREAM_RETRIES = "modelgate_upstream_retries"
UPSTREAM_THROTTLED = "modelgate_upstream_throttled"
NODE_IN_FLIGHT = "modelgate_node_in_flight"
JOBS = "modelgate_jobs"
QUEUE_DEPTH = "modelgate_queue_depth"

PREDICT_LABELS = ("model", "node", "role", "outcome")
NODE_LABELS = ("node", "role")


class Outcome(StrEnum):
    """How a predict ended, as the `outcome` label says it."""

    OK = "ok"
    ERROR = "error"
    THROTTLED = "throttled"  # 429: the model's rate limit, or the upstream's
    TIMEOUT = "timeout"  # 504: no answer before the predict deadline


class JobOutcome(StrEnum):
    """How a lifecycle job (register, deploy, undeploy) ended on a node."""

    SUCCESS = "success"
    FAILURE = "failure"


def outcome_of(status: int | None) -> Outcome:
    """The outcome of a predict answered with this HTTP status (None: no error)."""
    if status is None or status < 400:
        return Outcome.OK
    if status == 429:
        return Outcome.THROTTLED
    if status == 504:
        return Outcome.TIMEOUT
    return Outcome.ERROR


def upstream_error_kind(status: int) -> str | None:
    """The `kind` label of an upstream answer that is an error, else None.

    "other" is any status that is not 2xx, 4xx or 5xx (a redirect, say: never followed, 502).
    """
    if 200 <= status <= 299:
        return None
    if 400 <= status <= 599:
        return f"{status // 100}xx"
    return "other"
