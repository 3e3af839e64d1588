"""The supervisor of `modelgate up` with real child processes: restarts, backoff, crash loops,
start-up failures and the stop order."""

from __future__ import annotations

import functools
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.processes import Child, spawn
from tools.supervisor import CrashLoop, RestartPolicy, Service, StartupError, Supervisor

QUICK = RestartPolicy(first_delay_s=0.05, max_delay_s=0.2, max_restarts=3, window_s=60)
# On SIGTERM: note "NAME stopping", take argv[2] seconds, note "NAME stopped", exit.
STOPPABLE = (
    "import signal, sys, time\n"
    "name, took, path = sys.argv[1], float(sys.argv[2]), sys.argv[3]\n"
    "def stop(*_):\n"
    "    open(path, 'a').write(name + ' stopping\\n')\n"
    "    time.sleep(took)\n"
    "    open(path, 'a').write(name + ' stopped\\n')\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, stop)\n"
    "open(path, 'a').write(name + ' up\\n')\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    running = Supervisor(QUICK)
    yield running
    running.stop(hurry=True)


def _python(code: str, *args: str) -> Service:
    def launch() -> Child:
        return spawn([sys.executable, "-c", code, *args])

    return Service("the test process", launch, lambda _: True, stage=0, grace_s=5)


@pytest.mark.parametrize(
    ("previous_s", "up_s", "delay_s"),
    [
        (0.0, 0.0, 0.5),  # first exit
        (0.5, 1.0, 1.0),  # doubling
        (4.0, 1.0, 8.0),
        (8.0, 1.0, 10.0),  # capped
        (10.0, 1.0, 10.0),
        (8.0, 30.0, 0.5),  # it was healthy for a while: start over
    ],
)
def test_the_delay_doubles_up_to_the_cap_and_starts_over_after_a_healthy_run(
    previous_s: float, up_s: float, delay_s: float
) -> None:
    assert RestartPolicy().next_delay(previous_s, up_s) == delay_s


def test_a_process_that_keeps_exiting_is_restarted_with_backoff_then_given_up(
    supervisor: Supervisor, capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor.start(_python("raise SystemExit(3)"))
    deadline = time.monotonic() + 10
    with pytest.raises(CrashLoop) as loop:
        while time.monotonic() < deadline:
            supervisor.check()
            time.sleep(0.01)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "modelgate up: the test process exited (exit code 3); restarting it in 0.05 s",
        "modelgate up: the test process exited (exit code 3); restarting it in 0.1 s",
        "modelgate up: the test process exited (exit code 3); restarting it in 0.2 s",
    ]
    assert str(loop.value) == (
        "the test process exited 4 times within 60 s (last: exit code 3); stopping the stack"
    )


def test_a_process_killed_by_a_signal_is_restarted(
    supervisor: Supervisor, capsys: pytest.CaptureFixture[str]
) -> None:
    service = _python("import time; time.sleep(60)")
    supervisor.start(service)
    first = service.process
    assert first is not None
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    deadline = time.monotonic() + 5
    while service.process is first and time.monotonic() < deadline:
        supervisor.check()
        time.sleep(0.01)
    assert service.process is not first
    assert service.process is not None and service.process.poll() is None
    said = capsys.readouterr().err
    assert said == (
        "modelgate up: the test process exited (killed by SIGKILL); restarting it in 0.05 s\n"
    )


def test_an_exit_during_start_up_is_a_start_up_failure(supervisor: Supervisor) -> None:
    service = _python("raise SystemExit(2)")
    supervisor.start(service)
    assert service.process is not None
    service.process.wait(5)
    with pytest.raises(StartupError, match=r"^the test process exited during start-up \(exit"):
        supervisor.check_startup([service])


def test_stages_stop_in_order(supervisor: Supervisor, tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    for name, stage in (("api", 0), ("node", 1), ("redis", 2)):
        cmd = [sys.executable, "-c", STOPPABLE, name, "0.3", str(notes)]
        service = Service(name, functools.partial(spawn, cmd), lambda _: True, stage, grace_s=5)
        supervisor.start(service)
    deadline = time.monotonic() + 10
    while not notes.exists() or notes.read_text().count(" up\n") < 3:
        assert time.monotonic() < deadline, "the test processes did not start"
        time.sleep(0.02)
    supervisor.stop()
    assert notes.read_text().splitlines()[3:] == [
        "api stopping",
        "api stopped",
        "node stopping",
        "node stopped",
        "redis stopping",
        "redis stopped",
    ]
