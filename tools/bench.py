"""The `modelgate bench` sub-command: predict load via the gateway versus straight to the mock."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import aiohttp
import psutil

from tools.arguments import non_negative_float, positive_float, positive_int

JsonObject = dict[str, Any]

DEFAULT_API = "http://127.0.0.1:9200"
UPSTREAM_MODEL = "gpt-3.5-turbo"
UPSTREAM_KEY = "bench-key"
TRUSTED_ENDPOINTS = r"^http://127\.0\.0\.1:.*$"
PERCENTILES = (50.0, 95.0, 99.0)
MAX_ERROR_SAMPLES = 5
ERROR_TEXT_LIMIT = 200
MIB = 1024 * 1024
# A hung request must end eventually; it then counts as an error (and may stretch the run).
REQUEST_TIMEOUT_S = 30.0
SETUP_TIMEOUT_S = 30.0
DEPLOY_TIMEOUT_S = 30.0
DEPLOY_POLL_S = 0.2
# Register is refused until a worker announced itself, which lags a fresh stack's API a bit.
NODE_WAIT_S = 30.0
NODE_POLL_S = 0.5
NO_NODE_MESSAGE = "no eligible node"
PORT_FILE_TIMEOUT_S = 20.0
STACK_READY_TIMEOUT_S = 90.0
STACK_STOP_GRACE_S = 15.0
RSS_SAMPLE_S = 1.0
TTY_PROGRESS_S = 0.25
LOG_PROGRESS_S = 5.0
# Children run `python -m tools.cli`, which resolves from the project root.
PROJECT_ROOT = Path(__file__).resolve().parents[1]

ROW_FORMAT = "{:<8} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8}"
HEADER = ("run", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors")


class SetupError(Exception):
    """A set-up step failed; the message names the call and what came back."""


# --- command line -----------------------------------------------------------------------------


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


# --- statistics -------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of values sorted ascending; 0.0 when there are none."""
    if not 0.0 <= pct <= 100.0:
        raise ValueError(f"percentile out of range: {pct}")
    if not sorted_values:
        return 0.0
    # The epsilon stops float noise (0.07 * 100 == 7.000000000000001) from bumping the rank.
    rank = math.ceil(pct * len(sorted_values) / 100.0 - 1e-9)
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


@dataclass(frozen=True)
class RunStats:
    """Summary of one measured run; latencies cover successful requests only."""

    requests: int
    errors: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    error_samples: tuple[str, ...] = ()

    @property
    def succeeded(self) -> int:
        return self.requests - self.errors

    def to_json(self) -> JsonObject:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "rps": round(self.rps, 3),
            "p50_ms": round(self.p50_ms, 3),
            "p95_ms": round(self.p95_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "max_ms": round(self.max_ms, 3),
            "error_samples": list(self.error_samples),
        }


def summarize(
    latencies_s: Sequence[float],
    errors: int,
    elapsed_s: float,
    error_samples: Sequence[str] = (),
) -> RunStats:
    """Summarize a run; rps counts successful requests only so fast failures cannot inflate it."""
    ordered = sorted(latencies_s)
    p50, p95, p99 = (percentile(ordered, pct) * 1000.0 for pct in PERCENTILES)
    return RunStats(
        requests=len(ordered) + errors,
        errors=errors,
        rps=len(ordered) / elapsed_s if elapsed_s > 0 else 0.0,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        max_ms=ordered[-1] * 1000.0 if ordered else 0.0,
        error_samples=tuple(error_samples),
    )


@dataclass
class Recorder:
    """Outcomes of one load phase, shared by all workers of that phase."""

    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.latencies_s) + self.errors

    def succeeded(self, seconds: float) -> None:
        self.latencies_s.append(seconds)

    def failed(self, message: str) -> None:
        self.errors += 1
        # A few distinct messages are enough to diagnose and stay bounded under an error storm.
        if len(self.error_samples) < MAX_ERROR_SAMPLES and message not in self.error_samples:
            self.error_samples.append(message)

    def summary(self, elapsed_s: float) -> RunStats:
        return summarize(self.latencies_s, self.errors, elapsed_s, self.error_samples)


