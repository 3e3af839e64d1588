"""The self-contained HTML report: the charts as inline SVG, a table of the figures, and the
raw data beside it as JSON. One file, nothing fetched: it opens offline."""

from __future__ import annotations

import html
from pathlib import Path

from tools.simulate import charts
from tools.simulate.results import Result

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
figure { margin: 0; } svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.ml { color: #2171b5; font-weight: bold; } .data { color: #e6550d; font-weight: bold; }
"""

SECTIONS = (
    (
        "Who served the predicts",
        "Each band is one node's share of the predicts answered in that moment. With "
        "only_run_on_ml_node true only the blue (ML) bands appear; with false the orange (data) "
        "nodes take a share too. round_robin gives every node the same share whatever its speed; "
        "under least_load (the shared list) whichever node has a free slot takes the next "
        "request, so once nodes are busy the faster ones take more.",
        charts.share_by_node,
    ),
    ("Predicts by role", "The same, added up per role.", charts.share_by_role),
    (
        "Latency per node",
        "What the client waited for the predicts each node served: the node's upstream latency "
        "plus any wait in a list. A slow node under round_robin makes its own queue, and its "
        "requests wait behind it.",
        charts.latency_by_node,
    ),
    (
        "Queue depth",
        "Requests waiting on each predict list. least_load uses the shared lists; round_robin "
        "uses each node's own list. After a kill, the dead node's own list is moved to live "
        "nodes once the cluster sees the node dead (the failover line).",
        charts.queue_depth,
    ),
)


def _nodes_table(result: Result) -> str:
    rows = "".join(
        f"<tr><td class='{n['role']}'>{html.escape(n['name'])}</td>"
        f"<td>{html.escape(charts.ROLE_NAMES[n['role']])}</td><td>{n['latency_ms']:.1f}</td>"
        f"<td>{n['failure_rate']:.0%}</td></tr>"
        for n in result["nodes"]
    )
    head = "<tr><th>node</th><th>role</th><th>upstream latency (ms)</th><th>upstream failures</th>"
    return f"<table>{head}</tr>{rows}</table>"


def _phases_table(result: Result) -> str:
    names = [n["name"] for n in result["nodes"]]
    head = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    rows = ""
    for phase in result["summary"]["phases"]:
        cells = "".join(f"<td>{phase['by_node'].get(name, 0)}</td>" for name in names)
        rows += (
            f"<tr><td>{html.escape(phase['label'])}</td>{cells}"
            f"<td>{phase['errors']}</td><td>{phase['predicts_per_s']}</td></tr>"
        )
    header = f"<tr><th>phase</th>{head}<th>errors</th><th>predicts/s</th></tr>"
    return f"<table>{header}{rows}</table>"


def _kill_text(result: Result) -> str:
    kill = result["kill"]
    if not kill:
        return "No node was killed in this run."
    failover = kill["failover_at"]
    seen = "" if failover is None else f"; the cluster saw it dead at {failover:.1f} s"
    return f"Node {html.escape(kill['node'])} was killed at {kill['at']:.1f} s{seen}."


def render(result: Result, json_name: str) -> str:
    """The whole page."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>modelgate simulate: predict routing</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>modelgate simulate: how predicts were routed</h1>",
        f"<p>{result['concurrency']} predicts in flight, {result['phase_seconds']:g} s per "
        f"phase. {_kill_text(result)} Raw data: <code>{html.escape(json_name)}</code>.</p>",
        _nodes_table(result),
        "<h2>Predicts served per phase</h2>",
        _phases_table(result),
    ]
    for title, text, draw in SECTIONS:
        parts.append(f"<h2>{html.escape(title)}</h2><p>{html.escape(text)}</p>")
        parts.append(f"<figure class='chart'>{draw(result)}</figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result: Result, html_path: Path, json_name: str) -> None:
    html_path.write_text(render(result, json_name))
