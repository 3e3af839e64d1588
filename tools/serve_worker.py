"""`modelgate worker --role ml|data`: run one node with `celery -A workers.celery_app worker`."""

from __future__ import annotations

import argparse
import logging
import socket

from common.queueing import ROLES
from common.settings import Settings
from workers import celery_app
from workers.app import JOB_THREADS
from workers.node_step import resolve_name


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the worker sub-command's flags."""
    parser.add_argument("--role", choices=ROLES, required=True, help="ml or data node")
    parser.add_argument("--name", help="node name, unique per cluster (default ROLE-HOSTNAME)")
    parser.add_argument("--concurrency", type=int, help="predicts served at once (coroutines)")
    parser.add_argument(
        "--job-threads",
        type=int,
        default=JOB_THREADS,
        help="register/deploy/undeploy jobs run at once (threads)",
    )
    parser.add_argument("--loglevel", default="INFO")


def worker_argv(args: argparse.Namespace, name: str) -> list[str]:
    """Return the `celery worker` arguments that run this node."""
    argv = ["worker", "--role", args.role, "--node-name", name]
    if args.concurrency:
        argv += ["--predict-concurrency", str(args.concurrency)]
    return [
        *argv,
        "--pool",
        "threads",
        "--concurrency",
        str(args.job_threads),
        "--hostname",
        f"{name}@{socket.gethostname()}",
        "--loglevel",
        args.loglevel,
        # Nodes find each other through Redis, not Celery: skip the start-up sync and the
        # subscription to every other worker's events.
        "--without-gossip",
        "--without-mingle",
    ]


def main(args: argparse.Namespace) -> int:
    """Start the Celery worker for this node and block until it stops."""
    logging.basicConfig(
        level=args.loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One log line per job would cost more CPU than the job's own bookkeeping.
    for noisy in ("celery.app.trace", "celery.worker.strategy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The name is needed here too: it is also the Celery hostname (`inspect ping` answers).
    name = resolve_name(Settings.from_env(), args.role, args.name)
    celery_app.worker_app().worker_main(worker_argv(args, name))
    return 0