# --- load generation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The one request a load run sends over and over."""

    name: str
    url: str
    body: bytes
    headers: dict[str, str]
    # Top-level key a successful JSON answer must carry; None accepts any JSON object.
    required_key: str | None = None


@dataclass(frozen=True)
class LoadShape:
    """How hard and how long to drive a target."""

    concurrency: int
    duration_s: float
    warmup_s: float


def _chat_messages() -> list[dict[str, str]]:
    return [{"role": "user", "content": "Hello!"}]


def api_target(api: str, model_id: str) -> Target:
    """Predict through the gateway."""
    body = {"parameters": {"messages": _chat_messages()}}
    return Target(
        name="api",
        url=f"{api}/_plugins/_ml/models/{model_id}/_predict",
        # Serialised once so the client spends no time per request re-encoding it.
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        required_key="inference_results",
    )


def direct_target(upstream: str) -> Target:
    """The same chat completion sent straight to the mock, the baseline."""
    body = {"model": UPSTREAM_MODEL, "messages": _chat_messages()}
    return Target(
        name="direct",
        url=f"{upstream}/v1/chat/completions",
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {UPSTREAM_KEY}"},
    )


def _clip(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = " ".join(text.split())
    return text if len(text) <= ERROR_TEXT_LIMIT else text[:ERROR_TEXT_LIMIT] + "..."


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {_clip(text)}" if text else type(exc).__name__


async def send_once(session: aiohttp.ClientSession, target: Target) -> str | None:
    """Send one request; None when it succeeded, else a short description of the failure."""
    async with session.post(target.url, data=target.body, headers=target.headers) as resp:
        raw = await resp.read()
    if resp.status != 200:
        return f"HTTP {resp.status}: {_clip(raw)}"
    try:
        payload = json.loads(raw)
    except ValueError:
        return f"HTTP 200 with a non-JSON body: {_clip(raw)}"
    if not isinstance(payload, dict):
        return f"HTTP 200 with a non-object body: {_clip(raw)}"
    if target.required_key is not None and target.required_key not in payload:
        return f"HTTP 200 without {target.required_key!r}: {_clip(raw)}"
    return None


async def _worker(
    session: aiohttp.ClientSession, target: Target, deadline: float, recorder: Recorder
) -> None:
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            failure = await send_once(session, target)
        except Exception as exc:  # every failure mode is a data point, never a crash
            failure = _describe(exc)
        if failure is None:
            recorder.succeeded(time.perf_counter() - started)
        else:
            recorder.failed(failure)


async def _run_phase(
    session: aiohttp.ClientSession,
    target: Target,
    shape: LoadShape,
    seconds: float,
    label: str,
    reporter: ProgressReporter | None,
) -> tuple[Recorder, float]:
    recorder = Recorder()
    started = time.perf_counter()
    done = asyncio.Event()
    watch = reporter.watch(label, seconds, recorder, started, done) if reporter else None
    watcher = asyncio.create_task(watch) if watch else None
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(shape.concurrency):
                group.create_task(_worker(session, target, started + seconds, recorder))
        # Requests still in flight at the deadline are counted, so the window includes them.
        elapsed = time.perf_counter() - started
    finally:
        done.set()
        if watcher is not None:
            await watcher
    return recorder, elapsed


async def run_load(
    target: Target, shape: LoadShape, reporter: ProgressReporter | None = None
) -> RunStats:
    """Warm up unrecorded, then drive target with shape.concurrency workers for duration_s."""
    connector = aiohttp.TCPConnector(limit=shape.concurrency, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    jar = aiohttp.DummyCookieJar()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=jar) as s:
        if shape.warmup_s > 0:
            label = f"{target.name} warmup"
            await _run_phase(s, target, shape, shape.warmup_s, label, reporter)
        recorder, elapsed = await _run_phase(
            s, target, shape, shape.duration_s, target.name, reporter
        )
    return recorder.summary(elapsed)


# --- progress ---------------------------------------------------------------------------------


def format_progress(
    label: str, elapsed_s: float, total_s: float, requests: int, rate: float, errors: int
) -> str:
    """One progress line: elapsed/total seconds, requests so far, current req/s, errors."""
    return (
        f"{label}: {elapsed_s:5.1f}/{total_s:.1f}s  {requests} requests  "
        f"{rate:.1f} req/s  {errors} errors"
    )


@dataclass
class ProgressReporter:
    """Writes the progress of each load phase: live with \\r on a TTY, else a line per interval."""

    stream: TextIO
    interactive: bool
    interval_s: float
    _width: int = 0

    @classmethod
    def for_stderr(cls, no_progress: bool) -> ProgressReporter:
        interactive = not no_progress and sys.stderr.isatty()
        return cls(sys.stderr, interactive, TTY_PROGRESS_S if interactive else LOG_PROGRESS_S)

    async def watch(
        self, label: str, total_s: float, recorder: Recorder, started: float, done: asyncio.Event
    ) -> None:
        """Report until done is set, then once more with the final numbers."""
        last_count, last_time = 0, started
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self.interval_s)
            now = time.perf_counter()
            rate = (recorder.count - last_count) / max(now - last_time, 1e-9)
            last_count, last_time = recorder.count, now
            line = format_progress(label, now - started, total_s, last_count, rate, recorder.errors)
            self._emit(line)
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()

    def _emit(self, line: str) -> None:
        if self.interactive:
            # Pad to the widest line so far so a shorter line fully covers the previous one.
            self._width = max(self._width, len(line))
            self.stream.write("\r" + line.ljust(self._width))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


