"""The api <-> workers contract: task names, the queues each node role reads, the Celery factory.

Queue names serve both Celery's lifecycle jobs and the predict lists (common/stores/predicts.py);
what travels on them is defined in common/messages.py.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    """Build a Celery app on the Redis broker, configured for at-least-once delivery."""
    app = Celery("modelgate", include=list(include))
    app.conf.update(celery_config(settings))
    return app


def celery_config(settings: Settings) -> dict[str, Any]:
    """Return the Celery configuration shared by the API (client) and workers."""
    return {
        "broker_url": settings.require_redis_url(),
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            # Unacknowledged jobs of a crashed worker come back after this many seconds.
            "visibility_timeout": settings.visibility_timeout_s,
            "unacked_restore_interval": settings.restore_interval_s,
            "unacked_restore_throttle": 1,
            "global_keyprefix": f"{settings.key_prefix}:celery:",
        },
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
