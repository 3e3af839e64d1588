"""Build the worker's Celery app: task modules, node options and the node bootstep."""

from __future__ import annotations

from celery import Celery
from celery.worker.consumer import Consumer

from common.queueing import create_celery
from common.settings import Settings
from workers.node_step import NodeStep, node_options

TASK_MODULES = ["workers.tasks"]
# Register, deploy and undeploy are short and rare; predicts do not use these threads.
JOB_THREADS = 4
_DELAYED_DELIVERY = "celery.worker.consumer.delayed_delivery:DelayedDelivery"


class JobConsumer(Consumer):  # type: ignore[misc]  # celery ships no types
    """Celery's consumer without native delayed delivery.

    On quorum queues Celery would declare 28 delay queues and exchanges in the vhost and warn
    at every start that our direct exchanges cannot take delayed jobs; modelgate sends no job
    with an ETA or a countdown, so the step only costs.
    """

    class Blueprint(Consumer.Blueprint):  # type: ignore[misc]
        default_steps = [s for s in Consumer.Blueprint.default_steps if s != _DELAYED_DELIVERY]


def create_worker_app(settings: Settings, *, command_line: bool = True) -> Celery:
    """Return the worker Celery app; each worker it runs becomes a node when it starts.

    command_line=False leaves out the node's `celery worker` options, for a worker built
    with app.Worker (tools/serve_worker.py): they would import click for nothing.
    """
    app = create_celery(settings, include=TASK_MODULES)
    # Defaults for a bare `celery worker`: the node's runtime must share the worker process.
    app.conf.worker_pool = "threads"
    app.conf.worker_concurrency = JOB_THREADS
    app.conf.worker_consumer = f"{__name__}:{JobConsumer.__name__}"
    if command_line:
        app.user_options["worker"].update(node_options())
    app.steps["worker"].add(NodeStep.bound_to(settings))
    return app
