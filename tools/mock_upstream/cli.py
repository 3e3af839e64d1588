"""The `modelgate mock-upstream` sub-command: serve the imitations until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from tools.arguments import fraction, non_negative_float, positive_int
from tools.mock_upstream.app import create_app
from tools.mock_upstream.config import MockConfig


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the mock-upstream flags to parser."""
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    add("--port", type=int, default=8900, help="port to bind; 0 picks a free one")
    add("--latency-ms", type=non_negative_float, default=0.0, help="delay added to provider calls")
    add("--error-rate", type=fraction, default=0.0, help="share of provider calls failing (500)")
    add("--seed", type=int, default=0, help="seed of the failure-injection RNG")
    add("--aws-access-key", default="AKIAMOCKUPSTREAM", help="access key SigV4 must use")
    add("--aws-secret-key", default="mock-secret-key", help="secret key SigV4 must use")
    add("--embedding-dim", type=positive_int, default=1536, help="length of embedding vectors")
    add("--port-file", type=Path, default=None, help="write the bound port here once listening")


def _config_from_args(args: argparse.Namespace) -> MockConfig:
    return MockConfig(
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        seed=args.seed,
        aws_access_key=args.aws_access_key,
        aws_secret_key=args.aws_secret_key,
        embedding_dim=args.embedding_dim,
    )


def _write_port_file(path: Path, port: int) -> None:
    # Write then rename, so a parent polling for the file never reads a half-written number.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(str(port))
    os.replace(partial, path)


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _wait_for_shutdown_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _serve(config: MockConfig, host: str, port: int, port_file: Path | None) -> None:
    runner = web.AppRunner(create_app(config))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        # The runner knows the real port even when port 0 asked the OS to choose one.
        bound_port = int(runner.addresses[0][1])
        if port_file is not None:
            _write_port_file(port_file, bound_port)
        print(f"mock-upstream listening on {_base_url(host, bound_port)}", flush=True)
        await _wait_for_shutdown_signal()
    finally:
        await runner.cleanup()
        # A stale port file would point the next parent at a port nobody listens on.
        if port_file is not None:
            port_file.unlink(missing_ok=True)


def main(args: argparse.Namespace) -> int:
    """Serve in the foreground until SIGINT or SIGTERM; the process exit status."""
    try:
        asyncio.run(_serve(_config_from_args(args), args.host, args.port, args.port_file))
    except OSError as exc:
        print(f"mock-upstream: {exc}", file=sys.stderr)
        return 1
    return 0
