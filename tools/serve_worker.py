"""`modelgate worker --role ml|data`: run one worker node (a Celery worker on threads)."""

from __future__ import annotations

import argparse
import logging
import socket
from dataclasses import replace

from common.ids import new_node_id
from common.queueing import ROLES, queues_for
from common.settings import Settings
from common.store import Store, connect
from workers.app import create_worker_app
from workers.runtime import NodeIdentity


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the worker sub-command's flags."""
    parser.add_argument("--role", choices=ROLES, required=True, help="ml or data node")
    parser.add_argument("--name", help="node name, unique per cluster (default ROLE-HOSTNAME)")
    parser.add_argument("--concurrency", type=int, help="predicts served at once (coroutines)")
    parser.add_argument(
        "--job-threads",
        type=int,
        default=4,
        help="register/deploy/undeploy jobs run at once (threads)",
    )
    parser.add_argument("--loglevel", default="INFO")


def main(args: argparse.Namespace) -> int:
    """Start the Celery worker for this node and block until it stops."""
    logging.basicConfig(
        level=args.loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One log line per job would cost more CPU than the job's own bookkeeping.
    for noisy in ("celery.app.trace", "celery.worker.strategy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = Settings.from_env()
    if args.concurrency:
        settings = replace(settings, worker_concurrency=args.concurrency)
    name = args.name or settings.node_name or f"{args.role}-{socket.gethostname()}"
    store = Store(connect(settings.require_redis_url()), settings.key_prefix)
    # The id is stable per name, so a restarted node picks up jobs left in its own queue.
    node = NodeIdentity(id=store.node_id_for(name, new_node_id()), name=name, role=args.role)
    app = create_worker_app(settings, node)
    app.worker_main(
        [
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(args.job_threads),
            "--queues",
            ",".join(queues_for(args.role, node.id)),
            "--hostname",
            f"{name}@{socket.gethostname()}",
            "--loglevel",
            args.loglevel,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
    return 0
