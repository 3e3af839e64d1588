"""The simulation's upstream: the bundled mock, slowed and failed per calling node.

Every node shares the one connector, so the URL cannot tell nodes apart, and the simulator
changes no production code path to make them say who they are. Instead the simulator sets
NODE_VARIABLE in each node's environment, and this server asks the operating system which
local process owns the client end of each new connection (the nodes run on this host), reads
that variable from the process, and applies the node's profile: its latency and failure rate.
Connections are kept alive by the nodes' HTTP pools, so the lookup (a scan of the host's
sockets, about 0.1 s, off the event loop) runs once per connection, not per request.

Run as `python -m tools.simulate.upstream --profiles JSON --port-file PATH`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
from aiohttp import web
from aiohttp.typedefs import Middleware

from tools.mock_upstream.app import create_app
from tools.mock_upstream.config import MockConfig
from tools.mock_upstream.openai import openai_error

NODE_VARIABLE = "MGSIM_NODE"  # not MODELGATE_*: the nodes' settings would warn about it
SHAPED_PATH = "/v1/chat/completions"  # the simulation's connector calls this path only
INJECTED_FAILURE = "simulated upstream failure for this node"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Profile:
    """How the upstream treats one node's calls."""

    latency_ms: float = 0.0
    failure_rate: float = 0.0


Peer = tuple[str, int]


class Callers:
    """Which node each client connection belongs to, found once per connection."""

    def __init__(self) -> None:
        self._known: dict[Peer, str] = {}
        self._lock = asyncio.Lock()

    async def node_of(self, peer: Peer, port: int) -> str:
        """The NODE_VARIABLE of the process owning the peer socket (a client of port)."""
        if peer not in self._known:
            async with self._lock:  # concurrent new connections share one scan
                if peer not in self._known:
                    self._known.update(await asyncio.to_thread(self._scan, port))
        return self._known.setdefault(peer, "")  # not a local process: no profile

    @staticmethod
    def _scan(port: int) -> dict[Peer, str]:
        """Map every local client connection to this server to its process's node name."""
        found: dict[Peer, str] = {}
        for conn in psutil.net_connections(kind="tcp"):
            local, remote = conn.laddr, conn.raddr
            if not isinstance(remote, tuple) or not remote or remote[1] != port:
                continue
            if conn.pid is None or not local:
                continue
            try:
                name = psutil.Process(conn.pid).environ().get(NODE_VARIABLE, "")
            except psutil.Error:
                continue
            found[(local[0], local[1])] = name
        return found


def shaping(profiles: dict[str, Profile], callers: Callers, seed: int) -> Middleware:
    """An aiohttp middleware applying the calling node's profile to SHAPED_PATH."""
    rng = random.Random(seed)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        transport = request.transport
        if request.path != SHAPED_PATH or transport is None:
            return await handler(request)
        peer, local = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
        node = await callers.node_of((peer[0], peer[1]), local[1])
        profile = profiles.get(node, Profile())
        await request.read()  # drain first: a failing answer never races the upload
        if profile.latency_ms > 0:
            await asyncio.sleep(profile.latency_ms / 1000)
        if rng.random() < profile.failure_rate:
            return openai_error(500, INJECTED_FAILURE, type="server_error")
        return await handler(request)

    return middleware


def build_app(profiles: dict[str, Profile], seed: int = 0) -> web.Application:
    """The bundled mock with the per-node shaping in front of its handlers."""
    app = create_app(MockConfig())
    app.middlewares.insert(0, shaping(profiles, Callers(), seed))
    return app


def parse_profiles(text: str) -> dict[str, Profile]:
    """{"ml-1": {"latency_ms": 5, "failure_rate": 0.1}, ...} -> profiles by node name."""
    raw = json.loads(text)
    return {name: Profile(**values) for name, values in raw.items()}


async def _serve(profiles: dict[str, Profile], port_file: Path, seed: int) -> None:
    runner = web.AppRunner(build_app(profiles, seed))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    partial = port_file.with_name(port_file.name + ".partial")
    partial.write_text(str(runner.addresses[0][1]))
    partial.replace(port_file)  # a reader never sees half a number
    await asyncio.Event().wait()  # until the simulator stops this process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", required=True, help="JSON: node name -> profile")
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(_serve(parse_profiles(args.profiles), args.port_file, args.seed))


if __name__ == "__main__":
    main()
