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
from common.store import Store, connect
from tools import processes
from tools.cli import command
from tools.embedded_redis import EmbeddedRedis

# Time the API and the workers get to finish what they are doing before they are killed.
STOP_GRACE_S = 20.0


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the up sub-command's flags."""
    parser.add_argument("--ml-workers", type=int, default=1, help="ML-node workers to start")
    parser.add_argument("--data-workers", type=int, default=1, help="data-node workers to start")


def _commands(args: argparse.Namespace) -> list[list[str]]:
    commands = [command("api")]
    for role, count in (("ml", args.ml_workers), ("data", args.data_workers)):
        commands += [
            command("worker", "--role", role, "--name", f"{role}-{i + 1}") for i in range(count)
        ]
    return commands


def _start_redis(settings: Settings) -> tuple[Settings, EmbeddedRedis | None]:
    if settings.redis_url:
        return settings, None
    server = EmbeddedRedis(settings.data_dir.resolve() / "redis")
    settings = replace(settings, redis_url=server.start())
    print(f"embedded Redis on {settings.redis_url} (data in {server.data_dir})", flush=True)
    return settings, server


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


def main(args: argparse.Namespace) -> int:
    """Run everything in the foreground; Ctrl-C stops every process started here."""
    settings, redis_server = _start_redis(Settings.from_env())
    env = {**os.environ, **settings.to_env()}
    children = [processes.spawn(cmd, env=env) for cmd in _commands(args)]
    print(f"modelgate API on http://{settings.host}:{settings.port}", flush=True)
    store = Store(connect(settings.require_redis_url()), settings.key_prefix)
    expected = args.ml_workers + args.data_workers
    code = _supervise(children, lambda: _live_nodes(store, settings) >= expected)
    processes.stop(*children, grace_s=STOP_GRACE_S)
    if redis_server is not None:
        redis_server.stop()
    return code
