"""The real `modelgate` command with bad settings, its --help, and a worker's quiet output."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.cluster import wait_for
from tools import processes
from tools.cli import PROJECT_ROOT, command
from tools.embedded_redis import EmbeddedRedis

SUB_COMMANDS = ("api", "worker", "up", "bench", "mock-upstream")
# Each sub-command with a bad value of another kind (tests/unit/test_settings_env.py refuses
# a bad value of every variable): every sub-command checks every variable before it starts.
BAD_CASES = [
    ("api", "MODELGATE_PORT", "abc"),
    ("worker", "MODELGATE_REDIS_URL", "http://admin:hunter2@127.0.0.1:6379/0"),
    ("up", "MODELGATE_PREDICT_TIMEOUT", "0"),
    ("bench", "MODELGATE_NODE_ROLE", "observer"),
    ("mock-upstream", "MODELGATE_HOST", "http://0.0.0.0"),
]

EVERY = {
    "MODELGATE_REDIS_URL",
    "MODELGATE_QUEUE_REDIS_URL",
    "MODELGATE_DATA_DIR",
    "MODELGATE_HOST",
    "MODELGATE_PORT",
    "MODELGATE_KEY_PREFIX",
    "MODELGATE_CLUSTER_NAME",
    "MODELGATE_PREDICT_TIMEOUT",
    "MODELGATE_HEARTBEAT_INTERVAL",
    "MODELGATE_VISIBILITY_TIMEOUT",
    "MODELGATE_RESTORE_INTERVAL",
    "MODELGATE_WORKER_CONCURRENCY",
    "MODELGATE_API_WORKERS",
    "MODELGATE_API_THREADS",
    "MODELGATE_NODE_ROLE",
    "MODELGATE_NODE_NAME",
    "MODELGATE_LOG_LEVEL",
}
SHARED = {
    "MODELGATE_REDIS_URL",
    "MODELGATE_QUEUE_REDIS_URL",
    "MODELGATE_KEY_PREFIX",
    "MODELGATE_PREDICT_TIMEOUT",
    "MODELGATE_HEARTBEAT_INTERVAL",
    "MODELGATE_VISIBILITY_TIMEOUT",
    "MODELGATE_RESTORE_INTERVAL",
}
# Every process seals or opens credentials: the master key file (by default in the data dir)
# or the keys themselves.
SHARED |= {"MODELGATE_DATA_DIR", "MODELGATE_MASTER_KEY_FILE", "MODELGATE_MASTER_KEY"}
EVERY |= SHARED
# Prometheus metrics: the API's switch; a node's switch and its metrics server.
METRICS = {"MODELGATE_METRICS"}
NODE_METRICS = METRICS | {"MODELGATE_METRICS_PORT", "MODELGATE_METRICS_HOST"}
EVERY |= NODE_METRICS
# Celery's broker when it is not the records' Redis (RabbitMQ), and its queue type.
BROKER = {"MODELGATE_BROKER_URL", "MODELGATE_BROKER_QUEUE_TYPE"}
SHARED |= BROKER
EVERY |= BROKER
# The API's authentication and TLS (and up's, which starts the API).
SECURITY = {
    "MODELGATE_SECURITY",
    "MODELGATE_SECURITY_DISABLED_ON_PUBLIC_ADDRESS_I_UNDERSTAND",
    "MODELGATE_USERS_FILE",
    "MODELGATE_TLS_CERT_FILE",
    "MODELGATE_TLS_KEY_FILE",
    "MODELGATE_AUTH_ALLOWED_TRIES",
    "MODELGATE_AUTH_TIME_WINDOW",
    "MODELGATE_AUTH_BLOCK_SECONDS",
}
EVERY |= SECURITY
# What each sub-command's --help must list: the variables it (or what it starts) reads.
READS = {
    "api": SHARED
    | METRICS
    | SECURITY
    | {
        "MODELGATE_HOST",
        "MODELGATE_PORT",
        "MODELGATE_CLUSTER_NAME",
        "MODELGATE_API_WORKERS",
        "MODELGATE_API_THREADS",
    },
    "worker": SHARED
    | NODE_METRICS
    | {
        "MODELGATE_WORKER_CONCURRENCY",
        "MODELGATE_NODE_ROLE",
        "MODELGATE_NODE_NAME",
        "MODELGATE_LOG_LEVEL",
    },
    # up names its nodes; bench --spawn-stack also gives up its own Redis, port and data dir.
    "up": EVERY - {"MODELGATE_NODE_ROLE", "MODELGATE_NODE_NAME"},
    "bench": EVERY
    - {
        "MODELGATE_NODE_ROLE",
        "MODELGATE_NODE_NAME",
        "MODELGATE_REDIS_URL",
        "MODELGATE_PORT",
        "MODELGATE_DATA_DIR",
    },
    "mock-upstream": set(),
}
BANNER_MARKS = ("[config]", "[queues]", "-------------- ", ".> transport:", "[tasks]")
ROOT_WARNING = "superuser privileges"


def clean_env(tmp: Path, **settings: str) -> dict[str, str]:
    """This environment without MODELGATE_*, plus settings; any data dir in tmp."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MODELGATE_")}
    return {**env, "MODELGATE_DATA_DIR": str(tmp / "data"), "PYTHONUNBUFFERED": "1", **settings}


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(*args),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass
class Done:
    code: int
    stdout: str
    stderr: str


