"""One asyncio loop and one aiohttp ClientSession per worker process, shared by all requests.

The loop runs on a thread of its own. The predict consumer's coroutines run on it directly;
code on other threads (the worker's start-up and shutdown) hands coroutines over with run().
aiohttp errors are translated here into RemoteTransportError; nothing above sees aiohttp, and
every connection's addresses pass the private-address check at connect time (GuardedResolver).
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import socket
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import uvloop
from yarl import URL

from common.endpoints import is_private_address
from common.errors import IllegalArgumentError, RemoteTransportError

T = TypeVar("T")


# Whether the request being sent may reach private addresses; read by the resolver, which
# runs inside the sending task, so each request carries its own setting.
_ALLOW_PRIVATE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "allow_private", default=False
)


class PrivateAddressError(Exception):
    """A host resolved to a private address while that is not allowed."""


class GuardedResolver(aiohttp.abc.AbstractResolver):
    """Check every address at connect time, so DNS answers cannot change after a check."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not _ALLOW_PRIVATE.get() and any(is_private_address(r["host"]) for r in results):
            raise PrivateAddressError(host)
        return results

    async def close(self) -> None:
        await self._inner.close()


def _refuse_private_literal(host: str) -> None:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return  # a name: the resolver checks it when connecting
    if is_private_address(host.strip("[]")):
        raise PrivateAddressError(host)


@dataclass(frozen=True)
class Answer:
    """What the remote model sent back."""

    status: int
    body: str


class HttpClient:
    """The process's event loop thread and HTTP session."""

    def __init__(self, *, max_connections: int = 512) -> None:
        self._max_connections = max_connections
        # uvloop: the same asyncio API at a fraction of the CPU per socket event, which is
        # most of what a node does per predict (Redis, the upstream call, the reply).
        self.loop = uvloop.new_event_loop()
        self._session: aiohttp.ClientSession | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="http-loop", daemon=True)
        self._thread.start()
        self.run(self._open())

    async def _open(self) -> None:
        # No DNS cache: the resolver must see (and check) every connection's addresses.
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, use_dns_cache=False, resolver=GuardedResolver()
        )
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule a coroutine on the loop thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the loop thread and wait for its result."""
        return self.submit(coro).result(timeout)

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes | None,
        connect_timeout: float,
        read_timeout: float,
        allow_private: bool = False,
    ) -> Answer:
        """Send one request; transport failures become RemoteTransportError."""
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(sock_connect=connect_timeout, sock_read=read_timeout)
        _ALLOW_PRIVATE.set(allow_private)
        try:
            if not allow_private:
                _refuse_private_literal(URL(url, encoded=True).host or "")
            return await self._exchange(method, url, headers, body, timeout)
        except PrivateAddressError as error:
            raise IllegalArgumentError(
                f"Remote inference host name has private ip address: {error}"
            ) from None

    async def _exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        timeout: aiohttp.ClientTimeout,
    ) -> Answer:
        assert self._session is not None
        try:
            async with self._session.request(
                # encoded=True sends the URL as signed: yarl would otherwise unquote
                # %3A and the like, breaking SigV4 signatures over such paths.
                method,
                URL(url, encoded=True),
                headers=headers,
                data=body,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                text = await response.text(errors="replace")
                return Answer(response.status, text)
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            detail = str(error) or type(error).__name__
            raise RemoteTransportError(f"Error communicating with remote model: {detail}") from None

    def close(self) -> None:
        """Close the session and stop the loop thread."""
        if self._session is not None:
            self.run(self._session.close(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()
