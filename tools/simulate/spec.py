"""What a simulation runs: the nodes with their upstream behaviour, the scenarios, the kill."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from common.dispatch import LEAST_LOAD, ROUND_ROBIN


@dataclass(frozen=True)
class NodeSpec:
    """One worker node and how the upstream treats its calls."""

    name: str
    role: str  # "ml" or "data"
    latency_ms: float
    failure_rate: float


@dataclass(frozen=True)
class Scenario:
    """One phase of load: the two cluster settings that decide routing."""

    only_run_on_ml_node: bool
    policy: str

    @property
    def label(self) -> str:
        nodes = "ML nodes only" if self.only_run_on_ml_node else "ML + data nodes"
        return f"{nodes}, {self.policy}"


@dataclass(frozen=True)
class SimSpec:
    """The whole run."""

    nodes: tuple[NodeSpec, ...]
    scenarios: tuple[Scenario, ...]
    phase_s: float
    concurrency: int
    kill_node: str | None
    kill_at_s: float | None
    heartbeat_s: float
    seed: int


def _named_values(pairs: list[str], what: str) -> dict[str, float]:
    """NAME=VALUE pairs from repeated flags."""
    values: dict[str, float] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        try:
            values[name] = float(text)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise ValueError(f"{what} wants NAME=NUMBER, got {pair!r}")
    return values


def node_specs(args: argparse.Namespace) -> tuple[NodeSpec, ...]:
    """The nodes ml-1..ml-N, data-1..data-M; latency skewed from --latency-ms up to
    --skew times that over the nodes in that order, then --node-latency overrides."""
    names = [(f"ml-{i + 1}", "ml") for i in range(args.ml_nodes)]
    names += [(f"data-{i + 1}", "data") for i in range(args.data_nodes)]
    latency = _named_values(args.node_latency, "--node-latency")
    failure = _named_values(args.node_failure_rate, "--node-failure-rate")
    unknown = (set(latency) | set(failure)) - {name for name, _ in names}
    if unknown:
        raise ValueError(f"no such node: {', '.join(sorted(unknown))}")
    if any(ms < 0 for ms in latency.values()):
        raise ValueError("--node-latency must be 0 or more")
    if any(not 0 <= rate <= 1 for rate in failure.values()):
        raise ValueError("--node-failure-rate must be between 0 and 1")
    specs = []
    for index, (name, role) in enumerate(names):
        step = index / (len(names) - 1) if len(names) > 1 else 0.0
        skewed = args.latency_ms * (1 + (args.skew - 1) * step)
        specs.append(
            NodeSpec(
                name=name,
                role=role,
                latency_ms=latency.get(name, skewed),
                failure_rate=failure.get(name, args.failure_rate),
            )
        )
    return tuple(specs)


def scenarios(args: argparse.Namespace) -> tuple[Scenario, ...]:
    """Every combination asked for, only_run_on_ml_node true first."""
    return tuple(
        Scenario(only_ml, policy) for only_ml in args.only_run_on_ml_node for policy in args.policy
    )


def bool_list(text: str) -> tuple[bool, ...]:
    """ "true,false" -> (True, False)."""
    words = {"true": True, "false": False}
    try:
        return tuple(words[part.strip().lower()] for part in text.split(","))
    except KeyError:
        raise argparse.ArgumentTypeError(f"expected true, false or both, got {text!r}") from None


def policy_list(text: str) -> tuple[str, ...]:
    """ "least_load,round_robin" -> the policies, checked."""
    policies = tuple(part.strip() for part in text.split(","))
    for policy in policies:
        if policy not in (LEAST_LOAD, ROUND_ROBIN):
            raise argparse.ArgumentTypeError(f"unknown dispatch policy {policy!r}")
    return policies


def sim_spec(args: argparse.Namespace) -> SimSpec:
    """Build the run from the parsed flags; ValueError names a flag that does not fit."""
    nodes = node_specs(args)
    if args.kill_node is not None and args.kill_node not in {node.name for node in nodes}:
        raise ValueError(f"--kill-node {args.kill_node}: no such node")
    if (args.kill_node is None) != (args.kill_at is None):
        raise ValueError("--kill-node and --kill-at go together")
    return SimSpec(
        nodes=nodes,
        scenarios=scenarios(args),
        phase_s=args.phase_seconds,
        concurrency=args.concurrency,
        kill_node=args.kill_node,
        kill_at_s=args.kill_at,
        heartbeat_s=args.heartbeat,
        seed=args.seed,
    )
