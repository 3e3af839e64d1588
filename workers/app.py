"""Build the worker's Celery app and hook per-process start-up and shutdown."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from common.queueing import create_celery, shared_queues
from common.settings import Settings
from workers.heartbeat import Heartbeat
from workers.predict_consumer import PredictConsumer
from workers.runtime import NodeIdentity, Runtime, install

TASK_MODULES = ["workers.tasks"]


def create_worker_app(settings: Settings, node: NodeIdentity) -> Celery:
    """Return a Celery app whose tasks run as this node; heartbeat starts when it is ready."""
    app = create_celery(settings, include=TASK_MODULES)
    runtime = Runtime.build(settings, app, node)
    install(runtime)
    heartbeat = Heartbeat(runtime)
    consumer = PredictConsumer(runtime, shared_queues(node.role), settings.worker_concurrency)

    def on_ready(**_: Any) -> None:
        # Beat first: a node taking requests before it looks alive would have them requeued.
        heartbeat.start()
        runtime.http.run(consumer.start())

    def on_shutdown(**_: Any) -> None:
        heartbeat.stop()
        grace = settings.predict_timeout_s
        runtime.http.run(consumer.stop(grace_s=grace), timeout=grace + 5)
        runtime.close()

    worker_ready.connect(on_ready, weak=False)
    worker_shutdown.connect(on_shutdown, weak=False)
    return app
