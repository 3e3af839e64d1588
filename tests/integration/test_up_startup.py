"""`modelgate up` refuses what cannot work: bad flags, taken ports, a server that fails to
start; one clear line, a non-zero exit, and nothing left running."""

from __future__ import annotations

import argparse
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.integration.up_stack import up_env
from tools.cli import PROJECT_ROOT, build_parser, command
from tools.embedded_redis import free_port

BAD_FLAGS = [
    ["--ml-workers", "0"],
    ["--ml-workers", "-1"],
    ["--ml-workers", "two"],
    ["--data-workers", "-1"],
    ["--data-workers", "1.5"],
    ["--mock-upstream-port", "-1"],
    ["--mock-upstream-port", "65536"],
    ["--redis-port", "70000"],
    ["--queue-redis-port", "-5"],
    ["--max-restarts", "-1"],
    ["--restart-window", "0"],
    ["--restart-window", "nan"],
    ["--ready-timeout", "-1"],
    ["--ready-timeout", "inf"],
]


def _sub_parser(name: str) -> argparse.ArgumentParser:
    parser = build_parser(name)
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subs.choices[name]  # type: ignore[no-any-return]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _run_up(tmp: Path, *flags: str, port: int | None = None) -> subprocess.CompletedProcess[str]:
    env = up_env(tmp, port or free_port())
    return subprocess.run(
        command("up", *flags), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def _the_one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("modelgate up:")]
    assert len(said) == 1, result.stderr
    return said[0]


@pytest.mark.parametrize("flags", BAD_FLAGS, ids=" ".join)
def test_a_count_port_or_duration_that_makes_no_sense_is_refused(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        _sub_parser("up").parse_args(flags)
    assert exit_.value.code == 2
    assert f"argument {flags[0]}" in capsys.readouterr().err


def test_every_numeric_flag_is_checked() -> None:
    unchecked = [a.option_strings for a in _sub_parser("up")._actions if a.type in (int, float)]
    assert unchecked == []
    for flag in {a.option_strings[0] for a in _sub_parser("up")._actions if a.type}:
        assert flag in {bad[0] for bad in BAD_FLAGS} or flag == "--log-level", flag


def test_sensible_edge_values_are_accepted() -> None:
    args = _sub_parser("up").parse_args(
        ["--data-workers", "0", "--mock-upstream-port", "0", "--max-restarts", "0"]
    )
    assert (args.data_workers, args.mock_upstream_port, args.max_restarts) == (0, 0, 0)


def test_the_api_port_in_use_is_one_line(tmp_path: Path, taken_port: int) -> None:
    line = _the_one_line(_run_up(tmp_path, port=taken_port))
    assert line == (
        f"modelgate up: cannot start the API on 127.0.0.1:{taken_port}: the port is in use; "
        "stop what uses it or set MODELGATE_HOST / MODELGATE_PORT"
    )


def test_a_redis_port_in_use_is_one_line(tmp_path: Path, taken_port: int) -> None:
    line = _the_one_line(_run_up(tmp_path, "--redis-port", str(taken_port)))
    assert f"cannot start the records Redis on 127.0.0.1:{taken_port}: the port is in use" in line
    assert not list(tmp_path.glob("redis/*")), "nothing may start before the check"


def test_a_server_failing_after_others_started_stops_those(tmp_path: Path) -> None:
    # Both free when checked; the records Redis takes the port, the queue Redis cannot.
    shared = str(free_port())
    result = _run_up(tmp_path, "--redis-port", shared, "--queue-redis-port", shared)
    line = _the_one_line(result)
    assert line.startswith("modelgate up: the queue Redis exited during start-up (exit code 1)")
    assert f"Failed listening on port {shared}" in line
    assert "embedded Redis on" in result.stdout  # the records Redis had started
    servers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if f":{shared}" in " ".join(p.info["cmdline"] or [])
    ]
    assert servers == [], "the records Redis outlived the failed start"
