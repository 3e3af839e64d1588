"""The worker bootstep that makes one Celery worker one modelgate node, and its CLI options."""

from __future__ import annotations

import logging
import socket
from dataclasses import replace
from typing import Any, ClassVar

import redis
from celery import bootsteps
from celery.beat import EmbeddedService, Scheduler
from celery.concurrency.solo import TaskPool as SoloPool
from celery.concurrency.thread import TaskPool as ThreadPool

from common.ids import new_node_id
from common.interpreter import settle_interpreter
from common.queueing import ROLES, node_queue, queues_for, shared_queues
from common.settings import Settings
from common.store import open_store
from workers.deploy import resume_unfinished
from workers.heartbeat import Heartbeat
from workers.predict_consumer import PredictConsumer
from workers.runtime import NodeIdentity, Runtime, install

OPTION_GROUP = "Modelgate Node Options"
log = logging.getLogger(__name__)


class NodeSetupError(RuntimeError):
    """The worker was started in a way a modelgate node cannot run in."""


def node_options() -> list[Any]:
    """Return the `celery worker` options that NodeStep reads (app.user_options['worker'])."""
    # Imported here: only `celery worker` needs them, and click is a few MB per node.
    import click
    from celery.bin.base import CeleryOption

    return [
        CeleryOption(
            ["--role"],
            type=click.Choice(ROLES),
            help_group=OPTION_GROUP,
            help="ml or data node (default MODELGATE_NODE_ROLE, else ml)",
        ),
        CeleryOption(
            ["--node-name"],
            help_group=OPTION_GROUP,
            help="node name, unique per cluster (default MODELGATE_NODE_NAME, else ROLE-HOSTNAME)",
        ),
        CeleryOption(
            ["--with-beat"],
            is_flag=True,
            default=False,
            help_group=OPTION_GROUP,
            help="also run the cluster's beat (periodic sync-up) in this node, as a thread",
        ),
        CeleryOption(
            ["--predict-concurrency"],
            type=click.IntRange(min=1),
            help_group=OPTION_GROUP,
            help="predicts served at once (default MODELGATE_WORKER_CONCURRENCY)",
        ),
    ]


def resolve_role(settings: Settings, role: str | None) -> str:
    """Return the role a node runs as: the option, else the settings' default."""
    chosen = role or settings.node_role
    if chosen not in ROLES:
        raise NodeSetupError(f"a node's role is one of {', '.join(ROLES)}, not {chosen!r}")
    return chosen


def resolve_name(settings: Settings, role: str, name: str | None) -> str:
    """Return the name a node runs under: the option, else the settings, else ROLE-HOSTNAME."""
    return name or settings.node_name or f"{role}-{socket.gethostname()}"


class NodeStep(bootsteps.StartStopStep):  # type: ignore[misc]  # celery ships no types
    """Resolve the node, consume its queues, beat and serve predicts while the worker runs."""

    # After the job pool and before Celery's consumer, which always starts last (and blocks):
    # jobs arrive only once the node is alive, and stop runs once the consumer stopped taking
    # jobs, while the pool may still finish some (they use the store, not the HTTP client).
    requires = ("celery.worker.components:Pool",)
    settings: ClassVar[Settings]

    @classmethod
    def bound_to(cls, settings: Settings) -> type[NodeStep]:
        """Return this step with settings attached; Celery instantiates steps itself."""
        return type(cls.__name__, (cls,), {"settings": settings, "__module__": cls.__module__})

    def __init__(
        self,
        worker: Any,
        role: str | None = None,
        node_name: str | None = None,
        predict_concurrency: int | None = None,
        with_beat: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(worker, **kwargs)
        settings = self.settings
        if predict_concurrency:
            settings = replace(settings, worker_concurrency=predict_concurrency)
        self._settings = settings
        self._role = resolve_role(settings, role)
        self._name = resolve_name(settings, self._role, node_name)
        self._with_beat = with_beat
        self._beat: Any = None

    def create(self, worker: Any) -> None:
        """Resolve the node id, select its Celery queues and build the node's runtime."""
        _require_in_process_pool(worker.pool_cls)
        node_id = _resolve_id(self._settings, self._name)
        node = NodeIdentity(id=node_id, name=self._name, role=self._role)
        # Before the Celery consumer starts: it subscribes to whatever is selected then.
        worker.setup_queues(queues_for(node.role, node.id))
        self._runtime = Runtime.build(self._settings, worker.app, node)
        if self._settings.metrics:
            # Imported here: prometheus_client reads the whole environment when imported.
            from workers.metrics_server import PrometheusNodeMetrics

            self._runtime.metrics = PrometheusNodeMetrics(
                node.id, node.role, self._runtime.stats, self._settings.predict_timeout_s
            )
        install(self._runtime)
        self._heartbeat = Heartbeat(self._runtime)
        # Its own list too: predicts of a model deployed to named nodes only come there.
        predict_queues = [*shared_queues(node.role), node_queue(node.id)]
        self._predicts = PredictConsumer(
            self._runtime, predict_queues, self._settings.worker_concurrency
        )

    def start(self, worker: Any) -> None:
        """Announce the node, then start taking predicts."""
        # Before the first beat, which announces where the metrics are served.
        settings = self._settings
        self._runtime.metrics.serve(
            settings.metrics_host, settings.metrics_port, self._predicts.in_flight
        )
        # Beat first: a node taking requests before it looks alive would have them requeued.
        self._heartbeat.start()
        self._runtime.http.run(self._predicts.start())
        try:
            resumed = resume_unfinished(self._runtime)
            if resumed:
                log.warning("resumed %d deploy(s) a previous run of this node left", resumed)
        except redis.RedisError as error:  # the Celery redelivery will still come
            log.warning("could not resume unfinished deploys: %s", error)
        if self._with_beat:
            # A thread, not Celery's -B (a process of its own, ~80 MB): the schedule is one
            # fixed interval, and the job claims each sync-up in Redis (workers/sync_up.py).
            self._beat = EmbeddedService(worker.app, thread=True, scheduler_cls=Scheduler)
            self._beat.start()
        settle_interpreter()

    def stop(self, worker: Any) -> None:
        """Leave the node table, let running predicts finish, then close the runtime."""
        self._leave(grace_s=self._settings.predict_timeout_s)

    def terminate(self, worker: Any) -> None:
        """Leave at once (cold shutdown): unanswered predicts are requeued by live nodes."""
        self._leave(grace_s=0.0)

    def _leave(self, grace_s: float) -> None:
        if self._beat is not None:
            self._beat.stop()
        self._heartbeat.stop()
        self._runtime.http.run(self._predicts.stop(grace_s=grace_s), timeout=grace_s + 5)
        self._runtime.metrics.close()
        self._runtime.close()


def _resolve_id(settings: Settings, name: str) -> str:
    store = open_store(settings)
    try:
        # Stable per name: a restarted node picks up the jobs left in its own queue.
        return store.nodes.id_for(name, new_node_id())
    finally:
        store.redis.close()


def _require_in_process_pool(pool_cls: Any) -> None:
    # The runtime (HTTP loop, model cache, heartbeat) lives in this process; prefork children
    # would run jobs without it.
    if not (isinstance(pool_cls, type) and issubclass(pool_cls, ThreadPool | SoloPool)):
        raise NodeSetupError("a modelgate node runs jobs on threads: use --pool threads (or solo)")