def finish(runs: dict[str, subprocess.Popen[str]]) -> dict[str, Done]:
    """Wait for runs started together (each spends its time importing); kill any left over."""
    done: dict[str, Done] = {}
    try:
        for key, run in runs.items():
            stdout, stderr = run.communicate(timeout=60)
            done[key] = Done(run.returncode, stdout, stderr)
    finally:
        for run in runs.values():
            if run.poll() is None:
                run.kill()
                run.wait()
    return done


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Done]]:
    """Every bad-settings run, keyed SUB-COMMAND:VARIABLE, with the data dir it was given."""
    tmps: dict[str, Path] = {}
    runs: dict[str, subprocess.Popen[str]] = {}
    cases = [
        *((sub, name, {name: value}) for sub, name, value in BAD_CASES),
        ("api", "unset", {}),
        ("worker", "unset", {}),
        ("mock-upstream", "unknown", {"MODELGATE_PROT": "9300", "MODELGATE_PORT": "abc"}),
    ]
    for sub, name, settings in cases:
        tmps[f"{sub}:{name}"] = tmp = tmp_path_factory.mktemp("refused")
        runs[f"{sub}:{name}"] = start([sub], clean_env(tmp, **settings))
    return {key: (tmps[key], done) for key, done in finish(runs).items()}


@pytest.mark.parametrize(("sub", "name", "value"), BAD_CASES)
def test_a_bad_setting_stops_each_command_with_one_line_before_it_starts_anything(
    refusals: dict[str, tuple[Path, Done]], sub: str, name: str, value: str
) -> None:
    tmp, done = refusals[f"{sub}:{name}"]
    stdout, stderr = done.stdout, done.stderr
    assert done.code == 2, stderr
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1, stderr
    assert re.fullmatch(rf"modelgate: {name} must be [^\n]+, got '[^\n]*'\n", stderr), stderr
    shown = value.replace("admin:hunter2", "**")  # credentials in a URL are masked
    assert stderr.endswith(f", got {shown!r}\n")
    assert stdout == ""
    assert not (tmp / "data").exists()  # up made no embedded Redis: nothing started


@pytest.mark.parametrize("sub", ["api", "worker"])
def test_api_and_worker_refuse_to_start_without_a_redis_url(
    refusals: dict[str, tuple[Path, Done]], sub: str
) -> None:
    stderr = refusals[f"{sub}:unset"][1].stderr
    assert refusals[f"{sub}:unset"][1].code == 2
    assert stderr.startswith("modelgate: MODELGATE_REDIS_URL is not set: expected a redis://")
    assert stderr.count("\n") == 1, stderr


def test_an_unknown_variable_is_named_with_the_likeliest_setting(
    refusals: dict[str, tuple[Path, Done]],
) -> None:
    done = refusals["mock-upstream:unknown"][1]
    assert done.code == 2
    assert done.stderr.splitlines() == [
        "modelgate: warning: MODELGATE_PROT is not a modelgate setting;"
        " did you mean MODELGATE_PORT?",
        "modelgate: MODELGATE_PORT must be an integer from 1 to 65535, got 'abc'",
    ]


