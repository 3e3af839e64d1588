"""Unit tests for tools.bench: statistics, report shape, set-up calls and the load loop."""

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
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tools import processes
from tools.bench import provision
from tools.bench.cli import configure_parser, main
from tools.bench.errors import SetupError
from tools.bench.load import LoadShape, run_load
from tools.bench.memory import tree_rss_mb, with_peak_rss
from tools.bench.mock import read_port_file, wait_for_port_file
from tools.bench.progress import ProgressReporter, format_progress
from tools.bench.provision import (
    cluster_settings_body,
    connector_body,
    prepare_model,
    register_body,
    setup_session,
    upstream_endpoint,
    wait_deployed,
)
from tools.bench.result import BenchConfig, BenchResult, format_report, result_to_json
from tools.bench.stats import MAX_ERROR_SAMPLES, Recorder, RunStats, percentile, summarize
from tools.bench.targets import Target, api_target, direct_target
from tools.embedded_redis import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ML = "/_plugins/_ml"


def _parse_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    return parser.parse_args(list(argv))


def _stats(**overrides: Any) -> RunStats:
    values: dict[str, Any] = dict(
        requests=100, errors=0, rps=50.0, p50_ms=4.0, p95_ms=8.0, p99_ms=9.0, max_ms=12.0
    )
    values.update(overrides)
    return RunStats(**values)


def _result(api: RunStats, direct: RunStats, **extra: Any) -> BenchResult:
    config = BenchConfig(
        LoadShape(8, 5.0, 1.0), "http://127.0.0.1:9200", "http://127.0.0.1:7000", 2.5
    )
    return BenchResult(config, api, direct, **extra)


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


# --- report -----------------------------------------------------------------------------------


def test_result_json_shape() -> None:
    api = _stats(rps=25.0, p50_ms=7.0, error_samples=("HTTP 502: bad gateway",), errors=1)
    result = _result(api, _stats(), idle_rss_mb=210.04, peak_rss_mb=250.0)
    data = json.loads(json.dumps(result_to_json(result)))
    assert set(data) == {
        "config",
        "api",
        "direct",
        "ratio_rps",
        "added_p50_ms",
        "idle_rss_mb",
        "peak_rss_mb",
        "timestamp",
    }
    assert data["config"] == {
        "concurrency": 8,
        "duration": 5.0,
        "warmup": 1.0,
        "api": "http://127.0.0.1:9200",
        "upstream": "http://127.0.0.1:7000",
        "latency_ms": 2.5,
    }
    run_keys = {"requests", "errors", "rps", "p50_ms", "p95_ms", "p99_ms", "max_ms"}
    assert set(data["direct"]) == run_keys | {"error_samples"}
    assert data["api"]["error_samples"] == ["HTTP 502: bad gateway"]
    assert data["ratio_rps"] == 0.5
    assert data["added_p50_ms"] == 3.0
    assert data["idle_rss_mb"] == 210.0
    assert data["peak_rss_mb"] == 250.0
    assert "T" in data["timestamp"] and data["timestamp"].endswith("+00:00")


def test_result_json_without_stack_or_baseline() -> None:
    empty = summarize([], errors=5, elapsed_s=1.0)
    data = result_to_json(_result(_stats(), empty))
    assert data["ratio_rps"] is None
    assert data["added_p50_ms"] is None
    assert data["idle_rss_mb"] is None and data["peak_rss_mb"] is None


def test_format_report() -> None:
    api = _stats(rps=25.0, p50_ms=7.0, errors=2, error_samples=("HTTP 502: bad gateway",))
    report = format_report(_result(api, _stats(), idle_rss_mb=210.0, peak_rss_mb=250.0))
    lines = report.splitlines()
    assert lines[0].split() == "run requests req/s p50 ms p95 ms p99 ms max ms errors".split()
    assert lines[1].split() == ["api", "100", "25.0", "7.00", "8.00", "9.00", "12.00", "2"]
    assert lines[2].split() == ["direct", "100", "50.0", "4.00", "8.00", "9.00", "12.00", "0"]
    assert "added latency p50 = 3.00 ms (api 7.00 - direct 4.00)" in lines
    assert "throughput ratio api/direct = 0.500" in lines
    assert "stack RSS idle = 210.0 MB" in lines
    assert "stack RSS peak during api run = 250.0 MB" in lines
    assert "  HTTP 502: bad gateway" in lines


