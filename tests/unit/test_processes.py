"""Tests for tools.processes with real child processes: signals, grace, SIGKILL, groups."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import psutil
import pytest

from tools.processes import Child, describe_exit, spawn, stop

# Each child reports readiness (after installing its handlers) with one line on stdout.
SLEEPER = "import time\nprint('ready', flush=True)\ntime.sleep(60)\n"
IGNORES_TERM = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)
# A group leader with a grandchild; argv[1] says whether the grandchild ignores SIGTERM.
PARENT = (
    "import subprocess, sys, time\n"
    "code = 'import signal, sys, time\\n'\n"
    "if sys.argv[1] == 'stubborn':\n"
    "    code += 'signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n'\n"
    "code += 'print(1, flush=True)\\ntime.sleep(60)\\n'\n"
    "grandchild = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE)\n"
    "grandchild.stdout.readline()\n"
    "print(grandchild.pid, flush=True)\n"
    "time.sleep(60)\n"
)

Start = Callable[..., tuple[Child, str]]


@pytest.fixture
def start() -> Iterator[Start]:
    """Spawn python -c code; return the child and its first line once it printed it."""
    started: list[Child] = []

    def run(code: str, *args: str, new_session: bool = False) -> tuple[Child, str]:
        cmd = [sys.executable, "-c", code, *args]
        child = spawn(cmd, new_session=new_session, stdout=subprocess.PIPE)
        started.append(child)
        assert child.stdout is not None
        return child, child.stdout.readline().decode().strip()

    yield run
    for child in started:
        stop(child, sig=signal.SIGKILL)
        if child.stdout is not None:
            child.stdout.close()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_stop_ends_a_child_with_the_signal_and_reaps_it(start: Start) -> None:
    child, _ = start(SLEEPER)
    began = time.monotonic()
    stop(child, grace_s=10)
    assert child.returncode == -signal.SIGTERM
    assert time.monotonic() - began < 5


def test_a_child_ignoring_the_signal_is_killed_after_the_grace_period(start: Start) -> None:
    child, _ = start(IGNORES_TERM)
    began = time.monotonic()
    stop(child, grace_s=0.5)
    assert child.returncode == -signal.SIGKILL
    assert time.monotonic() - began >= 0.5


def test_children_share_one_grace_period(start: Start) -> None:
    children = [start(IGNORES_TERM)[0] for _ in range(3)]
    began = time.monotonic()
    stop(*children, grace_s=0.5)
    assert [c.returncode for c in children] == [-signal.SIGKILL] * 3
    assert time.monotonic() - began < 1.4  # not three grace periods one after another


def test_stop_accepts_children_that_already_ended() -> None:
    child = spawn([sys.executable, "-c", "raise SystemExit(3)"])
    child.wait()
    stop(child)
    stop(child)
    assert child.returncode == 3
    unreaped = spawn([sys.executable, "-c", "pass"])
    time.sleep(0.3)  # ended but not yet waited for: a zombie
    stop(unreaped, sig=signal.SIGKILL)
    assert unreaped.returncode == 0


def test_a_plain_child_leads_no_group_and_only_it_is_signalled(start: Start) -> None:
    child, _ = start(SLEEPER)
    assert child.group is None
    assert os.getpgid(child.pid) == os.getpgid(0)
    stop(child)  # a group signal here would have ended this test run too
    assert child.returncode == -signal.SIGTERM


def test_new_session_and_new_group_make_the_child_a_group_leader() -> None:
    session = spawn([sys.executable, "-c", SLEEPER], new_session=True, stdout=subprocess.DEVNULL)
    group = spawn([sys.executable, "-c", SLEEPER], new_group=True, stdout=subprocess.DEVNULL)
    try:
        assert (session.group, os.getpgid(session.pid), os.getsid(session.pid)) == (
            session.pid,
            session.pid,
            session.pid,
        )
        assert (group.group, os.getpgid(group.pid)) == (group.pid, group.pid)
        assert os.getsid(group.pid) == os.getsid(0)
    finally:
        stop(session, group, sig=signal.SIGKILL)


def test_stop_ends_the_grandchildren_of_a_group_leader(start: Start) -> None:
    leader, line = start(PARENT, "plain", new_session=True)
    grandchild = int(line)
    assert not _gone(grandchild)
    stop(leader, grace_s=10)
    assert leader.returncode == -signal.SIGTERM
    assert _gone(grandchild)


def test_a_grandchild_ignoring_the_signal_is_killed_after_its_leader_ended(
    start: Start,
) -> None:
    leader, line = start(PARENT, "stubborn", new_session=True)
    grandchild = int(line)
    began = time.monotonic()
    stop(leader, grace_s=0.5)
    assert leader.returncode == -signal.SIGTERM
    assert _gone(grandchild)
    assert time.monotonic() - began >= 0.5


def test_a_relaying_leader_alone_gets_the_polite_signal(start: Start) -> None:
    # The grandchild would die of SIGTERM at once: with relays, only SIGKILL reaches it, after
    # the grace period, because its leader (a server that stops its own workers) got SIGTERM.
    cmd = [sys.executable, "-c", PARENT, "plain"]
    leader = spawn(cmd, new_group=True, relays=True, stdout=subprocess.PIPE)
    try:
        assert leader.stdout is not None
        grandchild = int(leader.stdout.readline().decode())
        began = time.monotonic()
        stop(leader, grace_s=0.5)
        assert leader.returncode == -signal.SIGTERM
        assert _gone(grandchild)
        assert time.monotonic() - began >= 0.5  # it outlived the SIGTERM: SIGKILL ended it
    finally:
        stop(leader, sig=signal.SIGKILL)
        if leader.stdout is not None:
            leader.stdout.close()


# Spawns a sleeper through tools.processes (argv[1]: "dies" or "plain"), prints its pid, waits.
SPAWNER = (
    "import subprocess, sys, time\n"
    "from tools.processes import spawn\n"
    "sleeper = spawn([sys.executable, '-c', 'import time; time.sleep(60)'],\n"
    "                dies_with_parent=sys.argv[1] == 'dies')\n"
    "print(sleeper.pid, flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.mark.parametrize("mode", ["dies", "plain"])
def test_a_child_dies_with_its_parent_even_when_the_parent_is_killed(
    start: Start, mode: str
) -> None:
    parent, line = start(SPAWNER, mode)
    sleeper = psutil.Process(int(line))
    try:
        stop(parent, sig=signal.SIGKILL)
        if mode == "dies":
            sleeper.wait(5)  # psutil.TimeoutExpired if it outlived its parent
        else:
            time.sleep(0.5)
            assert sleeper.is_running()  # without the parent-death signal it is orphaned
    finally:
        if sleeper.is_running():
            sleeper.kill()


def test_a_parent_already_gone_kills_the_child_at_once() -> None:
    code = (
        "from common.interpreter import die_with_parent\n"
        "die_with_parent(parent_pid=1)\n"  # not our parent: ours is gone (or never was)
        "print('still alive', flush=True)\n"
    )
    child = spawn([sys.executable, "-c", code], stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL
    assert out == b""


@pytest.mark.parametrize(
    ("returncode", "said"),
    [(0, "exit code 0"), (3, "exit code 3"), (-9, "killed by SIGKILL"), (-15, "killed by SIGTERM")],
)
def test_describe_exit_names_the_code_or_the_signal(returncode: int, said: str) -> None:
    assert describe_exit(returncode) == said
