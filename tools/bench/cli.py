"""The `modelgate bench` sub-command: the gateway's targets measured beside the mock directly."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path

from tools.arguments import non_negative_float, positive_float, positive_int
from tools.bench import security_cost
from tools.bench.errors import SetupError
from tools.bench.extras import measure_extras
from tools.bench.goals import Thresholds, baseline_of, evaluate
from tools.bench.history import append_history, one_model_baseline, previous_run, read_history
from tools.bench.load import LoadShape
from tools.bench.memory import tree_rss_mb
from tools.bench.metrics_cost import compare, two_stacks
from tools.bench.mock import spawn_mock
from tools.bench.options import BenchOptions, concurrency_list
from tools.bench.progress import ProgressReporter
from tools.bench.provenance import Provenance, provenance
from tools.bench.provision import Provisioned, check_model, prepare_models, upstream_endpoint
from tools.bench.report import format_comparison, format_goals, format_report
from tools.bench.result import BenchResult, result_to_json, write_result
from tools.bench.stack import spawn_stack
from tools.bench.suite import run_suite
from tools.bench.targets import api_target, direct_target
from tools.cli import PROJECT_ROOT

DEFAULT_API = "http://127.0.0.1:9200"
DEFAULT_HISTORY = PROJECT_ROOT / "bench-history.jsonl"
# Lets the last deployments' bookkeeping finish before the idle stack is weighed.
IDLE_SETTLE_S = 1.0


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Register the bench flags on the `bench` sub-command parser."""
    add = parser.add_argument
    add("--api", default=DEFAULT_API, help="base URL of the modelgate API")
    add(
        "--concurrency",
        type=concurrency_list,
        default=(1, 64),
        help="comma-separated requests in flight, e.g. 1,64: each runs via the API, then direct",
    )
    add("--duration", type=positive_float, default=15.0, help="measured seconds per run")
    add("--warmup", type=non_negative_float, default=3.0, help="unrecorded seconds before each run")
    add("--models", type=positive_int, default=1, help="models to deploy; predicts round-robin")
    add("--setup-concurrency", type=positive_int, default=16, help="registrations at once")
    add("--upstream", default=None, help="base URL of a running mock upstream (default: spawn one)")
    add("--latency-ms", type=non_negative_float, default=0.0, help="latency of the spawned mock")
    add("--spawn-stack", action="store_true", help="run `modelgate up` on a free port for the run")
    add("--model-id", default=None, help="bench this deployed model instead of creating one")
    add("--rss-interval", type=positive_float, default=2.0, help="seconds between RSS samples")
    add("--output", default="bench-result.json", help="where to write the JSON result")
    add("--history", default=str(DEFAULT_HISTORY), help="JSON-lines history of runs")
    add("--no-history", action="store_true", help="compare with the history but do not append")
    # The predict-path targets modelgate is held to (README, Benchmark).
    add("--goal-rps", type=positive_float, default=1500.0, help="target predicts/s at c=64")
    add("--goal-added-p50-ms", type=non_negative_float, default=1.0, help="target at c=1")
    add("--goal-added-p99-ms", type=non_negative_float, default=3.0, help="target at c=1")
    add("--no-progress", action="store_true", help="log progress every 5 s instead of live")
    add(
        "--dispatch-policy",
        choices=("round_robin", "least_load"),
        default=None,
        help="set plugins.ml_commons.task_dispatch_policy for the run (default: leave it)",
    )
    add(
        "--security-cost",
        action="store_true",
        help="only compare predicts/s with security (basic auth, roles) off and on (two stacks)",
    )
    add(
        "--metrics-cost",
        action="store_true",
        help="only compare predicts/s with Prometheus metrics off and on (two spawned stacks)",
    )
    add(
        "--management",
        action="store_true",
        help="also measure the rate limiter's cost at c=1 and a bool _search over the models",
    )


async def _setup(
    args: argparse.Namespace, api: str, upstream: str, reporter: ProgressReporter
) -> Provisioned:
    if not args.model_id:
        return await prepare_models(
            api,
            upstream,
            args.models,
            args.setup_concurrency,
            reporter,
            dispatch_policy=args.dispatch_policy,
        )
    started = time.perf_counter()
    await check_model(api, args.model_id)
    waited = time.perf_counter() - started
    return Provisioned((args.model_id,), 0.0, waited, waited)


async def _idle_rss(pid: int | None) -> float | None:
    if pid is None:
        return None
    await asyncio.sleep(IDLE_SETTLE_S)
    return await asyncio.to_thread(tree_rss_mb, pid)


