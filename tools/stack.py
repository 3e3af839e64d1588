"""`modelgate up`: Redis (embedded unless configured), the API and one worker of each role."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from types import FrameType

from common.settings import Settings
from tools.embedded_redis import EmbeddedRedis


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the up sub-command's flags."""
    parser.add_argument("--ml-workers", type=int, default=1, help="ML-node workers to start")
    parser.add_argument("--data-workers", type=int, default=1, help="data-node workers to start")


def _commands(args: argparse.Namespace) -> list[list[str]]:
    base = [sys.executable, "-m", "tools.cli"]
    commands = [[*base, "api"]]
    for role, count in (("ml", args.ml_workers), ("data", args.data_workers)):
        commands += [
            [*base, "worker", "--role", role, "--name", f"{role}-{i + 1}"] for i in range(count)
        ]
    return commands


def _stop_all(children: list[subprocess.Popen[bytes]], timeout_s: float = 20.0) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(args: argparse.Namespace) -> int:
    """Run everything in the foreground; Ctrl-C stops every process started here."""
    settings = Settings.from_env()
    redis_server = None
    if not settings.redis_url:
        redis_server = EmbeddedRedis(settings.data_dir.resolve() / "redis")
        settings = replace(settings, redis_url=redis_server.start())
        print(
            f"embedded Redis on {settings.redis_url} (data in {redis_server.data_dir})", flush=True
        )
    env = {**os.environ, **settings.to_env()}
    children = [subprocess.Popen(cmd, env=env) for cmd in _commands(args)]
    print(f"modelgate API on http://{settings.host}:{settings.port}", flush=True)
    stopping: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    while not stopping:
        if any(child.poll() is not None for child in children):
            print("a modelgate process exited; stopping the stack", file=sys.stderr, flush=True)
            code = 1
            break
        time.sleep(0.2)
    _stop_all(children)
    if redis_server is not None:
        redis_server.stop()
    return code
