"""A node's Prometheus metrics, served by a small HTTP server of its own (MODELGATE_METRICS_PORT).

The predict path only adds to plain integers and floats: predicts, upstream calls and their
latency are counted on the node's event loop thread, the only writer, and turned into metric
families when Prometheus scrapes (from the server's thread; CPython keeps each addition
whole). prometheus_client's own metric objects would take a lock per update: about five times
the cost, with four updates per predict. NodeMetrics itself is the no-op used with metrics
off, so the predict path never asks whether they are on.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIServer

from celery.signals import task_postrun
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from common.messages import ErrorInfo, PredictRequest
from common.metrics import (
    JOBS,
    LATENCY_BUCKETS,
    NODE_IN_FLIGHT,
    NODE_LABELS,
    NODE_PREDICT_SECONDS,
    NODE_PREDICTS,
    PREDICT_LABELS,
    QUEUE_WAIT_SECONDS,
    UPSTREAM_ERRORS,
    UPSTREAM_RETRIES,
    UPSTREAM_SECONDS,
    UPSTREAM_THROTTLED,
    JobOutcome,
    Outcome,
    outcome_of,
    upstream_error_kind,
)
from common.queueing import TASK_UNDEPLOY
from workers.metrics import NodeMetrics
from workers.stats import DEPLOY, REGISTER, NodeStats

log = logging.getLogger(__name__)
UNDEPLOY = "undeploy"
TRANSPORT = "transport"  # the upstream could not be reached, or its answer not read


class Latency:
    """A histogram's bucket counts (the last one past every bound) and sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        """Count one duration in the first bucket whose bound it does not exceed."""
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds

    def family(self, name: str, text: str, labels: tuple[str, ...]) -> HistogramMetricFamily:
        """The histogram as Prometheus reads it: cumulative buckets, then the sum."""
        counts, total = list(self.counts), self.total
        bounds = [*(str(bound) for bound in LATENCY_BUCKETS), "+Inf"]
        cumulative, buckets = 0, []
        for bound, count in zip(bounds, counts, strict=True):
            cumulative += count
            buckets.append((bound, float(cumulative)))
        family = HistogramMetricFamily(name, text, labels=NODE_LABELS)
        family.add_metric(list(labels), buckets, total)
        return family


class PrometheusNodeMetrics(NodeMetrics):
    """This node's counts, read by its collector at each scrape."""

    def __init__(self, node_id: str, role: str, stats: NodeStats, predict_timeout_s: float) -> None:
        self.labels = (node_id, role)
        self._predict_timeout_s = predict_timeout_s
        self.predicts: dict[tuple[str, Outcome], int] = {}
        self.seconds, self.queued, self.upstream_seconds = Latency(), Latency(), Latency()
        self.upstream_errors: dict[str, int] = {}
        self.retries = 0
        self.throttled = 0
        self.in_flight: Callable[[], int] = lambda: 0
        self.jobs = JobCounts(stats)
        self.registry = CollectorRegistry()
        self.registry.register(NodeCollector(self))
        self._server: WSGIServer | None = None

    def predict(self, job: PredictRequest, seconds: float, error: ErrorInfo | None) -> None:
        """Count a served predict: outcome, time on this node and time it waited in the queue."""
        key = (job.model_id, outcome_of(None if error is None else error.status))
        self.predicts[key] = self.predicts.get(key, 0) + 1
        self.seconds.observe(seconds)
        # The API pushed the request predict_timeout before its deadline (both processes read
        # MODELGATE_PREDICT_TIMEOUT); waiting ended when serving started, `seconds` ago.
        pushed = job.deadline - self._predict_timeout_s
        self.queued.observe(max(0.0, time.time() - seconds - pushed))

    def upstream(self, status: int, seconds: float) -> None:
        """Count one upstream answer and its duration."""
        self.upstream_seconds.observe(seconds)
        kind = upstream_error_kind(status)
        if kind is not None:
            self.upstream_errors[kind] = self.upstream_errors.get(kind, 0) + 1
            self.throttled += status == 429

    def upstream_failed(self) -> None:
        """Count an upstream call that got no answer (connection refused, reset, timeout)."""
        self.upstream_errors[TRANSPORT] = self.upstream_errors.get(TRANSPORT, 0) + 1

    def upstream_retry(self) -> None:
        """Count a retry of an upstream call (client_config's retry policy)."""
        self.retries += 1

    def serve(self, host: str, port: int, in_flight: Callable[[], int]) -> None:
        """Serve the registry on host:port (0: a free port); `port` says where, or None."""
        self.in_flight = in_flight
        task_postrun.connect(self.jobs.on_task_done, weak=False)
        try:
            self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as error:
            # A taken port must not stop the node from serving predicts; say so loudly.
            log.error("metrics server not started on %s:%d: %s", host, port, error)
            return
        self.port = int(self._server.server_port)

    def close(self) -> None:
        """Stop the metrics server and stop counting jobs."""
        task_postrun.disconnect(self.jobs.on_task_done)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.port = None


