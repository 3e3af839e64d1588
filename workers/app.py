"""Build the worker's Celery app: task modules, node options and the node bootstep."""

from __future__ import annotations

from celery import Celery

from common.queueing import create_celery
from common.settings import Settings
from workers.node_step import NodeStep, node_options

TASK_MODULES = ["workers.tasks"]
# Register, deploy and undeploy are short and rare; predicts do not use these threads.
JOB_THREADS = 4


def create_worker_app(settings: Settings) -> Celery:
    """Return the worker Celery app; each worker it runs becomes a node when it starts."""
    app = create_celery(settings, include=TASK_MODULES)
    # Defaults for a bare `celery worker`: the node's runtime must share the worker process.
    app.conf.worker_pool = "threads"
    app.conf.worker_concurrency = JOB_THREADS
    app.user_options["worker"].update(node_options())
    app.steps["worker"].add(NodeStep.bound_to(settings))
    return app
