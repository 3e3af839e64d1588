"""`modelgate worker --role ml|data`: run one node, a Celery worker with the node bootstep.

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
from typing import Any

import redis
from celery import signals
from celery.exceptions import SecurityWarning

from common.settings import NODE_ROLES, Settings
from tools.arguments import positive_int
from workers.app import JOB_THREADS, create_worker_app
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


def worker_options(
    args: argparse.Namespace, role: str, name: str, log_level: str
) -> dict[str, Any]:
    """Return the keyword arguments of the Celery worker that runs this node.

    The worker is built with app.Worker, not through `celery worker`: Celery's command line
    loads click-repl, prompt_toolkit, pygments and every installed Celery plugin (Flower and
    Tornado among them), about 20 MB per node that a node never uses. These are the values
    the command line would pass; bare `celery -A workers.celery_app worker` still works.
    """
    return {
        "hostname": f"{name}@{socket.gethostname()}",
        "pool_cls": "threads",
        "concurrency": args.job_threads,
        "loglevel": log_level,
        # Celery's --quiet leaves out its banner.
        "quiet": not _verbose(log_level),
        "no_color": True,
        # Nodes find each other through Redis, not Celery: skip the start-up sync and the
        # subscription to every other worker's events.
        "without_gossip": True,
        "without_mingle": True,
        # Read by NodeStep (workers/node_step.py), as its command-line options would be.
        "role": role,
        "node_name": name,
        "predict_concurrency": args.concurrency,
        "with_beat": args.with_beat,
    }


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
        options = worker_options(args, role, name, settings.log_level)
        worker = create_worker_app(settings, command_line=False).Worker(**options)
        worker.start()
    except redis.ConnectionError as error:  # raised while the node resolves its id
        print(f"modelgate: node {name} cannot reach Redis: {error}", file=sys.stderr, flush=True)
        return 1
    return int(worker.exitcode or 0)
