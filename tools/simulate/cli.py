"""`modelgate simulate`: a local cluster of N ML and M data nodes under predict load, each node
with its own upstream latency and failure rate, routed under each only_run_on_ml_node and
task_dispatch_policy asked for, optionally with a node killed mid-run; writes an HTML report
with charts and the raw data as JSON beside it."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import aiohttp

from tools.arguments import (
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from tools.bench.errors import SetupError
from tools.bench.provision import prepare_models
from tools.simulate.cluster import SimCluster, StartError
from tools.simulate.load import drive
from tools.simulate.report import write_report
from tools.simulate.results import Result, to_result, write_json
from tools.simulate.spec import SimSpec, bool_list, policy_list, sim_spec


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Register the simulate flags."""
    add = parser.add_argument
    add("--ml-nodes", type=positive_int, default=2, help="ML nodes (ml-1..ml-N; default 2)")
    add("--data-nodes", type=non_negative_int, default=2, help="data nodes (default 2)")
    add(
        "--latency-ms", type=non_negative_float, default=20.0, help="upstream latency of every node"
    )
    add(
        "--skew",
        type=positive_float,
        default=1.0,
        help="the last node's upstream is this many times slower than the first's (linear)",
    )
    add("--failure-rate", type=fraction, default=0.0, help="share of upstream calls failing")
    add(
        "--node-latency",
        action="append",
        default=[],
        metavar="NAME=MS",
        help="one node's upstream latency (repeatable)",
    )
    add(
        "--node-failure-rate",
        action="append",
        default=[],
        metavar="NAME=RATE",
        help="one node's upstream failure rate, 0 to 1 (repeatable)",
    )
    add(
        "--only-run-on-ml-node",
        type=bool_list,
        default=(True, False),
        help="values to run, e.g. true,false (default both)",
    )
    add(
        "--policy",
        type=policy_list,
        default=("least_load", "round_robin"),
        help="task_dispatch_policy values to run (default both)",
    )
    add("--phase-seconds", type=positive_float, default=10.0, help="load per scenario (default 10)")
    add("--concurrency", type=positive_int, default=16, help="predicts in flight (default 16)")
    add("--kill-node", default=None, metavar="NAME", help="SIGKILL this node during the run")
    add(
        "--kill-at",
        type=non_negative_float,
        default=None,
        metavar="SECONDS",
        help="when to kill it, in seconds since the load started",
    )
    add(
        "--heartbeat",
        type=positive_float,
        default=0.5,
        help="node heartbeat interval; a node is dead after 3 missed (default 0.5 s)",
    )
    add("--seed", type=int, default=0, help="seed of the upstream failure injection")
    add("--output", type=Path, default=Path("simulate-report.html"), help="the HTML report")
    add("--workdir", type=Path, default=None, help="keep logs and data here (default: temp)")


def simulate(spec: SimSpec, workdir: Path) -> Result:
    """Start the cluster, set up one model, run the load, stop everything; the result."""
    cluster = SimCluster(workdir, spec.nodes, spec.heartbeat_s, spec.seed)
    try:
        cluster.start()
        provisioned = asyncio.run(prepare_models(cluster.api, f"http://{cluster.upstream}"))
        recording = asyncio.run(drive(cluster, spec, provisioned.model_ids[0]))
    finally:
        cluster.stop()
    return to_result(spec, recording)


def run(spec: SimSpec, output: Path, workdir: Path | None) -> Result:
    """Simulate and write the report and, beside it, the JSON."""
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        result = simulate(spec, workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="modelgate-sim-") as tmp:
            result = simulate(spec, Path(tmp))
    output.parent.mkdir(parents=True, exist_ok=True)
    json_path = output.with_suffix(".json")
    write_json(result, json_path)
    write_report(result, output, json_path.name)
    return result


def main(args: argparse.Namespace) -> int:
    """Run the simulation; 0 once the report is written, 1 if the cluster could not start."""
    try:
        spec = sim_spec(args)
    except ValueError as error:
        print(f"simulate: {error}", file=sys.stderr)
        return 2
    try:
        result = run(spec, args.output, args.workdir)
    except (StartError, SetupError, RuntimeError, aiohttp.ClientError) as error:
        print(f"simulate: {error}", file=sys.stderr)
        return 1
    for phase in result["summary"]["phases"]:
        print(f"{phase['label']}: {phase['by_node']} errors={phase['errors']}")
    print(f"report: {args.output} (data: {args.output.with_suffix('.json')})")
    return 0