# --- set-up over the ML Commons API -----------------------------------------------------------


def cluster_settings_body() -> JsonObject:
    """Let connectors reach the loopback mock."""
    return {
        "persistent": {
            "plugins.ml_commons.trusted_connector_endpoints_regex": [TRUSTED_ENDPOINTS],
            "plugins.ml_commons.connector.private_ip_enabled": True,
        }
    }


def connector_body(endpoint: str) -> JsonObject:
    """An OpenAI chat connector aimed at endpoint (host:port)."""
    return {
        "name": "bench-openai",
        "description": "bench",
        "version": 1,
        "protocol": "http",
        "parameters": {"endpoint": endpoint, "model": UPSTREAM_MODEL},
        "credential": {"openAI_key": UPSTREAM_KEY},
        "actions": [
            {
                "action_type": "predict",
                "method": "POST",
                "url": "http://${parameters.endpoint}/v1/chat/completions",
                "headers": {"Authorization": "Bearer ${credential.openAI_key}"},
                "request_body": (
                    '{ "model": "${parameters.model}", "messages": ${parameters.messages} }'
                ),
            }
        ],
    }


def register_body(connector_id: str) -> JsonObject:
    """A remote model on connector_id, uniquely named so repeated runs do not collide."""
    return {
        "name": f"bench-model-{uuid.uuid4().hex[:12]}",
        "function_name": "remote",
        "connector_id": connector_id,
    }


def upstream_endpoint(upstream: str) -> str:
    """The host:port part of the upstream URL, as the connector's endpoint parameter wants it."""
    try:
        parts = urlsplit(upstream)
        port = parts.port
    except ValueError as exc:
        raise SetupError(f"bad --upstream URL {upstream!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise SetupError(f"--upstream must look like http://HOST:PORT, got {upstream!r}")
    return parts.netloc.rsplit("@", 1)[-1]


async def _fetch(
    session: aiohttp.ClientSession, method: str, url: str, body: JsonObject | None
) -> tuple[int, str]:
    try:
        async with session.request(method, url, json=body) as resp:
            return resp.status, (await resp.read()).decode("utf-8", "replace")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SetupError(f"{method} {url} failed: {_describe(exc)}") from exc


def _parse(call: str, status: int, text: str, require: str | None) -> JsonObject:
    if not 200 <= status < 300:
        raise SetupError(f"{call} -> HTTP {status}: {text}")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise SetupError(f"{call} -> HTTP {status} but not a JSON object: {text}")
    if require is not None and not (isinstance(payload.get(require), str) and payload[require]):
        raise SetupError(f"{call} -> HTTP {status} without {require!r}: {text}")
    return payload


async def _call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: JsonObject | None = None,
    require: str | None = None,
) -> JsonObject:
    """One set-up call: a 2xx JSON object (with a non-empty string `require`) or SetupError."""
    status, text = await _fetch(session, method, url, body)
    return _parse(f"{method} {url}", status, text, require)


