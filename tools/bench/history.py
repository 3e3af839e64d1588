"""The run history: one JSON line per run, and the earlier runs a new one is compared with."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

Entry = dict[str, Any]


def read_history(path: Path) -> list[Entry]:
    """The entries of the history file, oldest first; lines that are not JSON objects skipped."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    entries: list[Entry] = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut short by an interrupted write must not lose the others
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def append_history(path: Path, entry: Entry) -> bool:
    """Append entry as one line; False (and a message) if the file cannot be written."""
    try:
        with path.open("a") as sink:
            sink.write(json.dumps(entry, separators=(",", ":")) + "\n")
    except OSError as exc:
        print(f"bench: cannot append to {path}: {exc}", file=sys.stderr)
        return False
    return True


def _latest(entries: list[Entry], options: Entry, commit: str | None) -> Entry | None:
    """The newest entry run with options, preferring one measured on the same commit."""
    same_options = [entry for entry in entries if entry.get("options") == options]
    same_commit = [entry for entry in same_options if commit and entry.get("commit") == commit]
    candidates = same_commit or same_options
    return candidates[-1] if candidates else None


def previous_run(entries: list[Entry], options: Entry) -> Entry | None:
    """The newest earlier run with exactly these options."""
    same = [entry for entry in entries if entry.get("options") == options]
    return same[-1] if same else None


def one_model_baseline(entries: list[Entry], options: Entry, commit: str | None) -> Entry | None:
    """The run to hold a --models N run against: same options but one model.

    One measured on the same commit wins over a newer one, so that N models are compared
    with one on the same code.
    """
    return _latest(entries, {**options, "models": 1}, commit)


def entry_figures(entry: Entry) -> dict[str, float]:
    """The numeric figures of an entry (empty for entries written without them)."""
    found = entry.get("figures")
    if not isinstance(found, dict):
        return {}
    return {k: float(v) for k, v in found.items() if isinstance(v, int | float)}
