"""`modelgate worker --role ml|data`: run one node with `celery -A workers.celery_app worker`.

Below INFO (the default, MODELGATE_LOG_LEVEL=WARNING) the node says one line when it is ready
and then only warnings and errors: Celery's banner and its warning about running as root
(the norm in a container) come back with --verbose or --log-level INFO.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import warnings
from collections.abc import Callable

import redis
from celery import signals
from celery.exceptions import SecurityWarning

from common.settings import NODE_ROLES, Settings
from tools.arguments import positive_int
from workers import celery_app
from workers.app import JOB_THREADS
from workers.node_step import resolve_name

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the worker sub-command's flags (tools.cli adds --verbose and --log-level)."""
    parser.add_argument(
        "--role", choices=NODE_ROLES, help="ml or data node (default: MODELGATE_NODE_ROLE, else ml)"
    )
    parser.add_argument(
        "--name",
        help="node name, unique per cluster (default: MODELGATE_NODE_NAME, else ROLE-HOSTNAME)",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        help="predicts served at once, coroutines (default: MODELGATE_WORKER_CONCURRENCY)",
    )
    parser.add_argument(
        "--with-beat",
        action="store_true",
        help="also send the cluster's periodic sync-up from this node (run one per cluster)",
    )
    parser.add_argument(
        "--job-threads",
        type=positive_int,
        default=JOB_THREADS,
        help="register/deploy/undeploy jobs run at once (threads)",
    )


def worker_argv(args: argparse.Namespace, role: str, name: str, log_level: str) -> list[str]:
    """Return the `celery worker` arguments that run this node."""
    # Celery's global --quiet (before `worker`) leaves out its banner.
    quiet = [] if _verbose(log_level) else ["--quiet"]
    argv = [*quiet, "worker", "--role", role, "--node-name", name]
    if args.concurrency:
        argv += ["--predict-concurrency", str(args.concurrency)]
    if args.with_beat:
        argv.append("--with-beat")
    return [
        *argv,
        "--pool",
        "threads",
        "--concurrency",
        str(args.job_threads),
        "--hostname",
        f"{name}@{socket.gethostname()}",
        "--loglevel",
        log_level,
        # Nodes find each other through Redis, not Celery: skip the start-up sync and the
        # subscription to every other worker's events.
        "--without-gossip",
        "--without-mingle",
    ]


def _verbose(log_level: str) -> bool:
    return logging.getLevelNamesMapping()[log_level] <= logging.INFO


def _configure_logging(log_level: str) -> None:
    logging.basicConfig(level=log_level, format=LOG_FORMAT)
    # One log line per job would cost more CPU than the job's own bookkeeping.
    for noisy in ("celery.app.trace", "celery.worker.strategy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not _verbose(log_level):
        # Celery's root warning is a paragraph at every start; in a container root is the norm.
        warnings.filterwarnings("ignore", category=SecurityWarning)


def _announcer(name: str, role: str) -> Callable[..., None]:
    def announce(sender: object = None, **_: object) -> None:
        # Celery has put a logger in place of sys.stdout by now; this line is not a log record.
        print(f"node {name} ({role}) ready", file=sys.__stdout__, flush=True)

    return announce


def main(args: argparse.Namespace) -> int:
    """Start the Celery worker for this node and block until it stops."""
    settings = Settings.from_env()
    _configure_logging(settings.log_level)
    role = args.role or settings.node_role
    # The name is needed here too: it is also the Celery hostname (`inspect ping` answers).
    name = resolve_name(settings, role, args.name)
    # Sent once the node beats and takes work: its heartbeat starts before Celery's consumer.
    signals.worker_ready.connect(_announcer(name, role), weak=False)
    try:
        celery_app.worker_app().worker_main(worker_argv(args, role, name, settings.log_level))
    except redis.ConnectionError as error:  # raised while the node resolves its id
        print(f"modelgate: node {name} cannot reach Redis: {error}", file=sys.stderr, flush=True)
        return 1
    return 0
