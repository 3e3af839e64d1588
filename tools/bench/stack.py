"""A throw-away `modelgate up` on a free port and data dir, for bench --spawn-stack."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools import processes
from tools.bench.errors import SetupError
from tools.cli import PROJECT_ROOT, command
from tools.embedded_redis import free_port

READY_TIMEOUT_S = 90.0
STOP_GRACE_S = 15.0


@dataclass(frozen=True)
class SpawnedStack:
    """A running `modelgate up`: where its API listens and its top process."""

    api: str
    pid: int


def _stack_env(port: int, data_dir: str, extra: Mapping[str, str]) -> dict[str, str]:
    env = {**os.environ, **extra}
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
    except urllib.error.HTTPError as error:
        return error.code == 401  # security on: the API serves, and wants credentials
    except (OSError, http.client.HTTPException):
        return False


def _log_tail(log: Path, lines: int = 20) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_for_api(proc: subprocess.Popen[Any], api: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            problem = f"`modelgate up` exited with code {proc.returncode} before serving"
            raise SetupError(f"{problem}; last output:\n{_log_tail(log)}")
        if _http_ok(f"{api}/"):
            return
        time.sleep(0.25)
    problem = f"GET {api}/ did not answer 200 within {READY_TIMEOUT_S:g}s"
    raise SetupError(f"{problem}; last output of `modelgate up`:\n{_log_tail(log)}")


@contextlib.contextmanager
def spawn_stack(extra_env: Mapping[str, str] | None = None) -> Iterator[SpawnedStack]:
    """Run `modelgate up` in its own process group on a free port and a throw-away data dir;
    extra_env adds (or overrides) variables of its environment."""
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="modelgate-bench-", ignore_cleanup_errors=True) as tmp:
        data_dir, log = Path(tmp) / "data", Path(tmp) / "stack.log"
        data_dir.mkdir()
        # The stack's logs go to a file: on the terminal they would garble the progress line.
        with log.open("wb") as sink:
            # Own process group: a terminal Ctrl-C reaches only bench, which then stops the stack.
            proc = processes.spawn(
                command("up"),
                dies_with_parent=True,  # a killed bench leaves no stack behind
                env=_stack_env(port, str(data_dir), extra_env or {}),
                cwd=PROJECT_ROOT,
                new_group=True,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_for_api(proc, api, log)
            yield SpawnedStack(api, proc.pid)
        finally:
            # SIGINT, as Ctrl-C would: the stack stops its workers and Redis cleanly.
            processes.stop(proc, sig=signal.SIGINT, grace_s=STOP_GRACE_S)
