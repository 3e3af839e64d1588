"""The users the API knows: the users file, read again when it changes (no restart needed).

Each request may ask; the file's identity (inode, size, mtime) is looked at most once per
RELOAD_CHECK_S, so a busy API costs one stat() a second, and an edit takes effect within it.
A file that turns invalid keeps the last good users (and is logged), so a half-finished
hand edit locks nobody out.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from common.security.users_file import UserEntry, UsersFileError, read_users

log = logging.getLogger(__name__)
RELOAD_CHECK_S = 1.0

_Signature = tuple[int, int, int] | None


class UserDirectory:
    """The users of one file, current within a second; `generation` counts the changes seen."""

    def __init__(self, path: Path, check_interval_s: float = RELOAD_CHECK_S) -> None:
        self.path = path
        self.generation = 0
        self._interval_s = check_interval_s
        self._users: dict[str, UserEntry] = {}
        self._signature: _Signature = None
        self._checked_at = -check_interval_s
        self._lock = threading.Lock()
        self.refresh(force=True)

    def get(self, name: str) -> UserEntry | None:
        """The user of that name, if any."""
        return self._users.get(name)

    def __len__(self) -> int:
        return len(self._users)

    def refresh(self, *, force: bool = False) -> int:
        """Re-read the file if it changed (looked at once per interval); return the generation."""
        now = time.monotonic()
        if not force and now - self._checked_at < self._interval_s:
            return self.generation
        with self._lock:
            if force or now - self._checked_at >= self._interval_s:
                self._checked_at = now
                self._reload_if_changed()
        return self.generation

    def _reload_if_changed(self) -> None:
        signature = _signature(self.path)
        if signature == self._signature:
            return
        try:
            users = read_users(self.path)
        except UsersFileError as error:
            log.warning("keeping the previous users: %s", error)
            return
        self._users, self._signature = users, signature
        self.generation += 1
        if not users:
            log.warning("no users in %s: every request is refused (modelgate user add)", self.path)


def _signature(path: Path) -> _Signature:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)
