"""The node's metrics interface: NodeMetrics is the no-op used with metrics off.

The Prometheus implementation lives in workers/metrics_server.py and is imported only when a
node turns metrics on: importing prometheus_client imports wsgiref, which reads the whole
environment at import time (and nothing may happen at import time here).
"""

from __future__ import annotations

from collections.abc import Callable

from common.messages import ErrorInfo, PredictRequest


class NodeMetrics:
    """Metrics off: every call does nothing."""

    port: int | None = None  # where the node's metrics are served, announced by heartbeat

    def predict(self, job: PredictRequest, seconds: float, error: ErrorInfo | None) -> None:
        """Count a served predict: outcome, time on this node and time it waited in the queue."""

    def upstream(self, status: int, seconds: float) -> None:
        """Count one upstream answer and its duration."""

    def upstream_failed(self) -> None:
        """Count an upstream call that got no answer (connection refused, reset, timeout)."""

    def upstream_retry(self) -> None:
        """Count a retry of an upstream call (client_config's retry policy)."""

    def serve(self, host: str, port: int, in_flight: Callable[[], int]) -> None:
        """Start serving the metrics (no-op here)."""

    def close(self) -> None:
        """Stop serving."""
