"""The local RabbitMQ for broker tests: a vhost of one test session's own, deleted afterwards.

Queue names carry no cluster prefix on RabbitMQ (common/queueing.py), so concurrent test
sessions on one machine are kept apart by vhost. Vhosts are managed with `rabbitmqctl`, which
runs here as root beside the server (the management HTTP API is not enabled).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass

import kombu

HOST = "127.0.0.1:5672"
USER = "guest"
PASSWORD = "guest"  # RabbitMQ's default account, which only accepts loopback connections
VHOST_PREFIX = "modelgate-test-"
# Brokers that tests parametrize over: `indirect=["broker_gw"]` (tests/integration/conftest.py).
BROKERS = ("redis", "rabbitmq")
CTL_TIMEOUT_S = 60


def answers() -> bool:
    """True when an AMQP login on the default vhost succeeds within a few seconds."""
    connection = kombu.Connection(f"amqp://{USER}:{PASSWORD}@{HOST}//", connect_timeout=3)
    try:
        connection.ensure_connection(max_retries=1)
    except Exception:  # refused, timed out, login refused: all mean "no RabbitMQ here"
        return False
    finally:
        connection.release()
    return True


def ctl(*args: str) -> str:
    """Run rabbitmqctl quietly; return its output, raising on failure."""
    done = subprocess.run(
        ["rabbitmqctl", "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=CTL_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def ctl_available() -> bool:
    return shutil.which("rabbitmqctl") is not None


@dataclass(frozen=True)
class Vhost:
    """A vhost named after this process, so a later session can drop it if this one died."""

    name: str

    @classmethod
    def create(cls) -> Vhost:
        _drop_orphans()
        vhost = cls(f"{VHOST_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}")
        ctl("add_vhost", vhost.name)
        ctl("set_permissions", "-p", vhost.name, USER, ".*", ".*", ".*")
        return vhost

    @property
    def url(self) -> str:
        return f"amqp://{USER}:{PASSWORD}@{HOST}/{self.name}"

    def queue_types(self) -> dict[str, str]:
        """Each queue of this vhost and its type (classic, quorum, stream)."""
        out = ctl("list_queues", "-p", self.name, "--no-table-headers", "name", "type")
        rows = (line.split("\t") for line in out.splitlines() if line.strip())
        return {row[0]: row[1] for row in rows if len(row) == 2}

    def delete(self) -> None:
        ctl("delete_vhost", self.name)


def _drop_orphans() -> None:
    """Delete test vhosts left by sessions that were killed before their teardown."""
    for name in ctl("list_vhosts", "--no-table-headers", "name").split():
        if not name.startswith(VHOST_PREFIX):
            continue
        pid = name.removeprefix(VHOST_PREFIX).partition("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            ctl("delete_vhost", name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
