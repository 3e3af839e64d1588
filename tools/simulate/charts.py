"""The report's charts, drawn with matplotlib's SVG backend (no pyplot: no global state).

Colours follow the node's role everywhere: ML nodes in blues, data nodes in oranges, so the
routing reads from the colours alone. Phases are shaded and named along the top; the kill and
the failover moment are red vertical lines.
"""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, to_hex
from matplotlib.figure import Figure

from tools.simulate.results import Result

ROLE_MAPS = {"ml": "Blues", "data": "Oranges"}
ROLE_NAMES = {"ml": "ML node", "data": "data node"}
ROLE_COLOURS = {"ml": "#2171b5", "data": "#e6550d"}
SHARED_COLOURS = {"ml": "#6a51a3", "ml_or_data": "#31a354"}
KILL_COLOUR = "#cb181d"
WIDTH_IN, HEIGHT_IN = 11.0, 4.2


def node_colours(result: Result) -> dict[str, str]:
    """One shade of its role's colour per node, darker for later nodes."""
    colours: dict[str, str] = {}
    for role, name in ROLE_MAPS.items():
        names = [n["name"] for n in result["nodes"] if n["role"] == role]
        cmap: Colormap = colormaps[name]
        for i, node in enumerate(names):
            colours[node] = to_hex(cmap(0.45 + 0.45 * (i / max(len(names) - 1, 1))))
    return colours


def _svg(figure: Figure) -> str:
    out = io.StringIO()
    figure.savefig(out, format="svg", bbox_inches="tight")
    text = out.getvalue()
    return text[text.index("<svg") :]  # inline: no XML prolog or doctype


def _bucket_s(result: Result) -> float:
    end = max((p["end"] for p in result["phases"]), default=1.0)
    return max(0.5, round(end / 80, 1))


def _mark_time(ax: Axes, result: Result) -> None:
    """Shade and name the phases; draw the kill and the failover moment."""
    for phase in result["phases"]:
        if phase["index"] % 2:
            ax.axvspan(phase["start"], phase["end"], color="#000000", alpha=0.05, lw=0)
        middle = (phase["start"] + phase["end"]) / 2
        ax.text(
            middle,
            1.01,
            phase["label"],
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    kill = result["kill"]
    if kill:
        ax.axvline(kill["at"], color=KILL_COLOUR, ls="--", lw=1.5, label=f"{kill['node']} killed")
        if kill["failover_at"] is not None:
            ax.axvline(
                kill["failover_at"], color=KILL_COLOUR, lw=2, label="failover: cluster sees it dead"
            )
    ax.set_xlabel("seconds since the load started")
    ax.set_xlim(0, max((p["end"] for p in result["phases"]), default=1.0))


def _shares(result: Result, key: str, groups: list[str]) -> tuple[list[float], list[list[float]]]:
    """Per time bucket: the share (%) of successful predicts served by each group."""
    width = _bucket_s(result)
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in result["predicts"]:
        if p["status"] == 200:
            counts[int(p["t"] // width)][p[key]] += 1
    buckets = sorted(counts)
    times = [(b + 0.5) * width for b in buckets]
    series = []
    for group in groups:
        series.append([100 * counts[b][group] / max(sum(counts[b].values()), 1) for b in buckets])
    return times, series


def share_by_node(result: Result) -> str:
    """Stacked share of predicts per node over time."""
    colours = node_colours(result)
    names = [n["name"] for n in result["nodes"]]
    times, series = _shares(result, "node", names)
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN))
    ax = figure.add_subplot()
    labels = [f"{n['name']} ({ROLE_NAMES[n['role']]})" for n in result["nodes"]]
    ax.stackplot(times, series, labels=labels, colors=[colours[n] for n in names], alpha=0.9)
    _mark_time(ax, result)
    ax.set_ylim(0, 100)
    ax.set_ylabel("share of predicts served (%)")
    ax.set_title("Which node served the predicts (blues: ML nodes, oranges: data nodes)", pad=18)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return _svg(figure)


def share_by_role(result: Result) -> str:
    """Stacked share of predicts per role over time."""
    roles = ["ml", "data"]
    times, series = _shares(result, "role", roles)
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN * 0.8))
    ax = figure.add_subplot()
    labels = ["ML nodes", "data nodes"]
    ax.stackplot(times, series, labels=labels, colors=[ROLE_COLOURS[r] for r in roles])
    _mark_time(ax, result)
    ax.set_ylim(0, 100)
    ax.set_ylabel("share of predicts served (%)")
    ax.set_title("Predicts by node role", pad=18)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return _svg(figure)


def latency_by_node(result: Result) -> str:
    """p50 / p95 / p99 per node, grouped bars in the node's colour."""
    colours = node_colours(result)
    latency: dict[str, dict[str, float | None]] = result["summary"]["latency_ms"]
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN))
    ax = figure.add_subplot()
    names = [n["name"] for n in result["nodes"]]
    for offset, (quantile, alpha) in enumerate((("p50", 1.0), ("p95", 0.65), ("p99", 0.35))):
        values = [latency[name][quantile] or 0.0 for name in names]
        xs = [i + (offset - 1) * 0.27 for i in range(len(names))]
        ax.bar(
            xs,
            values,
            width=0.26,
            color=[colours[n] for n in names],
            alpha=alpha,
            edgecolor="#333333",
            linewidth=0.5,
            label=quantile,
        )
    ax.set_xticks(range(len(names)), [_node_label(result, name) for name in names], fontsize=8)
    ax.set_ylabel("latency seen by the client (ms)")
    ax.set_xlabel("node that served the predict (bars: p50, p95, p99 left to right)")
    ax.set_title("Latency percentiles per node, all phases (blues: ML, oranges: data)")
    ax.legend(title="percentile (opacity)", fontsize=8)
    return _svg(figure)


def _node_label(result: Result, name: str) -> str:
    node = next(n for n in result["nodes"] if n["name"] == name)
    failing = f", {node['failure_rate']:.0%} fail" if node["failure_rate"] else ""
    return f"{name}\n({node['latency_ms']:.0f} ms upstream{failing})"


def queue_depth(result: Result) -> str:
    """Requests waiting on each predict list over time."""
    colours = node_colours(result)
    samples: list[dict[str, Any]] = result["queue_depths"]
    times = [s["t"] for s in samples]
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN))
    ax = figure.add_subplot()
    for queue, colour in SHARED_COLOURS.items():
        label = f"shared list '{queue}' (least_load)"
        ax.plot(times, [s["waiting"][queue] for s in samples], color=colour, lw=2, label=label)
    for node in result["nodes"]:
        key = f"own:{node['name']}"
        values = [s["waiting"].get(key, 0) for s in samples]
        ax.plot(
            times,
            values,
            color=colours[node["name"]],
            lw=1.2,
            ls="-.",
            label=f"{node['name']}'s own list (round_robin)",
        )
    _mark_time(ax, result)
    ax.set_ylabel("requests waiting in the list")
    ax.set_title("Queue depth over time", pad=18)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return _svg(figure)