def _model_state(url: str, status: int, text: str) -> Any:
    # A 404 right after registering just means the model is not visible yet.
    if status == 404:
        return None
    return _parse(f"GET {url}", status, text, None).get("model_state")


async def wait_deployed(
    session: aiohttp.ClientSession,
    api: str,
    model_id: str,
    timeout_s: float = DEPLOY_TIMEOUT_S,
    poll_s: float = DEPLOY_POLL_S,
) -> None:
    """Poll the model until DEPLOYED; SetupError on DEPLOY_FAILED or after timeout_s."""
    url = f"{api}/_plugins/_ml/models/{model_id}"
    deadline = time.monotonic() + timeout_s
    while True:
        status, text = await _fetch(session, "GET", url, None)
        state = _model_state(url, status, text)
        if state == "DEPLOYED":
            return
        if state == "DEPLOY_FAILED":
            raise SetupError(f"GET {url} -> HTTP {status}, deployment failed: {text}")
        if time.monotonic() >= deadline:
            last = f"HTTP {status}: {text}"
            raise SetupError(f"model {model_id} not DEPLOYED after {timeout_s:g}s; last {last}")
        await asyncio.sleep(poll_s)


async def _register(session: aiohttp.ClientSession, url: str, body: JsonObject) -> str:
    """Register the model, retrying while no worker node is eligible yet; its model_id."""
    deadline = time.monotonic() + NODE_WAIT_S
    while True:
        status, text = await _fetch(session, "POST", url, body)
        # Safe to repeat: a refused register has created nothing.
        waiting = status == 400 and NO_NODE_MESSAGE in text
        if not waiting or time.monotonic() >= deadline:
            model_id: str = _parse(f"POST {url}", status, text, "model_id")["model_id"]
            return model_id
        await asyncio.sleep(NODE_POLL_S)


def _setup_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SETUP_TIMEOUT_S))


async def prepare_model(api: str, upstream: str) -> str:
    """Trust the mock, create an OpenAI connector to it, register and deploy a model on it."""
    endpoint = upstream_endpoint(upstream)
    ml = f"{api}/_plugins/_ml"
    async with _setup_session() as session:
        await _call(session, "PUT", f"{api}/_cluster/settings", cluster_settings_body())
        url = f"{ml}/connectors/_create"
        created = await _call(session, "POST", url, connector_body(endpoint), "connector_id")
        body = register_body(created["connector_id"])
        model_id = await _register(session, f"{ml}/models/_register?deploy=true", body)
        await wait_deployed(session, api, model_id)
    return model_id


async def check_model(api: str, model_id: str) -> None:
    """Make sure a model given with --model-id exists and is (or becomes) deployed."""
    async with _setup_session() as session:
        await wait_deployed(session, api, model_id)


# --- child processes --------------------------------------------------------------------------


def _cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tools.cli", *args]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _number_arg(value: float) -> str:
    # "5" rather than "5.0" so an int-typed option on the other side accepts it too.
    return str(int(value)) if value.is_integer() else repr(value)


