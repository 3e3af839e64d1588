"""The api <-> workers contract: task names, the queues each node role reads, the Celery factory.

Queue names serve both Celery's lifecycle jobs and the predict lists (common/stores/predicts.py);
what travels on them is defined in common/messages.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from celery import Celery

from common.records import NodeRole
from common.settings import Settings

TASK_REGISTER = "mg.register_model"
TASK_DEPLOY = "mg.deploy_model"
TASK_UNDEPLOY = "mg.undeploy_model"
TASK_SYNC_UP = "mg.sync_up"
# Beat sends the sync-up every second; the job itself runs once per the cluster setting
# sync_up_job_interval_in_seconds (workers/sync_up.py), so the setting stays dynamic.
SYNC_UP_TICK_S = 1.0

# Competing-consumer queues: ML nodes read both, data nodes read only the shared one, so
# plugins.ml_commons.only_run_on_ml_node picks the queue and the consumers balance the load.
# The same names serve Celery's lifecycle jobs and the predict lists (workers/predict_consumer).
QUEUE_ML = "ml"
QUEUE_ML_OR_DATA = "ml_or_data"

ROLES = tuple(role.value for role in NodeRole)  # for command-line choices


def role_queue(*, only_ml: bool) -> str:
    """Return the shared queue for work any eligible node may take."""
    return QUEUE_ML if only_ml else QUEUE_ML_OR_DATA


def node_queue(node_id: str) -> str:
    """Return the queue only one node reads (deploy and undeploy are per node)."""
    return f"node.{node_id}"


def shared_queues(role: str) -> list[str]:
    """Return the shared queues a node of this role takes work from."""
    return [QUEUE_ML, QUEUE_ML_OR_DATA] if role == NodeRole.ML else [QUEUE_ML_OR_DATA]


def queues_for(role: str, node_id: str) -> list[str]:
    """Return the Celery queues a worker of this role consumes."""
    return [*shared_queues(role), node_queue(node_id)]


def create_celery(settings: Settings, include: Sequence[str] = ()) -> Celery:
    """Build a Celery app on the configured broker, set for at-least-once delivery."""
    app = Celery("modelgate", include=list(include))
    app.conf.update(celery_config(settings))
    return app


def celery_config(settings: Settings) -> dict[str, Any]:
    """Return the Celery configuration shared by the API (client) and workers."""
    broker = amqp_config(settings) if settings.broker_is_amqp else redis_config(settings)
    return {
        "broker_url": settings.require_broker_url(),
        "broker_connection_retry_on_startup": True,
        **broker,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        # Ack after the job ran, and requeue when the process running it dies: a crashed
        # worker loses no acknowledged job.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_default_queue": QUEUE_ML_OR_DATA,
        "worker_hijack_root_logger": False,
        # Events for lifecycle jobs, so Flower and `celery events` show them; predicts do not
        # go through Celery, so they send none.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "beat_schedule": {
            "sync-up": {
                "task": TASK_SYNC_UP,
                "schedule": SYNC_UP_TICK_S,
                # A tick nobody took in time is dropped, not piled up behind a stopped cluster.
                "options": {"queue": QUEUE_ML_OR_DATA, "expires": 10 * SYNC_UP_TICK_S},
            }
        },
    }


def redis_config(settings: Settings) -> dict[str, Any]:
    """Redis broker: keys under the cluster's prefix, a crashed worker's jobs restored later."""
    return {
        "broker_transport_options": {
            # Unacknowledged jobs of a crashed worker come back after this many seconds.
            "visibility_timeout": settings.visibility_timeout_s,
            "unacked_restore_interval": settings.restore_interval_s,
            "unacked_restore_throttle": 1,
            "global_keyprefix": f"{settings.key_prefix}:celery:",
        },
    }


def amqp_config(settings: Settings) -> dict[str, Any]:
    """RabbitMQ broker: confirmed publishes into durable queues of the configured type.

    The broker requeues a worker's unacknowledged jobs as soon as its connection closes (a
    killed process), so no visibility timeout applies. Clusters sharing a RabbitMQ use one
    vhost each (the URL's path): queue names carry no key prefix.
    """
    return {
        # send_task returns once the broker has the job (on quorum queues: a majority of
        # replicas), so a job the API reported queued is not lost with a broker node.
        "broker_transport_options": {"confirm_publish": True},
        # Every job queue, named up front or created on first use, gets the same type: a
        # declare with another type would fail (PRECONDITION_FAILED) against an existing queue.
        "task_default_queue_type": settings.broker_queue_type,
        "task_create_missing_queue_type": settings.broker_queue_type,
    }


def job_queue_depths(app: Celery, names: Iterable[str]) -> dict[str, int]:
    """Return how many jobs wait in each named Celery queue, on either broker.

    A declare answers with the count: on RabbitMQ a passive one (it creates nothing, and a
    queue not declared yet is a channel error); on Redis a plain one, which creates nothing
    there either and reads LLEN under the key prefix (kombu's passive check looks for the
    list without the prefix and would always answer "no queue"). Jobs a worker holds
    unacknowledged are not counted; a queue that does not exist (yet) counts 0.
    """
    depths: dict[str, int] = {}
    with app.connection_for_read() as connection:
        passive = connection.transport.driver_type == "amqp"
        for name in names:
            # One channel per queue: RabbitMQ closes the channel of a declare that failed.
            channel = connection.channel()
            try:
                declared = channel.queue_declare(name, passive=passive)
                depths[name] = int(declared.message_count)
            except connection.channel_errors:
                depths[name] = 0
            finally:
                _close_quietly(channel, connection)
    return depths


def _close_quietly(channel: Any, connection: Any) -> None:
    try:
        channel.close()
    except connection.channel_errors:
        pass  # already closed by the broker after a failed declare