@pytest.fixture(scope="module")
def helps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Done]:
    """Each sub-command's --help, with a broken environment: help must not depend on it."""
    tmp = tmp_path_factory.mktemp("help")
    env = clean_env(tmp, MODELGATE_PORT="abc", COLUMNS="100")
    return finish({sub: start([sub, "--help"], env) for sub in SUB_COMMANDS})


@pytest.mark.parametrize("sub", SUB_COMMANDS)
def test_help_lists_every_variable_the_command_reads_with_its_default(
    helps: dict[str, Done], sub: str
) -> None:
    stdout = helps[sub].stdout
    assert helps[sub].code == 0, helps[sub].stderr
    environment = stdout.split("\nenvironment", 1)[1]
    listed = re.findall(r"^  (MODELGATE_\w+)(?: |$)", environment, flags=re.MULTILINE)
    assert set(listed) == READS[sub]
    entries = [" ".join(entry.split()) for entry in re.split(r"\n  (?=MODELGATE_)", environment)]
    assert all(re.search(r"\((default|unset): [^)]+\)$", e) for e in entries[1:]), entries
    assert "(default: None)" not in stdout
    assert "(default: False)" not in stdout


def test_flags_show_their_defaults(helps: dict[str, Done]) -> None:
    stdout = helps["mock-upstream"].stdout
    assert "(default: 8900)" in stdout
    assert "(default: 1536)" in stdout


@dataclass
class Run:
    process: processes.Child
    out: Path
    err: Path

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def output(self) -> str:
        return self.stdout() + self.err.read_text(errors="replace")


WORKER_RUNS = {
    "quiet": ([], {}),
    "verbose": (["--verbose"], {}),
    "env-info": ([], {"MODELGATE_LOG_LEVEL": "info"}),
}


@pytest.fixture(scope="module")
def worker_runs(redis_server: EmbeddedRedis, tmp_root: Path) -> Iterator[dict[str, Run]]:
    """Three data nodes, started together, until each said it is ready; then stopped."""
    runs: dict[str, Run] = {}
    try:
        for label, (flags, settings) in WORKER_RUNS.items():
            env = clean_env(tmp_root, MODELGATE_REDIS_URL=redis_server.url, **settings)
            env["MODELGATE_KEY_PREFIX"] = "clicfg"
            out, err = tmp_root / f"cfg-{label}.out", tmp_root / f"cfg-{label}.err"
            with open(out, "wb") as stdout, open(err, "wb") as stderr:
                cmd = command("worker", "--role", "data", "--name", f"cfg-{label}", *flags)
                child = processes.spawn(
                    cmd, cwd=PROJECT_ROOT, env=env, stdout=stdout, stderr=stderr
                )
            runs[label] = Run(child, out, err)
        for label, run in runs.items():
            ready = f"node cfg-{label} (data) ready\n"
            wait_for(lambda run=run, ready=ready: ready in run.stdout(), 60, f"{label} ready")
        processes.stop(*(run.process for run in runs.values()), sig=signal.SIGTERM, grace_s=20)
        yield runs
    finally:
        processes.stop(*(run.process for run in runs.values()), sig=signal.SIGKILL)


def test_a_worker_says_it_is_ready_and_shows_no_celery_banner(worker_runs: dict[str, Run]) -> None:
    run = worker_runs["quiet"]
    assert run.process.returncode == 0, run.output()
    output = run.output()
    assert "node cfg-quiet (data) ready" in output
    assert not [mark for mark in BANNER_MARKS if mark in output], output
    assert ROOT_WARNING not in output
    assert "Traceback" not in output


@pytest.mark.parametrize("label", ["verbose", "env-info"])
def test_verbose_or_info_level_brings_the_banner_back(
    worker_runs: dict[str, Run], label: str
) -> None:
    run = worker_runs[label]
    output = run.output()
    assert run.process.returncode == 0, output
    assert f"node cfg-{label} (data) ready" in output
    assert all(mark in output for mark in BANNER_MARKS), output
    assert "INFO" in output
    if os.geteuid() == 0:  # Celery warns of root only when it is root
        assert ROOT_WARNING in output