class JobCounts:
    """Lifecycle job outcomes: register and deploy as the node's stats counted them (a job
    that settled its task FAILED failed, though Celery saw it return), undeploy as Celery ran it.
    """

    def __init__(self, stats: NodeStats) -> None:
        self._stats = stats
        self._undeploys = {JobOutcome.SUCCESS: 0, JobOutcome.FAILURE: 0}
        self._lock = threading.Lock()  # jobs run on several Celery threads at once

    def on_task_done(self, sender: Any = None, state: str | None = None, **_: Any) -> None:
        """Celery's task_postrun: count an undeploy by the state it ended in."""
        if getattr(sender, "name", None) == TASK_UNDEPLOY:
            outcome = JobOutcome.SUCCESS if state == "SUCCESS" else JobOutcome.FAILURE
            with self._lock:
                self._undeploys[outcome] += 1

    def counts(self) -> Iterator[tuple[str, JobOutcome, int]]:
        """Each action's successes and failures."""
        actions = self._stats.snapshot().actions
        for action in (REGISTER, DEPLOY):
            count = actions.get(action)
            done, failed = (count.requests, count.failures) if count is not None else (0, 0)
            yield action, JobOutcome.SUCCESS, done - failed
            yield action, JobOutcome.FAILURE, failed
        with self._lock:
            undeploys = list(self._undeploys.items())
        for outcome, total in undeploys:
            yield UNDEPLOY, outcome, total


class NodeCollector(Collector):
    """Turns a node's counts into metric families when Prometheus scrapes."""

    def __init__(self, metrics: PrometheusNodeMetrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        """Yield every family of the node's metrics."""
        m, node = self._m, self._m.labels
        predicts = CounterMetricFamily(NODE_PREDICTS, "Predicts served", labels=PREDICT_LABELS)
        for (model, outcome), count in list(m.predicts.items()):
            predicts.add_metric([model, *node, outcome], count)
        yield predicts
        yield m.seconds.family(NODE_PREDICT_SECONDS, "Predict time on the node", node)
        yield m.queued.family(QUEUE_WAIT_SECONDS, "Time from the API's push to a node", node)
        yield m.upstream_seconds.family(UPSTREAM_SECONDS, "One upstream call", node)
        errors = CounterMetricFamily(
            UPSTREAM_ERRORS,
            "Upstream calls answered 4xx, 5xx or other non-2xx, or unanswered (transport)",
            labels=(*NODE_LABELS, "kind"),
        )
        for kind, count in list(m.upstream_errors.items()):
            errors.add_metric([*node, kind], count)
        yield errors
        yield _single(
            CounterMetricFamily, UPSTREAM_RETRIES, "Upstream calls retried", node, m.retries
        )
        yield _single(
            CounterMetricFamily, UPSTREAM_THROTTLED, "Upstream answers of 429", node, m.throttled
        )
        yield _single(
            GaugeMetricFamily, NODE_IN_FLIGHT, "Predicts taken, not answered", node, m.in_flight()
        )
        jobs = CounterMetricFamily(
            JOBS, "Lifecycle jobs run by this node", labels=(*NODE_LABELS, "action", "outcome")
        )
        for action, result, count in m.jobs.counts():
            jobs.add_metric([*node, action, result], count)
        yield jobs


def _single(kind: Any, name: str, text: str, node: tuple[str, str], value: float) -> Metric:
    family = kind(name, text, labels=NODE_LABELS)
    family.add_metric(list(node), value)
    return family  # type: ignore[no-any-return]
