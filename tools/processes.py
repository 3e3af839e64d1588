"""Start child processes and stop them for sure: signal, grace period, SIGKILL, reap."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import psutil

from common.interpreter import child_dies_with_this_process

Output = int | IO[Any] | None

GROUP_POLL_S = 0.05
# SIGKILL cannot be ignored; this only bounds the wait for a process stuck in the kernel.
KILL_WAIT_S = 5.0


class Child(subprocess.Popen[bytes]):
    """A child process that remembers the process group it leads, if it leads one."""

    group: int | None = None
    # The leader forwards stop signals to its own children (a server and its workers): a
    # polite signal goes to the leader alone; only SIGKILL goes to the whole group.
    relays: bool = False


def spawn(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    new_session: bool = False,
    new_group: bool = False,
    relays: bool = False,
    dies_with_parent: bool = False,
    stdout: Output = None,
    stderr: Output = None,
) -> Child:
    """Start cmd; new_session or new_group makes it lead a process group that stop() ends whole.

    A new session also detaches the child from the terminal; a new group only keeps a terminal
    Ctrl-C from reaching it. relays: the leader stops its own children when signalled.
    dies_with_parent: the kernel kills the child (SIGKILL) when this process ends, even by
    SIGKILL; call spawn from a thread that lives as long as the process (the main thread).
    """
    child = Child(
        list(cmd),
        env=env,
        cwd=cwd,
        start_new_session=new_session,
        # A session leader already leads its group and may not move to another one.
        process_group=0 if new_group and not new_session else None,
        preexec_fn=child_dies_with_this_process() if dies_with_parent else None,
        stdout=stdout,
        stderr=stderr,
    )
    child.group = child.pid if new_session or new_group else None
    child.relays = relays
    return child


def stop(
    *procs: subprocess.Popen[Any], sig: signal.Signals = signal.SIGTERM, grace_s: float = 10.0
) -> None:
    """Send sig to every child, give them grace_s in all to end, then SIGKILL what is left.

    A Child leading a process group gets the signals as a whole group, and counts as ended
    only once nobody is left in that group. Children that already ended are fine; all are
    reaped on return.
    """
    for proc in procs:
        _signal(proc, sig)
    deadline = time.monotonic() + grace_s
    for proc in procs:
        if not _ended(proc, deadline):
            _signal(proc, signal.SIGKILL)
            _ended(proc, time.monotonic() + KILL_WAIT_S)


def _group(proc: subprocess.Popen[Any]) -> int | None:
    return proc.group if isinstance(proc, Child) else None


def _signal(proc: subprocess.Popen[Any], sig: signal.Signals) -> None:
    group = _group(proc)
    relays = isinstance(proc, Child) and proc.relays
    if group is None or (relays and sig != signal.SIGKILL):
        proc.send_signal(sig)  # does nothing once the child has been reaped
        return
    # The group outlives its leader: members left behind must still get the signal.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)


def _ended(proc: subprocess.Popen[Any], deadline: float) -> bool:
    """Wait until proc, and its group if it leads one, ended or deadline passed; whether it did."""
    try:
        proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
    except subprocess.TimeoutExpired:
        return False
    group = _group(proc)
    while group is not None and _has_members(group):
        if time.monotonic() >= deadline:
            return False
        time.sleep(GROUP_POLL_S)
    return True


def _has_members(group: int) -> bool:
    """Whether a process that is not a zombie is still in the process group."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    # Zombies count for killpg but are dead; orphans wait as zombies until init reaps them.
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(proc.pid) == group and proc.status() != psutil.STATUS_ZOMBIE:
                return True
    return False


def describe_exit(returncode: int) -> str:
    """Say how a process ended: "exit code 3" or "killed by SIGKILL"."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"
