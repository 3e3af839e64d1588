"""Where a run was measured: the machine and the git commit of the code."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

MIB = 1024 * 1024
GIT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Provenance:
    """Machine and code of a run, recorded so a history line can be read on its own."""

    cpus: int
    cpu_model: str
    ram_mb: int
    commit: str | None
    dirty: bool | None

    def describe(self) -> str:
        """One line for the top of the report."""
        code = "commit unknown (no git)" if self.commit is None else f"commit {self.commit}"
        if self.dirty:
            code += " + uncommitted changes"
        return (
            f"machine: {self.cpus} CPUs ({self.cpu_model}), {self.ram_mb / 1024:.1f} GiB RAM; "
            f"{code}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "dirty": self.dirty,
            "machine": {"cpus": self.cpus, "cpu_model": self.cpu_model, "ram_mb": self.ram_mb},
        }


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The first "model name" in cpuinfo, or "unknown CPU"."""
    try:
        lines = cpuinfo.read_text(errors="replace").splitlines()
    except OSError:
        return "unknown CPU"
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return "unknown CPU"


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=GIT_TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def provenance(root: Path) -> Provenance:
    """Describe this machine and the checkout at root (commit None without git)."""
    commit = _git(root, "rev-parse", "--short", "HEAD") or None
    status = None if commit is None else _git(root, "status", "--porcelain", "-uno")
    return Provenance(
        cpus=os.cpu_count() or 0,
        cpu_model=cpu_model(),
        ram_mb=int(psutil.virtual_memory().total // MIB),
        commit=commit,
        dirty=None if status is None else bool(status),
    )
