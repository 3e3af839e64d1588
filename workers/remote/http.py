"""One asyncio loop and one aiohttp ClientSession per worker process, shared by all jobs.

Celery runs jobs on threads; each hands its coroutine to the loop thread and waits.
aiohttp errors are translated here into RemoteTransportError; nothing above sees aiohttp.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from common.errors import RemoteTransportError

T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    """What the remote model sent back."""

    status: int
    body: str


class HttpClient:
    """The process's event loop thread and HTTP session."""

    def __init__(self, *, max_connections: int = 512) -> None:
        self._max_connections = max_connections
        self.loop = asyncio.new_event_loop()
        self._session: aiohttp.ClientSession | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="http-loop", daemon=True)
        self._thread.start()
        self.run(self._open())

    async def _open(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=30)
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
    ) -> Answer:
        """Send one request; transport failures become RemoteTransportError."""
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(sock_connect=connect_timeout, sock_read=read_timeout)
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

    async def resolve(self, host: str, port: int) -> list[str]:
        """Resolve a host name to its addresses (for the private-address check)."""
        infos = await self.loop.getaddrinfo(host, port)
        return [str(info[4][0]) for info in infos]

    def close(self) -> None:
        """Close the session and stop the loop thread."""
        if self._session is not None:
            self.run(self._session.close(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
