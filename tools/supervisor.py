"""Keep the stack's processes running: restart what dies, with backoff; give up on a crash loop."""

from __future__ import annotations

import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from tools import processes


@dataclass(frozen=True)
class RestartPolicy:
    """How soon a process that died is started again, and when restarting is pointless."""

    first_delay_s: float = 0.5
    max_delay_s: float = 10.0
    # A process that stayed up this long was healthy: after its next exit the delay starts over.
    healthy_after_s: float = 30.0
    max_restarts: int = 5
    window_s: float = 60.0

    def next_delay(self, previous_s: float, up_s: float) -> float:
        """The wait before the next restart, given the last wait and how long the process ran."""
        if previous_s <= 0 or up_s >= self.healthy_after_s:
            return self.first_delay_s
        return min(previous_s * 2, self.max_delay_s)


class StartupError(Exception):
    """The stack could not start; the message says what failed, where, and what to do."""


class CrashLoop(Exception):
    """A process died more often within the window than the policy allows restarting it."""


@dataclass(eq=False)
class Service:
    """One process of the stack: how to start it, when it counts as serving, its restarts."""

    name: str
    launch: Callable[[], processes.Child]
    ready: Callable[[processes.Child], bool]
    # Stop order: stage 0 stops first (the API, so the requests it holds are still served).
    stage: int
    grace_s: float
    # Why the process ended, when its own output does not say it on the terminal.
    explain: Callable[[], str] | None = None
    process: processes.Child | None = None
    started_at: float = 0.0
    delay_s: float = 0.0
    restart_at: float | None = None
    exits: deque[float] = field(default_factory=deque)

    def start(self, now: float) -> None:
        """Start the process (again)."""
        self.process = self.launch()
        self.started_at = now
        self.restart_at = None

    def exited(self) -> int | None:
        """The exit status if the process has ended and is not waiting for its restart."""
        if self.process is None or self.restart_at is not None:
            return None
        return self.process.poll()

    def is_ready(self) -> bool:
        """Whether the running process serves."""
        return self.process is not None and self.exited() is None and self.ready(self.process)


def say(line: str) -> None:
    """Print one line of the stack's own to stderr."""
    print(f"modelgate up: {line}", file=sys.stderr, flush=True)


@dataclass
class Supervisor:
    """The services of the stack, started in order, restarted when they die, stopped by stage."""

    policy: RestartPolicy
    services: list[Service] = field(default_factory=list)

    def start(self, service: Service) -> None:
        """Add a service and start its process."""
        self.services.append(service)
        service.start(time.monotonic())

    def check_startup(self, services: Sequence[Service]) -> bool:
        """Whether all of services serve; raise StartupError if one of them has ended."""
        for service in services:
            code = service.exited()
            if code is not None:
                how = processes.describe_exit(code)
                why = service.explain() if service.explain else "see its output above"
                raise StartupError(f"{service.name} exited during start-up ({how}): {why}")
        return all(service.is_ready() for service in services)

    def check(self) -> None:
        """Restart the services due for it; schedule one for each process that ended."""
        now = time.monotonic()
        for service in self.services:
            if service.restart_at is not None and now >= service.restart_at:
                service.start(now)
            code = service.exited()
            if code is not None:
                self._schedule_restart(service, code, now)

    def _schedule_restart(self, service: Service, code: int, now: float) -> None:
        how = processes.describe_exit(code)
        service.exits.append(now)
        while service.exits[0] < now - self.policy.window_s:
            service.exits.popleft()
        if len(service.exits) > self.policy.max_restarts:
            raise CrashLoop(
                f"{service.name} exited {len(service.exits)} times within "
                f"{self.policy.window_s:g} s (last: {how}); stopping the stack"
            )
        service.delay_s = self.policy.next_delay(service.delay_s, now - service.started_at)
        service.restart_at = now + service.delay_s
        say(f"{service.name} exited ({how}); restarting it in {service.delay_s:g} s")

    def stop(self, *, hurry: bool = False) -> None:
        """Stop every process, stage by stage; hurry: SIGKILL them all at once."""
        if hurry:
            everyone = [s.process for s in self.services if s.process is not None]
            processes.stop(*everyone, sig=signal.SIGKILL, grace_s=0)
            return
        by_stage = sorted(self.services, key=lambda s: s.stage)
        for _, group in groupby(by_stage, key=lambda s: s.stage):
            stage = list(group)
            running = [s.process for s in stage if s.process is not None]
            processes.stop(*running, grace_s=max(s.grace_s for s in stage))
