"""`modelgate up`: Redis (embedded unless configured), the API and one worker of each role."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import redis

from common.nodes import alive
from common.settings import Settings
from common.store import Store, open_store
from tools import processes
from tools.cli import command
from tools.embedded_redis import EmbeddedRedis

# Time the API and the workers get to finish what they are doing before they are killed.
STOP_GRACE_S = 20.0


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the up sub-command's flags."""
    parser.add_argument("--ml-workers", type=int, default=1, help="ML-node workers to start")
    parser.add_argument("--data-workers", type=int, default=1, help="data-node workers to start")


def _node_commands(args: argparse.Namespace) -> list[list[str]]:
    commands: list[list[str]] = []
    for role, count in (("ml", args.ml_workers), ("data", args.data_workers)):
        commands += [
            command("worker", "--role", role, "--name", f"{role}-{i + 1}") for i in range(count)
        ]
    return commands


def _start_redis(settings: Settings) -> tuple[Settings, list[EmbeddedRedis]]:
    """Start the embedded servers when no Redis is configured: records and queues apart."""
    if settings.redis_url:
        return settings, []
    records = EmbeddedRedis(settings.data_dir.resolve() / "redis")
    settings = replace(settings, redis_url=records.start())
    print(f"embedded Redis on {settings.redis_url} (data in {records.data_dir})", flush=True)
    if settings.queue_redis_url:
        return settings, [records]
    # Prompts and answers are users' data in transit: they stay in memory, never on disk.
    queues = EmbeddedRedis(settings.data_dir.resolve() / "queues", persistent=False)
    settings = replace(settings, queue_redis_url=queues.start())
    print(f"embedded memory-only queue Redis on {settings.queue_redis_url}", flush=True)
    return settings, [records, queues]


def _live_nodes(store: Store, settings: Settings) -> int:
    try:
        return len(alive(store.nodes.all(), settings.node_ttl_s))
    except redis.RedisError:
        return 0


def _supervise(children: Sequence[subprocess.Popen[bytes]], ready: Callable[[], bool]) -> int:
    """Wait for a signal (exit 0) or for a child to die (exit 1); announce readiness once."""
    stopping: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _frame: stopping.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    announced = False
    while not stopping:
        if any(child.poll() is not None for child in children):
            print("a modelgate process exited; stopping the stack", file=sys.stderr, flush=True)
            return 1
        if not announced and ready():
            announced = True
            print("modelgate is ready", flush=True)
        time.sleep(0.2)
    return 0


def _spawn_api(env: dict[str, str]) -> processes.Child:
    # The API server stops its own workers. A terminal Ctrl-C reaching them as well raced
    # granian's stop (a worker then waited out the kill timeout), so the API gets a process
    # group of its own and one signal, from here.
    return processes.spawn(command("api"), env=env, new_group=True, relays=True)


def main(args: argparse.Namespace) -> int:
    """Run everything in the foreground; Ctrl-C stops every process started here."""
    settings, servers = _start_redis(Settings.from_env())
    env = {**os.environ, **settings.to_env()}
    nodes = [processes.spawn(cmd, env=env) for cmd in _node_commands(args)]
    children = [_spawn_api(env), *nodes]
    print(f"modelgate API on http://{settings.host}:{settings.port}", flush=True)
    store = open_store(settings)
    expected = args.ml_workers + args.data_workers
    code = _supervise(children, lambda: _live_nodes(store, settings) >= expected)
    processes.stop(*children, grace_s=STOP_GRACE_S)
    for server in reversed(servers):
        server.stop()
    return code
