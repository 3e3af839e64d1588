"""The printed report: runs side by side, memory, the previous comparable run, the targets."""

from __future__ import annotations

from tools.bench.cpu_split import format_split
from tools.bench.goals import GoalLine
from tools.bench.history import Entry, entry_figures
from tools.bench.result import BenchResult, Figures, RunRecord

ROW_FORMAT = "{:<12} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>10} {:>9}"
HEADER = (
    "run",
    "requests",
    "req/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "errors",
    "cpu ms/req",
    "cpu cores",
)
COMPARE_FORMAT = "{:<32} {:>12} {:>12} {:>9}  {}"
# A change smaller than this is within run-to-run noise on a shared 2-core machine.
NOTABLE_CHANGE = 0.05


def _row(record: RunRecord) -> str:
    stats = record.stats
    latencies = (stats.p50_ms, stats.p95_ms, stats.p99_ms, stats.max_ms)
    cells = [f"{ms:.2f}" for ms in latencies]
    cpu = (f"{stats.client_cpu_ms_per_request:.3f}", f"{stats.client_cores:.2f}")
    return ROW_FORMAT.format(
        record.label, stats.requests, f"{stats.rps:.1f}", *cells, stats.errors, *cpu
    )


def _setup_line(result: BenchResult) -> str:
    setup = result.setup
    count = len(setup.model_ids)
    rate = count / setup.register_s if setup.register_s > 0 else 0.0
    return (
        f"set-up: {count} model(s) registered and deployed in {setup.total_s:.1f} s "
        f"(register {setup.register_s:.1f} s, {rate:.1f}/s; "
        f"deploy wait {setup.deploy_wait_s:.1f} s)"
    )


def _comparison_lines(result: BenchResult) -> list[str]:
    lines = []
    for c in result.options.concurrency:
        added = result.added_ms(c)
        if added is not None:
            lines.append(
                f"added latency c={c} (api - direct): p50 {added[0]:.2f} ms, p99 {added[1]:.2f} ms"
            )
        api, direct = result.run("api", c), result.run("direct", c)
        if api is not None and direct is not None and direct.stats.rps > 0:
            ratio = api.stats.rps / direct.stats.rps
            lines.append(f"throughput ratio api/direct c={c}: {ratio:.3f}")
        models = len(result.setup.model_ids)
        if api is not None and models > 1:
            # Few predicts per model means the run mostly measures each model's first use.
            per_model = api.stats.requests / models
            lines.append(f"api c={c} sent {per_model:.1f} predicts per model ({models} models)")
    return lines


def _memory_lines(result: BenchResult) -> list[str]:
    lines = []
    if result.idle_rss_mb is not None:
        lines.append(f"stack RSS idle (after set-up) = {result.idle_rss_mb:.1f} MB")
    for record in result.runs:
        rss = record.rss
        if rss is not None:
            lines.append(
                f"stack RSS {record.label}: first {rss.first_mb:.1f}, last {rss.last_mb:.1f}, "
                f"peak {rss.peak_mb:.1f} MB; growth {rss.growth_mb:+.1f} MB, "
                f"slope {rss.slope_mb_per_min:+.2f} MB/min ({rss.samples} samples over "
                f"{rss.span_s:.0f} s)"
            )
        if record.stack_cpu_ms:
            lines.append(format_split(record.label, record.stack_cpu_ms))
    return lines


def _error_lines(record: RunRecord) -> list[str]:
    samples = record.stats.error_samples
    return [f"{record.label} error samples:", *(f"  {s}" for s in samples)] if samples else []


def format_report(result: BenchResult) -> str:
    """The runs, side by side, with added latency, throughput ratio, client CPU and memory."""
    lines = [_setup_line(result), "", ROW_FORMAT.format(*HEADER)]
    lines += [_row(record) for record in result.runs]
    lines.append(
        "cpu ms/req and cpu cores: the bench client's own CPU, taken from the same "
        f"{result.provenance.cpus} CPUs as the stack"
    )
    lines += ["", *_comparison_lines(result), *_memory_lines(result)]
    for record in result.runs:
        lines += _error_lines(record)
    return "\n".join(lines)


def _change(before: float, after: float, higher_is_better: bool) -> tuple[str, str]:
    if before == 0:
        return ("n/a", "") if after != 0 else ("0.0%", "")
    change = (after - before) / abs(before)
    better = change > 0 if higher_is_better else change < 0
    note = "" if abs(change) < NOTABLE_CHANGE else ("better" if better else "WORSE")
    return f"{100 * change:+.1f}%", note


def format_comparison(previous: Entry | None, now: Figures) -> str:
    """The new figures beside those of the previous run with the same options."""
    if previous is None:
        return "previous comparable run: none with the same options in the history"
    before = entry_figures(previous)
    lines = [
        f"previous comparable run: {previous.get('timestamp', '?')}, "
        f"commit {previous.get('commit')}",
        COMPARE_FORMAT.format("figure", "previous", "now", "change", ""),
    ]
    for name, value in now.items():
        if name in before:
            change, note = _change(before[name], value, name.endswith("req/s"))
            lines.append(
                COMPARE_FORMAT.format(name, f"{before[name]:.2f}", f"{value:.2f}", change, note)
            )
    return "\n".join(lines)


def format_goals(goals: list[GoalLine]) -> str:
    """One line per target, in columns: name, what was measured, the target, the verdict."""
    name_width = max((len(goal.name) for goal in goals), default=0)
    measured_width = max((len(goal.measured) for goal in goals), default=0)
    target_width = max((len(goal.target) for goal in goals), default=0)
    lines = ["targets:"]
    for goal in goals:
        lines.append(
            f"  {goal.name:<{name_width}}  {goal.measured:<{measured_width}}  "
            f"target {goal.target:<{target_width}}  {goal.verdict}"
        )
    return "\n".join(lines)
