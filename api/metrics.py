"""The API's Prometheus metrics: predicts by model, node, role and outcome, their latency, and
the queue depths, served on GET /metrics.

Under granian each API worker process counts in its own files of the multi-process directory
that tools/serve.py prepares; a scrape of any worker sums them all. A predict costs one cached
counter child and one histogram observation, both in process memory.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis
from flask import Flask, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, values
from prometheus_client import generate_latest as render_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from api.routes.predict import NODE_HEADER
from api.services import Services
from common.errors import MLCommonsError, NotFoundError
from common.metrics import (
    API_PATH,
    API_PREDICT_SECONDS,
    API_PREDICTS,
    LATENCY_BUCKETS,
    PREDICT_LABELS,
    QUEUE_DEPTH,
    Outcome,
    outcome_of,
)
from common.queue_depths import QueueDepth, celery_depths, predict_depths

log = logging.getLogger(__name__)
PREDICT_ENDPOINTS = ("predict.predict",)
EXTENSION = "modelgate_metrics"
# A predict naming a model that does not exist is counted under this model label: ids sent by
# clients must not each become a time series.
UNKNOWN_MODEL = "unknown"
View = Callable[..., Any]


class ApiMetrics:
    """This API process's predict counters and latency histogram, and what scrapes them."""

    def __init__(self, svc: Services, multiprocess: bool) -> None:
        # In multi-process mode the values live in files and MultiProcessCollector reads them
        # all; the metric objects must then stay out of the scraped registry (counted twice).
        own = None if multiprocess else CollectorRegistry()
        self.predicts = Counter(
            API_PREDICTS, "Predicts answered by the API", PREDICT_LABELS, registry=own
        )
        self.seconds = Histogram(
            API_PREDICT_SECONDS,
            "Predict time in the API, request to response",
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self.registry = own or CollectorRegistry()
        if multiprocess:
            MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
        self.registry.register(QueueDepthCollector(svc))
        self._svc = svc
        self._children: dict[tuple[str, str, str, str], Any] = {}

    def count(self, model: str, node: str, role: str, outcome: Outcome, seconds: float) -> None:
        """Count one predict: its labels' counter child is built once, then reused."""
        key = (model, node, role, outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.predicts.labels(*key)
        child.inc()
        self.seconds.observe(seconds)

    def timed(self, view: View) -> View:
        """Wrap the predict view: count each call by the node that answered, or the error."""

        @functools.wraps(view)
        def predict(**kwargs: Any) -> Any:
            started = time.perf_counter()
            model = kwargs.get("model_id", "")
            try:
                response = view(**kwargs)
            except Exception as error:  # counted, then re-raised for api/errors.py to render
                self.failed(model, error, started)
                raise
            headers = response.headers
            node, role = headers.get(NODE_HEADER, ""), headers.get(NODE_HEADER + "-Role", "")
            self.answered(model, node, role, started)
            return response

        return predict

    def answered(self, model: str, node: str, role: str, started: float) -> None:
        """Count a predict answered by that node (started: perf_counter)."""
        self.count(model, node, role, Outcome.OK, time.perf_counter() - started)

    def failed(self, model: str, error: Exception, started: float) -> None:
        """Count a predict that ended in error (started: perf_counter)."""
        if isinstance(error, NotFoundError) or not self._exists(model):
            model = UNKNOWN_MODEL
        self.count(model, "", "", _outcome(error), time.perf_counter() - started)

    def _exists(self, model_id: str) -> bool:
        # A request refused before its model was looked up (a bad body) names any id it likes:
        # only a model that exists gets a series of its own.
        try:
            return self._svc.view.model(model_id) is not None
        except (redis.RedisError, MLCommonsError):
            return False

    def render(self) -> Response:
        """The metrics of every API process, in Prometheus' text format."""
        return Response(render_latest(self.registry), content_type=CONTENT_TYPE_LATEST)


class QueueDepthCollector(Collector):
    """Reads the queue depths at each scrape (a few Redis and broker calls, never per predict)."""

    def __init__(self, svc: Services) -> None:
        self._svc = svc

    def collect(self) -> Iterator[Metric]:
        """Yield one gauge: depth by kind (predict, in_flight, celery) and queue."""
        gauge = GaugeMetricFamily(
            QUEUE_DEPTH, "Requests waiting in each queue", labels=("kind", "queue")
        )
        for depth in self._depths():
            gauge.add_metric((depth.kind, depth.queue), depth.depth)
        yield gauge

    def _depths(self) -> list[QueueDepth]:
        svc = self._svc
        try:
            node_ids = [node.id for node in svc.view.nodes()]
            return predict_depths(svc.store, node_ids) + celery_depths(svc.celery, node_ids)
        except (redis.RedisError, MLCommonsError) as error:
            # The other metrics are still worth a scrape while a queue server is away.
            log.warning("queue depths unavailable: %s", error)
            return []


def _outcome(error: Exception) -> Outcome:
    # Statuses are chosen in api/errors.py; only ours can be a throttle or a timeout.
    return outcome_of(error.status) if isinstance(error, MLCommonsError) else Outcome.ERROR


def in_multiprocess_mode() -> bool:
    """Whether prometheus_client keeps values in files (it chose when first imported)."""
    return values.ValueClass is not values.MutexValue


def register_metrics(app: Flask, svc: Services) -> None:
    """Serve GET /metrics and count predicts, when metrics are on (MODELGATE_METRICS)."""
    if not svc.settings.metrics:
        return
    metrics = ApiMetrics(svc, multiprocess=in_multiprocess_mode())
    app.extensions[EXTENSION] = metrics
    for endpoint in PREDICT_ENDPOINTS:
        app.view_functions[endpoint] = metrics.timed(app.view_functions[endpoint])
    app.add_url_rule(API_PATH, "metrics", metrics.render, methods=["GET"])
