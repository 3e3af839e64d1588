"""The `modelgate bench` sub-command: predict load via the gateway versus straight to the mock."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

from tools.arguments import non_negative_float, positive_float, positive_int
from tools.bench.errors import SetupError
from tools.bench.load import LoadShape, run_load
from tools.bench.memory import tree_rss_mb, with_peak_rss
from tools.bench.mock import spawn_mock
from tools.bench.progress import ProgressReporter
from tools.bench.provision import check_model, prepare_model, upstream_endpoint
from tools.bench.result import BenchConfig, BenchResult, format_report, write_result
from tools.bench.stack import spawn_stack
from tools.bench.targets import api_target, direct_target

DEFAULT_API = "http://127.0.0.1:9200"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Register the bench flags on the `bench` sub-command parser."""
    add = parser.add_argument
    add("--api", default=DEFAULT_API, help="base URL of the modelgate API")
    add("--concurrency", type=positive_int, default=32, help="parallel requests in flight")
    add("--duration", type=positive_float, default=20.0, help="measured seconds per run")
    add("--warmup", type=non_negative_float, default=2.0, help="unrecorded seconds before each run")
    add("--upstream", default=None, help="base URL of a running mock upstream (default: spawn one)")
    add("--latency-ms", type=non_negative_float, default=0.0, help="latency of the spawned mock")
    add("--spawn-stack", action="store_true", help="run `modelgate up` on a free port for the run")
    add("--model-id", default=None, help="bench this deployed model instead of creating one")
    add("--output", default="bench-result.json", help="where to write the JSON result")
    add("--no-progress", action="store_true", help="log progress every 5 s instead of live")


async def _bench(config: BenchConfig, args: argparse.Namespace, pid: int | None) -> BenchResult:
    api, upstream = config.api, config.upstream
    if args.model_id:
        model_id: str = args.model_id
        await check_model(api, model_id)
    else:
        model_id = await prepare_model(api, upstream)
    print(f"bench: model {model_id} deployed", file=sys.stderr)
    idle = None if pid is None else await asyncio.to_thread(tree_rss_mb, pid)
    if idle is not None:
        print(f"bench: idle stack RSS = {idle:.1f} MB", file=sys.stderr)
    reporter = ProgressReporter.for_stderr(args.no_progress)
    api_run = run_load(api_target(api, model_id), config.shape, reporter)
    api_stats, peak = await with_peak_rss(api_run, pid)
    direct_stats = await run_load(direct_target(upstream), config.shape, reporter)
    return BenchResult(config, api_stats, direct_stats, idle, peak)


def _run(args: argparse.Namespace) -> BenchResult:
    shape = LoadShape(args.concurrency, args.duration, args.warmup)
    if args.upstream:
        upstream_endpoint(args.upstream)  # fail before spending time on spawning anything
    with contextlib.ExitStack() as resources:
        upstream: str = args.upstream or resources.enter_context(spawn_mock(args.latency_ms))
        stack = resources.enter_context(spawn_stack()) if args.spawn_stack else None
        api = stack.api if stack else args.api.rstrip("/")
        config = BenchConfig(shape, api, upstream.rstrip("/"), args.latency_ms)
        return asyncio.run(_bench(config, args, stack.pid if stack else None))


def main(args: argparse.Namespace) -> int:
    """Run the benchmark: 0 once both runs completed (even with errors), 1 if set-up failed."""
    try:
        result = _run(args)
    except SetupError as exc:
        print(f"bench: set-up failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nbench: interrupted", file=sys.stderr)
        return 130
    print(format_report(result))
    return write_result(Path(args.output), result)