async def _bench(
    args: argparse.Namespace,
    options: BenchOptions,
    origin: Provenance,
    api: str,
    upstream: str,
    pid: int | None,
) -> BenchResult:
    reporter = ProgressReporter.for_stderr(args.no_progress)
    setup = await _setup(args, api, upstream, reporter)
    print(
        f"bench: {len(setup.model_ids)} model(s) deployed in {setup.total_s:.1f} s", file=sys.stderr
    )
    idle = await _idle_rss(pid)
    runs = await run_suite(
        api_target(api, setup.model_ids),
        direct_target(upstream),
        options,
        reporter,
        pid,
        args.rss_interval,
    )
    if args.management:
        shape = LoadShape(1, options.duration_s, options.warmup_s)
        extras = await measure_extras(api, setup.model_ids[0], shape, reporter)
        print(f"\n{extras.describe()}\n", flush=True)
    return BenchResult(options, origin, api, upstream, setup, runs, idle)


def _run(args: argparse.Namespace, options: BenchOptions, origin: Provenance) -> BenchResult:
    if args.upstream:
        upstream_endpoint(args.upstream)  # fail before spending time on spawning anything
    with contextlib.ExitStack() as resources:
        upstream: str = args.upstream or resources.enter_context(spawn_mock(args.latency_ms))
        stack = resources.enter_context(spawn_stack()) if args.spawn_stack else None
        api = stack.api if stack else args.api.rstrip("/")
        pid = stack.pid if stack else None
        return asyncio.run(_bench(args, options, origin, api, upstream.rstrip("/"), pid))


def _metrics_cost(args: argparse.Namespace, options: BenchOptions) -> int:
    """Run the metrics on/off comparison alone; 0 when every run completed."""
    reporter = ProgressReporter.for_stderr(args.no_progress)
    with contextlib.ExitStack() as resources:
        upstream: str = args.upstream or resources.enter_context(spawn_mock(args.latency_ms))
        stacks = resources.enter_context(two_stacks())
        costs = asyncio.run(compare(stacks, upstream.rstrip("/"), options, reporter))
    print("\n".join(cost.describe() for cost in costs), flush=True)
    return 0


def _security_cost(args: argparse.Namespace, options: BenchOptions) -> int:
    """Run the security on/off comparison alone; 0 when every run completed."""
    reporter = ProgressReporter.for_stderr(args.no_progress)
    with contextlib.ExitStack() as resources:
        upstream: str = args.upstream or resources.enter_context(spawn_mock(args.latency_ms))
        apis = resources.enter_context(security_cost.two_stacks())
        costs = asyncio.run(security_cost.compare(apis, upstream.rstrip("/"), options, reporter))
    print("\n".join(cost.describe() for cost in costs), flush=True)
    return 0


def _report(args: argparse.Namespace, result: BenchResult) -> int:
    """Print the report, judge the targets against the history, record the run."""
    history = Path(args.history)
    entries = read_history(history)
    entry = result_to_json(result)
    options, commit = entry["options"], result.provenance.commit
    baseline = one_model_baseline(entries, options, commit) if result.options.models > 1 else None
    thresholds = Thresholds(args.goal_rps, args.goal_added_p50_ms, args.goal_added_p99_ms)
    goals = evaluate(result, thresholds, baseline_of(baseline))
    entry["targets"] = [goal.to_json() for goal in goals]
    comparison = format_comparison(previous_run(entries, options), entry["figures"])
    print(f"{format_report(result)}\n\n{comparison}\n\n{format_goals(goals)}")
    if not args.no_history and append_history(history, entry):
        print(f"run appended to {history}")
    return write_result(Path(args.output), entry)


def main(args: argparse.Namespace) -> int:
    """Run the benchmark: 0 once every run completed (even with errors), 1 if set-up failed."""
    if args.model_id and args.models != 1:
        print("bench: --model-id benches one existing model; drop --models", file=sys.stderr)
        return 2
    origin = provenance(PROJECT_ROOT)
    print(origin.describe(), flush=True)
    try:
        if args.security_cost:
            return _security_cost(args, BenchOptions.from_args(args))
        if args.metrics_cost:
            return _metrics_cost(args, BenchOptions.from_args(args))
        result = _run(args, BenchOptions.from_args(args), origin)
    except SetupError as exc:
        print(f"bench: set-up failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nbench: interrupted", file=sys.stderr)
        return 130
    return _report(args, result)
