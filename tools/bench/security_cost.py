"""`modelgate bench --security-cost`: predicts/s with security (basic auth, roles) on against off.

Two stacks run side by side, one with MODELGATE_SECURITY=off and one with it on and a users
file holding one bench user (a real 12-round bcrypt hash); each gets one deployed model. The
same load alternates between them (off, on, off, on) so the machine's drift touches both
alike, and the medians are compared. Security is held to keep at least 90 % of the
throughput: a password is checked with bcrypt once, then found in the per-process cache.
On a busy machine throughput swings between runs; the API processes' CPU time per predict,
also reported, is the steadier figure of what security costs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import psutil

from common.security.passwords import hash_password
from common.security.users_file import UserEntry, add_user
from tools.bench.load import LoadShape, run_load
from tools.bench.proctree import cpu_seconds, tree_total
from tools.bench.provision import prepare_models
from tools.bench.stack import spawn_stack
from tools.bench.targets import Target, api_target

if TYPE_CHECKING:
    from tools.bench.options import BenchOptions
    from tools.bench.progress import ProgressReporter

ROUNDS = 3  # runs per setting and concurrency, alternating: a median of three
KEPT_SHARE = 0.90  # with security on, at least this share of the predicts/s with it off
USER = "bench"


@dataclass(frozen=True)
class SecuredApi:
    """An API and the credentials it takes (None: security off)."""

    url: str
    auth: aiohttp.BasicAuth | None
    pid: int  # the stack's `modelgate up`


@dataclass(frozen=True)
class SecurityCost:
    """Predicts/s of each run at one concurrency, security off and on."""

    concurrency: int
    off_rps: tuple[float, ...]
    on_rps: tuple[float, ...]
    off_cpu_ms: tuple[float, ...]  # API CPU per predict
    on_cpu_ms: tuple[float, ...]
    errors: int

    @property
    def kept(self) -> float:
        """Median predicts/s with security on over the median with it off."""
        off = statistics.median(self.off_rps)
        return statistics.median(self.on_rps) / off if off > 0 else 0.0

    def describe(self) -> str:
        off, on = statistics.median(self.off_rps), statistics.median(self.on_rps)
        verdict = "met" if self.kept >= KEPT_SHARE and not self.errors else "not met"
        runs = ", ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(self.off_rps, self.on_rps, strict=True))
        cpu_off, cpu_on = statistics.median(self.off_cpu_ms), statistics.median(self.on_cpu_ms)
        return (
            f"security cost, api c={self.concurrency} (medians of {len(self.off_rps)} alternating"
            f" runs, off/on: {runs}): off {off:,.1f}/s, on {on:,.1f}/s, kept {self.kept:.1%}"
            f" (target >= {KEPT_SHARE:.0%}, {self.errors} errors): {verdict}; API CPU per"
            f" predict off {cpu_off:.3f} ms, on {cpu_on:.3f} ms"
        )


async def _target(api: SecuredApi, upstream: str, reporter: ProgressReporter | None) -> Target:
    provisioned = await prepare_models(api.url, upstream, 1, 1, reporter, auth=api.auth)
    target = api_target(api.url, provisioned.model_ids)
    if api.auth is None:
        return target
    return dataclasses.replace(
        target, headers={**target.headers, "Authorization": api.auth.encode()}
    )


async def compare(
    apis: dict[bool, SecuredApi],
    upstream: str,
    options: BenchOptions,
    reporter: ProgressReporter | None,
) -> list[SecurityCost]:
    """Alternate the same load between the stacks with security off and on."""
    targets = {on: await _target(api, upstream, reporter) for on, api in apis.items()}
    costs = []
    for concurrency in options.concurrency:
        shape = LoadShape(concurrency, options.duration_s, options.warmup_s)
        rps: dict[bool, list[float]] = {False: [], True: []}
        cpu: dict[bool, list[float]] = {False: [], True: []}
        errors = 0
        for _ in range(ROUNDS):
            for on in (False, True):
                used: list[float] = []
                label = f"security {'on' if on else 'off'} c={concurrency}"
                measuring = _api_cpu(apis[on].pid, used)
                stats = await run_load(targets[on], shape, reporter, measuring, label)
                rps[on].append(stats.rps)
                cpu[on].append(1000 * used[0] / max(stats.requests, 1))
                errors += stats.errors
        costs.append(
            SecurityCost(
                concurrency,
                tuple(rps[False]),
                tuple(rps[True]),
                tuple(cpu[False]),
                tuple(cpu[True]),
                errors,
            )
        )
    return costs


def api_cpu_s(stack_pid: int) -> float:
    """CPU seconds used so far by the API processes (server and workers) of a stack."""
    try:
        children = psutil.Process(stack_pid).children()
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for child in children:
        with contextlib.suppress(psutil.Error):
            if "api" not in child.cmdline()[-1:]:  # `python -m tools.cli api`
                continue
            total += tree_total(child.pid, cpu_seconds)
    return total


@contextlib.asynccontextmanager
async def _api_cpu(stack_pid: int, into: list[float]) -> AsyncIterator[None]:
    """Note the API processes' CPU seconds over the measured phase of a run."""
    before = api_cpu_s(stack_pid)
    yield
    into.append(api_cpu_s(stack_pid) - before)


@contextlib.contextmanager
def two_stacks() -> Iterator[dict[bool, SecuredApi]]:
    """Yield {security on?: API} for two throw-away stacks, security off and on."""
    password = secrets.token_urlsafe(18)
    with tempfile.TemporaryDirectory(prefix="modelgate-bench-users-") as tmp:
        users = Path(tmp) / "internal_users.yml"
        # all_access: the set-up also trusts the mock in the cluster settings.
        add_user(users, USER, UserEntry(hash=hash_password(password), roles=("all_access",)))
        secured = {"MODELGATE_SECURITY": "on", "MODELGATE_USERS_FILE": str(users)}
        with contextlib.ExitStack() as stacks:
            off = stacks.enter_context(spawn_stack({"MODELGATE_SECURITY": "off"}))
            on = stacks.enter_context(spawn_stack(secured))
            print(f"bench: security off at {off.api}, on at {on.api}", file=sys.stderr)
            yield {
                False: SecuredApi(off.api, None, off.pid),
                True: SecuredApi(on.api, aiohttp.BasicAuth(USER, password), on.pid),
            }