def read_port_file(path: Path) -> int | None:
    """The port in a port file ("PORT" or "HOST:PORT"), or None while missing or incomplete."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    tail = text.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() and 0 < int(tail) < 65536 else None


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def wait_for_port_file(
    proc: subprocess.Popen[bytes], path: Path, timeout_s: float = PORT_FILE_TIMEOUT_S
) -> int:
    """Wait until proc wrote a port to path and listens on it."""
    deadline = time.monotonic() + timeout_s
    previous = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SetupError(f"mock upstream exited with code {proc.returncode} before it was up")
        port = read_port_file(path)
        # Same value twice guards against a half-written file; connecting proves it is serving.
        if port is not None and port == previous and _accepts(port):
            return port
        previous = port
        time.sleep(0.05)
    raise SetupError(f"mock upstream was not up on the port in {path} within {timeout_s:g}s")


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def spawn_mock(latency_ms: float) -> Iterator[str]:
    """Run `modelgate mock-upstream` on a free port while the block runs; yield its base URL."""
    with tempfile.TemporaryDirectory(prefix="modelgate-bench-") as tmp:
        port_file = Path(tmp) / "mock.port"
        command = _cli_command("mock-upstream", "--port", "0", "--port-file", str(port_file))
        command += ["--latency-ms", _number_arg(latency_ms)]
        # Its stdout only announces the URL, which would land in the middle of the report.
        proc = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL)
        try:
            yield f"http://127.0.0.1:{wait_for_port_file(proc, port_file)}"
        finally:
            _terminate(proc)


@dataclass(frozen=True)
class SpawnedStack:
    """A running `modelgate up`: where its API listens and its top process."""

    api: str
    pid: int


def _stack_env(port: int, data_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    # Without an external Redis URL the stack starts its embedded Redis: self-contained runs.
    env.pop("MODELGATE_REDIS_URL", None)
    env["MODELGATE_PORT"] = str(port)
    env["MODELGATE_DATA_DIR"] = data_dir
    return env


def _http_ok(url: str) -> bool:
    # No proxies: a proxy from the environment must not answer for a loopback address.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (OSError, http.client.HTTPException):
        return False


def _log_tail(log: Path, lines: int = 20) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_for_api(proc: subprocess.Popen[bytes], api: str, log: Path) -> None:
    deadline = time.monotonic() + STACK_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            problem = f"`modelgate up` exited with code {proc.returncode} before serving"
            raise SetupError(f"{problem}; last output:\n{_log_tail(log)}")
        if _http_ok(f"{api}/"):
            return
        time.sleep(0.25)
    problem = f"GET {api}/ did not answer 200 within {STACK_READY_TIMEOUT_S:g}s"
    raise SetupError(f"{problem}; last output of `modelgate up`:\n{_log_tail(log)}")


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT the stack's process group for a clean stop; SIGKILL it if that takes too long."""
    _signal_group(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=STACK_STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def spawn_stack() -> Iterator[SpawnedStack]:
    """Run `modelgate up` in its own process group on a free port and a throw-away data dir."""
    port = _free_port()
    api = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="modelgate-bench-", ignore_cleanup_errors=True) as tmp:
        data_dir, log = Path(tmp) / "data", Path(tmp) / "stack.log"
        data_dir.mkdir()
        # The stack's logs go to a file: on the terminal they would garble the progress line.
        with log.open("wb") as sink:
            # Own process group: a terminal Ctrl-C reaches only bench, which then stops the stack.
            proc = subprocess.Popen(
                _cli_command("up"),
                env=_stack_env(port, str(data_dir)),
                cwd=PROJECT_ROOT,
                process_group=0,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_for_api(proc, api, log)
            yield SpawnedStack(api, proc.pid)
        finally:
            _stop_group(proc)


# --- memory -----------------------------------------------------------------------------------


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process plus all its descendants in MiB; 0.0 if it is gone."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        # A child may exit between listing and reading; skip it rather than lose the sample.
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += int(proc.memory_info().rss)
    return total / MIB


async def _sample_rss(pid: int, samples: list[float]) -> None:
    while True:
        # In a thread: walking /proc must not stall the event loop that times requests.
        samples.append(await asyncio.to_thread(tree_rss_mb, pid))
        await asyncio.sleep(RSS_SAMPLE_S)


async def with_peak_rss(run: Awaitable[RunStats], pid: int | None) -> tuple[RunStats, float | None]:
    """Await run while sampling pid's tree RSS every second; return its stats and the peak."""
    if pid is None:
        return await run, None
    samples: list[float] = []
    sampler = asyncio.create_task(_sample_rss(pid, samples))
    try:
        stats = await run
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    return stats, max(samples, default=None)


# --- result -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchConfig:
    """What was run, as recorded in the result file."""

    shape: LoadShape
    api: str
    upstream: str
    latency_ms: float


@dataclass(frozen=True)
class BenchResult:
    """Both runs plus memory figures of a spawned stack."""

    config: BenchConfig
    api: RunStats
    direct: RunStats
    idle_rss_mb: float | None = None
    peak_rss_mb: float | None = None
    timestamp: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def ratio_rps(self) -> float | None:
        """api rps / direct rps; None when the baseline had no successful request."""
        return self.api.rps / self.direct.rps if self.direct.rps > 0 else None

    @property
    def added_p50_ms(self) -> float | None:
        """api p50 - direct p50; None unless both runs had successful requests."""
        if self.api.succeeded == 0 or self.direct.succeeded == 0:
            return None
        return self.api.p50_ms - self.direct.p50_ms


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def result_to_json(result: BenchResult) -> JsonObject:
    """The result file's content."""
    config, shape = result.config, result.config.shape
    return {
        "config": {
            "concurrency": shape.concurrency,
            "duration": shape.duration_s,
            "warmup": shape.warmup_s,
            "api": config.api,
            "upstream": config.upstream,
            "latency_ms": config.latency_ms,
        },
        "api": result.api.to_json(),
        "direct": result.direct.to_json(),
        "ratio_rps": _rounded(result.ratio_rps, 4),
        "added_p50_ms": _rounded(result.added_p50_ms),
        "idle_rss_mb": _rounded(result.idle_rss_mb, 1),
        "peak_rss_mb": _rounded(result.peak_rss_mb, 1),
        "timestamp": result.timestamp,
    }


def _row(name: str, stats: RunStats) -> str:
    latencies = (stats.p50_ms, stats.p95_ms, stats.p99_ms, stats.max_ms)
    cells = [f"{ms:.2f}" for ms in latencies]
    return ROW_FORMAT.format(name, stats.requests, f"{stats.rps:.1f}", *cells, stats.errors)


def _error_lines(name: str, stats: RunStats) -> list[str]:
    if not stats.error_samples:
        return []
    return [f"{name} error samples:", *(f"  {sample}" for sample in stats.error_samples)]


def format_report(result: BenchResult) -> str:
    """The human-readable summary printed at the end."""
    added, ratio = result.added_p50_ms, result.ratio_rps
    api_p50, direct_p50 = result.api.p50_ms, result.direct.p50_ms
    lines = [ROW_FORMAT.format(*HEADER), _row("api", result.api), _row("direct", result.direct), ""]
    lines.append(
        f"added latency p50 = {added:.2f} ms (api {api_p50:.2f} - direct {direct_p50:.2f})"
        if added is not None
        else "added latency p50 = n/a (a run had no successful request)"
    )
    ratio_text = f"{ratio:.3f}" if ratio is not None else "n/a"
    lines.append(f"throughput ratio api/direct = {ratio_text}")
    if result.idle_rss_mb is not None:
        lines.append(f"stack RSS idle = {result.idle_rss_mb:.1f} MB")
    if result.peak_rss_mb is not None:
        lines.append(f"stack RSS peak during api run = {result.peak_rss_mb:.1f} MB")
    lines += _error_lines("api", result.api) + _error_lines("direct", result.direct)
    return "\n".join(lines)


def _write_result(path: Path, result: BenchResult) -> int:
    try:
        path.write_text(json.dumps(result_to_json(result), indent=2) + "\n")
    except OSError as exc:
        print(f"bench: cannot write {path}: {exc}", file=sys.stderr)
        return 1
    print(f"result written to {path}")
    return 0


# --- orchestration ----------------------------------------------------------------------------


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
    return _write_result(Path(args.output), result)
