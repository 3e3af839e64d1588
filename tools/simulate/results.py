"""The run's raw data as JSON, and the summaries the report and the tests read from it."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tools.simulate.load import Recording
from tools.simulate.spec import SimSpec

Result = dict[str, Any]


def to_result(spec: SimSpec, rec: Recording) -> Result:
    """Everything the report draws, in one JSON-able object."""
    nodes = [{**asdict(node), "id": rec.node_ids.get(node.name, "")} for node in spec.nodes]
    result: Result = {
        "concurrency": spec.concurrency,
        "phase_seconds": spec.phase_s,
        "heartbeat_seconds": spec.heartbeat_s,
        "nodes": nodes,
        "phases": rec.phases,
        "kill": rec.kill,
        "predicts": rec.predicts,
        "queue_depths": rec.depths,
    }
    result["summary"] = summary(result)
    return result


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def served_by_phase(result: Result) -> list[dict[str, Any]]:
    """Per phase: successful predicts per node and per role, errors, predicts/s."""
    phases = []
    for phase in result["phases"]:
        rows = [p for p in result["predicts"] if p["phase"] == phase["index"]]
        ok = [p for p in rows if p["status"] == 200]
        seconds = max(phase["end"] - phase["start"], 1e-9)
        phases.append(
            {
                "index": phase["index"],
                "label": phase["label"],
                "by_node": dict(Counter(p["node"] for p in ok)),
                "by_role": dict(Counter(p["role"] for p in ok)),
                "errors": len(rows) - len(ok),
                "predicts_per_s": round(len(ok) / seconds, 1),
            }
        )
    return phases


def latency_by_node(result: Result) -> dict[str, dict[str, float | None]]:
    """p50, p95, p99 (ms) of each node's successful predicts, as the client saw them."""
    by_node: dict[str, list[float]] = defaultdict(list)
    for p in result["predicts"]:
        if p["status"] == 200:
            by_node[p["node"]].append(p["latency_ms"])
    return {
        node["name"]: {
            f"p{int(q * 100)}": percentile(by_node[node["name"]], q) for q in (0.5, 0.95, 0.99)
        }
        for node in result["nodes"]
    }


def summary(result: Result) -> dict[str, Any]:
    return {"phases": served_by_phase(result), "latency_ms": latency_by_node(result)}


def write_json(result: Result, path: Path) -> None:
    path.write_text(json.dumps(result, indent=1) + "\n")
