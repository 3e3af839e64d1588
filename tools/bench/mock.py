"""A throw-away `modelgate mock-upstream` on a free port for the direct baseline."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tools import processes
from tools.bench.errors import SetupError
from tools.cli import PROJECT_ROOT, command

PORT_FILE_TIMEOUT_S = 20.0
STOP_GRACE_S = 5.0


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
    proc: subprocess.Popen[Any], path: Path, timeout_s: float = PORT_FILE_TIMEOUT_S
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


@contextlib.contextmanager
def spawn_mock(latency_ms: float) -> Iterator[str]:
    """Run `modelgate mock-upstream` on a free port while the block runs; yield its base URL."""
    with tempfile.TemporaryDirectory(prefix="modelgate-bench-") as tmp:
        port_file = Path(tmp) / "mock.port"
        cmd = command("mock-upstream", "--port", "0", "--port-file", str(port_file))
        cmd += ["--latency-ms", _number_arg(latency_ms)]
        # Its stdout only announces the URL, which would land in the middle of the report.
        proc = processes.spawn(
            cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, dies_with_parent=True
        )
        try:
            yield f"http://127.0.0.1:{wait_for_port_file(proc, port_file)}"
        finally:
            processes.stop(proc, grace_s=STOP_GRACE_S)