def test_format_report_degenerate() -> None:
    report = format_report(_result(_stats(), summarize([], 0, 1.0)))
    assert "throughput ratio api/direct = n/a" in report
    assert "added latency p50 = n/a" in report
    assert "RSS" not in report


def test_format_progress() -> None:
    line = format_progress("api", 1.25, 20.0, 1234, 987.65, 3)
    assert line == "api:   1.2/20.0s  1234 requests  987.6 req/s  3 errors"


# --- command line and request bodies ----------------------------------------------------------


def test_parser_defaults() -> None:
    args = _parse_args()
    assert args.api == "http://127.0.0.1:9200"
    assert (args.concurrency, args.duration, args.warmup) == (32, 20.0, 2.0)
    assert args.upstream is None and args.model_id is None
    assert args.latency_ms == 0.0
    assert args.spawn_stack is False and args.no_progress is False
    assert args.output == "bench-result.json"


@pytest.mark.parametrize(
    "argv",
    [["--concurrency", "0"], ["--duration", "0"], ["--warmup", "-1"], ["--duration", "nan"]],
)
def test_parser_rejects_bad_numbers(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse_args(*argv)
    assert "error" in capsys.readouterr().err


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
    api = api_target("http://h:1", "m1")
    assert api.url == "http://h:1/_plugins/_ml/models/m1/_predict"
    assert json.loads(api.body) == {
        "parameters": {"messages": [{"role": "user", "content": "Hello!"}]}
    }
    direct = direct_target("http://h:2")
    assert direct.url == "http://h:2/v1/chat/completions"
    assert direct.headers["Authorization"] == "Bearer bench-key"
    assert json.loads(direct.body)["model"] == "gpt-3.5-turbo"


def test_upstream_endpoint() -> None:
    assert upstream_endpoint("http://127.0.0.1:7000/") == "127.0.0.1:7000"
    for bad in ("http://127.0.0.1", "127.0.0.1:7000", "http://127.0.0.1:99999"):
        with pytest.raises(SetupError):
            upstream_endpoint(bad)


# --- load loop against a real local server ----------------------------------------------------


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
            target = Target("t", str(server.make_url("/predict")), b"{}", {}, "inference_results")
            return await run_load(target, LoadShape(4, duration, warmup), reporter)

    return asyncio.run(scenario())


def test_load_loop_success_with_live_progress() -> None:
    stream = io.StringIO()
    reporter = ProgressReporter(stream, interactive=True, interval_s=0.05)
    stats = _load(_predict_ok, 0.3, 0.1, reporter)
    assert stats.requests > 0
    assert stats.errors == 0 and stats.error_samples == ()
    assert stats.rps > 0 and 0 < stats.p50_ms <= stats.p95_ms <= stats.p99_ms <= stats.max_ms
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
    assert stats.error_samples[0].startswith("HTTP 200 without 'inference_results'")


def test_load_loop_counts_connection_errors() -> None:
    target = Target("t", f"http://127.0.0.1:{free_port()}/x", b"", {})
    shape = LoadShape(2, 0.1, 0.0)
    stats = asyncio.run(run_load(target, shape))
    assert stats.errors == stats.requests > 0
    assert "Connect" in stats.error_samples[0]


# --- set-up against a fake gateway ------------------------------------------------------------


def _gateway(states: list[str], seen: dict[str, Any], refusals: int = 0) -> web.Application:
    """A fake ML Commons API that also plays the OpenAI mock; records what it was sent."""
    refused = [refusals]

    def recorder(key: str, answer: dict[str, Any], status: int = 200) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            seen[key] = await request.json() if request.can_read_body else None
            seen[f"{key}.query"] = dict(request.query)
            seen[f"{key}.auth"] = request.headers.get("Authorization")
            return web.json_response(answer, status=status)

        return handle

    async def get_model(request: web.Request) -> web.Response:
        state = states.pop(0) if len(states) > 1 else states[0]
        return web.json_response({"model_state": state}, status=404 if state == "404" else 200)

    async def register(request: web.Request) -> web.StreamResponse:
        if refused[0] > 0:
            refused[0] -= 1
            return web.json_response({"error": {"reason": "no eligible node found"}}, status=400)
        return await recorder("register", registered)(request)

    app = web.Application()
    app.router.add_put("/_cluster/settings", recorder("settings", {"acknowledged": True}))
    app.router.add_post(f"{ML}/connectors/_create", recorder("connector", {"connector_id": "c1"}))
    registered = {"task_id": "t1", "status": "CREATED", "model_id": "m1"}
    app.router.add_post(f"{ML}/models/_register", register)
    app.router.add_get(ML + "/models/{model_id}", get_model)
    predicted = {"inference_results": [{"output": [{"name": "response"}]}]}
    app.router.add_post(ML + "/models/{model_id}/_predict", recorder("predict", predicted))
    app.router.add_post("/v1/chat/completions", recorder("chat", {"choices": []}))
    return app


def _prepare(states: list[str], seen: dict[str, Any], refusals: int = 0) -> str:
    async def scenario() -> str:
        async with TestServer(_gateway(states, seen, refusals)) as server:
            api = str(server.make_url("")).rstrip("/")
            return await prepare_model(api, "http://127.0.0.1:7000")

    return asyncio.run(scenario())


def test_prepare_model_runs_the_setup_calls() -> None:
    seen: dict[str, Any] = {}
    assert _prepare(["404", "DEPLOYED"], seen) == "m1"
    assert seen["settings"] == cluster_settings_body()
    assert seen["connector"] == connector_body("127.0.0.1:7000")
    assert seen["register"]["connector_id"] == "c1"
    assert seen["register.query"] == {"deploy": "true"}


def test_prepare_model_waits_for_an_eligible_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provision, "NODE_POLL_S", 0.01)
    seen: dict[str, Any] = {}
    assert _prepare(["DEPLOYED"], seen, refusals=3) == "m1"
    assert seen["register"]["connector_id"] == "c1"


