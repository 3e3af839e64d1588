"""Hosts for tests: Linux network namespaces joined by a bridge, made and removed by the test.

Each Host is a namespace with one veth link to a bridge in the test's own namespace, which
holds the bridge's address (the "gateway" host: the test process, the mock upstream). A
host's link can be cut and restored from outside, as a pulled cable or a dead switch port
would: the processes inside keep running and their TCP connections hang instead of closing.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

SUBNET = "10.77.{net}.{host}"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def namespaces_refused() -> str | None:
    """Why namespaces cannot be made here (not root, kernel refusal), or None when they can."""
    probe = f"mgprobe{secrets.token_hex(3)}"
    try:
        _ip("netns", "add", probe)
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        return f"network namespaces are refused here: {detail.strip()}"
    _ip("netns", "del", probe)
    return None


@dataclass
class Host:
    """One namespace with one address on the bridge."""

    name: str
    namespace: str
    address: str
    outer_link: str  # the veth end on the bridge side: down = cable pulled

    def command(self, cmd: Sequence[str]) -> list[str]:
        """cmd run inside this host's namespace (`ip netns exec` execs it: same pid)."""
        return ["ip", "netns", "exec", self.namespace, *cmd]

    def cut(self) -> None:
        """Pull the cable: no packet in or out, no connection closed."""
        _ip("link", "set", self.outer_link, "down")

    def restore(self) -> None:
        """Plug the cable back in."""
        _ip("link", "set", self.outer_link, "up")


@dataclass
class Network:
    """A bridge with a gateway address and one Host per name."""

    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    net: int = field(default_factory=lambda: 100 + secrets.randbelow(150))
    hosts: dict[str, Host] = field(default_factory=dict)

    @property
    def bridge(self) -> str:
        return f"mgbr{self.tag}"

    @property
    def gateway(self) -> str:
        """The test namespace's address on the bridge."""
        return SUBNET.format(net=self.net, host=1)

    def create(self, names: Sequence[str]) -> None:
        """Make the bridge and a host per name (addresses .10, .11, ... in name order)."""
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for number, name in enumerate(names):
            self.hosts[name] = self._host(name, number)

    def _host(self, name: str, number: int) -> Host:
        namespace = f"mg{self.tag}{name}"
        outer, inner = f"mgv{self.tag}{number}", f"mgi{self.tag}{number}"
        address = SUBNET.format(net=self.net, host=10 + number)
        _ip("netns", "add", namespace)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", namespace)
        _ip("link", "set", outer, "master", self.bridge)
        _ip("link", "set", outer, "up")
        inside = ["-n", namespace]
        _ip(*inside, "addr", "add", f"{address}/24", "dev", inner)
        _ip(*inside, "link", "set", inner, "up")
        _ip(*inside, "link", "set", "lo", "up")
        return Host(name, namespace, address, outer)

    def remove(self) -> None:
        """Delete every namespace (its veth goes with it) and the bridge; ignore leftovers."""
        for host in self.hosts.values():
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
