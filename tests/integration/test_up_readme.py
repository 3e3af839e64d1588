"""README's "Try it" runs as written: its start command, then its script, with bash."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.up_stack import STOP_BOUND_S, Up, up_env
from tools.cli import PROJECT_ROOT
from tools.embedded_redis import free_port

START = ".venv/bin/modelgate up --mock-upstream"
API, MOCK = "localhost:9200", "127.0.0.1:8900"


def try_it_blocks() -> list[str]:
    """The shell blocks of README's "Try it" section, in order."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Up, int]]:
    start, _ = try_it_blocks()
    assert start.strip() == START
    mock_port = free_port()
    # exec: the command as README writes it is the process the test signals and watches.
    cmd = ["bash", "-c", f"exec {start.strip()} --mock-upstream-port {mock_port}"]
    up = Up(tmp_path, cmd=cmd)
    yield up, mock_port
    up.cleanup()


def test_the_try_it_script_runs_start_to_finish(stack: tuple[Up, int]) -> None:
    up, mock_port = stack
    up.wait_ready()
    _, script = try_it_blocks()
    assert API in script and MOCK in script
    script = script.replace(API, f"localhost:{up.port}").replace(MOCK, f"127.0.0.1:{mock_port}")
    # A proxy from the environment must not stand between curl and the loopback address.
    env = {k: v for k, v in up_env(up.tmp, up.port).items() if "proxy" not in k.lower()}
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result
    assert '"inference_results"' in result.stdout
    assert '"status_code": 200' in result.stdout
    took = up.stop(signal.SIGTERM)
    print(f"idle stack: SIGTERM stopped it in {took:.2f} s")
    assert took < STOP_BOUND_S
    assert not (up.tmp / "queues" / "appendonlydir").exists()  # prompts stayed in memory