def test_prepare_model_gives_up_waiting_for_a_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provision, "NODE_POLL_S", 0.01)
    monkeypatch.setattr(provision, "NODE_WAIT_S", 0.05)
    with pytest.raises(SetupError, match="HTTP 400: .*no eligible node found"):
        _prepare(["DEPLOYED"], {}, refusals=1000)


def test_prepare_model_stops_on_deploy_failed() -> None:
    with pytest.raises(SetupError, match="DEPLOY_FAILED"):
        _prepare(["DEPLOY_FAILED"], {})


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


def test_main_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, Any] = {}
    output = tmp_path / "result.json"
    with _serve_in_thread(_gateway(["DEPLOYED"], seen)) as url:
        args = _parse_args("--api", url, "--upstream", url, "--concurrency", "2")
        args.duration, args.warmup, args.output = 0.2, 0.0, str(output)
        assert main(args) == 0
    out = capsys.readouterr()
    assert "added latency p50 = " in out.out and "throughput ratio api/direct = " in out.out
    assert "api:" in out.err and "direct:" in out.err  # non-TTY progress lines
    data = json.loads(output.read_text())
    assert data["api"]["requests"] > 0 and data["api"]["errors"] == 0
    assert data["direct"]["requests"] > 0 and data["direct"]["errors"] == 0
    assert data["idle_rss_mb"] is None and data["peak_rss_mb"] is None
    assert seen["predict"] == {"parameters": {"messages": [{"role": "user", "content": "Hello!"}]}}
    assert seen["chat.auth"] == "Bearer bench-key"
    assert seen["chat"] == {
        "model": "gpt-3.5-turbo",
        "messages": seen["predict"]["parameters"]["messages"],
    }


def test_main_reports_failed_setup_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = web.Application()

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"error": "no settings for you"}, status=400)

    app.router.add_put("/_cluster/settings", refuse)
    with _serve_in_thread(app) as url:
        args = _parse_args("--api", url, "--upstream", "http://127.0.0.1:7000")
        args.output = str(tmp_path / "r.json")
        assert main(args) == 1
    err = capsys.readouterr().err
    assert "set-up failed" in err and "HTTP 400" in err and "no settings for you" in err
    assert not (tmp_path / "r.json").exists()


def test_main_unreachable_api(capsys: pytest.CaptureFixture[str]) -> None:
    api = f"http://127.0.0.1:{free_port()}"
    args = _parse_args("--api", api, "--upstream", "http://127.0.0.1:7000")
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


def test_tree_rss() -> None:
    assert tree_rss_mb(os.getpid()) > 1.0
    assert tree_rss_mb(2**31 - 1) == 0.0


def test_with_peak_rss() -> None:
    stats = _stats()
    run = asyncio.sleep(0.05, result=stats)
    assert asyncio.run(with_peak_rss(run, None)) == (stats, None)
    # Long enough for the first sample, taken in a thread, to land even on a busy machine.
    got, peak = asyncio.run(with_peak_rss(asyncio.sleep(0.5, result=stats), os.getpid()))
    assert got is stats and peak is not None and peak > 1.0
