"""One asyncio loop and one aiohttp ClientSession per worker process, shared by all requests.

The loop runs on a thread of its own. The predict consumer's coroutines run on it directly;
code on other threads (the worker's start-up and shutdown) hands coroutines over with run().
aiohttp errors are translated here into RemoteTransportError (the connection failed) or a 502
RemoteModelError (the upstream's answer is unusable); nothing above sees aiohttp, and every
connection's addresses pass the private-address check at connect time (GuardedResolver).

What an upstream sends is bounded here: a success body is read in chunks and counted after
decompression, up to the predict's max_json_size; an error body only as far as a reason
quotes it (quote()). Redirects are never followed, and nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import codecs
import contextvars
import ctypes
import re
import socket
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import uvloop
from yarl import URL

from common.endpoints import (
    NOT_CANONICAL,
    is_disguised_ipv4,
    is_private_address,
    is_private_host,
)
from common.errors import IllegalArgumentError, RemoteModelError, RemoteTransportError

T = TypeVar("T")

# Upstream text quoted in an error reason: enough to diagnose, never a whole page.
ECHO_CHARS = 2048
# An error body is read this far (UTF-8 needs up to 4 bytes a character), then dropped.
ECHO_BYTES = 4 * ECHO_CHARS
READ_CHUNK = 64 * 1024
# glibc's M_MMAP_THRESHOLD (mallopt parameter -3) and its own initial value.
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 128 * 1024
_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


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


def return_large_frees_to_os() -> None:
    """Pin glibc's mmap threshold so every large buffer is unmapped when freed.

    By default glibc raises the threshold (up to 32 MiB) each time a large block is freed,
    so the next upstream bodies, parsed values and replies land in the heap, and the heap
    keeps the memory: one 50 MB answer left a node hundreds of MB larger for good. A fixed
    threshold trades a few mmap calls per large answer for a node that shrinks back.
    """
    # CDLL(None): the symbols already loaded into this process, the C library's among them.
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:  # glibc (macOS has no such knob, nor the problem)
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


def _check_literal_host(host: str, *, allow_private: bool) -> None:
    """Refuse what the resolver never sees: IP literals (aiohttp connects to them directly)."""
    if is_disguised_ipv4(host):
        raise IllegalArgumentError(NOT_CANONICAL.format(host=host))
    if not allow_private and is_private_host(host):
        raise PrivateAddressError(host)


def is_success(status: int) -> bool:
    """ML Commons' success range: 200 to 300 inclusive."""
    return 200 <= status <= 300


def quote(text: str, *, cut: bool = False) -> str:
    """Return upstream text fit for an error reason: at most ECHO_CHARS, "..." when shortened."""
    if len(text) > ECHO_CHARS or cut:
        return text[:ECHO_CHARS] + "..."
    return text


def too_large(limit: int) -> RemoteModelError:
    """The error for an answer over plugins.ml_commons.max_json_size."""
    return RemoteModelError(
        f"Remote service response is larger than plugins.ml_commons.max_json_size ({limit} bytes)",
        status=502,
    )


@dataclass(frozen=True)
class Answer:
    """What the remote model sent back; body is only a prefix when cut is True."""

    status: int
    body: str
    cut: bool = False


class HttpClient:
    """The process's event loop thread and HTTP session."""

    def __init__(self, *, max_connections: int = 512) -> None:
        self._max_connections = max_connections
        return_large_frees_to_os()
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
        # aiohttp resends a GET/PUT/DELETE once when the connection drops after the request
        # went out, so the upstream may run a predict twice; ML Commons' client never does.
        # Retries belong to the connector's client_config alone. (No public switch exists.)
        self._session._retry_connection = False

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
        max_body: int,
        allow_private: bool = False,
    ) -> Answer:
        """Send one request; read at most max_body decoded bytes of a success (-1: no cap).

        Transport failures become RemoteTransportError, unusable answers a 502.
        """
        timeout = aiohttp.ClientTimeout(sock_connect=connect_timeout, sock_read=read_timeout)
        _ALLOW_PRIVATE.set(allow_private)
        try:
            host = URL(url, encoded=True).host or ""
        except ValueError:
            # Not quoted: the URL may carry credentials.
            raise IllegalArgumentError("Invalid remote model URL") from None
        try:
            _check_literal_host(host, allow_private=allow_private)
            return await self._exchange(method, url, headers, body, timeout, max_body)
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
        max_body: int,
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
                return await _read_answer(response, max_body)
        except aiohttp.ClientResponseError as error:
            # The status line or headers did not parse (or broke aiohttp's limits).
            reason = quote(_redacted(error.message))
            raise RemoteModelError(
                f"Remote service sent an invalid HTTP response: {reason}", status=502
            ) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            detail = quote(_redacted(str(error) or type(error).__name__))
            raise RemoteTransportError(f"Error communicating with remote model: {detail}") from None

    def close(self) -> None:
        """Close the session and stop the loop thread."""
        if self._session is not None:
            self.run(self._session.close(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


async def _read_answer(response: aiohttp.ClientResponse, max_body: int) -> Answer:
    charset = response.charset
    if not is_success(response.status):
        # Only a reason quotes an error body: read that much and drop the connection.
        prefix, cut = await _read_prefix(response.content, ECHO_BYTES)
        return Answer(response.status, _decode(prefix, charset, final=not cut), cut)
    declared = response.content_length
    if 0 <= max_body < (declared or 0) and "Content-Encoding" not in response.headers:
        raise too_large(max_body)
    raw = await _read_capped(response.content, max_body)
    return Answer(response.status, _decode(raw, charset))


async def _read_capped(content: aiohttp.StreamReader, limit: int) -> bytearray:
    """Read the whole decoded body, failing as soon as it passes limit (-1: no limit).

    aiohttp inflates gzip/deflate as it streams, so the count is of decoded bytes: a small
    compressed bomb fails at the limit, not after filling memory.
    """
    body = bytearray()
    async for chunk in content.iter_chunked(READ_CHUNK):
        body += chunk
        if 0 <= limit < len(body):
            raise too_large(limit)
    return body


async def _read_prefix(content: aiohttp.StreamReader, size: int) -> tuple[bytes, bool]:
    """Read up to size bytes; True when the body went on past them."""
    prefix = bytearray()
    async for chunk in content.iter_chunked(READ_CHUNK):
        prefix += chunk
        if len(prefix) > size:
            return bytes(prefix[:size]), True
    return bytes(prefix), False


def _decode(raw: bytes | bytearray, declared: str | None, *, final: bool = True) -> str:
    """raw as text in its declared charset when that is a text encoding, else UTF-8.

    Never raises: replacement characters stand in for undecodable bytes. A non-final
    decode (a prefix) drops a character cut in half instead of mangling it.
    """
    if declared:
        try:
            # bytes.decode refuses codecs that are no text encoding (zlib, rot13, base64:
            # zlib would inflate past every cap) with LookupError; b"" skips the lookup.
            b"a".decode(declared, errors="replace")
            return codecs.getincrementaldecoder(declared)(errors="replace").decode(raw, final)
        except (LookupError, UnicodeError, ValueError, TypeError):
            pass  # a charset Python lacks or cannot replace with (idna): read it as UTF-8
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(raw, final)


def _redacted(text: str) -> str:
    """Replace every URL in text by its origin: a query or path may carry credentials."""

    def origin(match: re.Match[str]) -> str:
        try:
            return str(URL(match.group(0)).origin())
        except ValueError:
            return "<url>"

    return _URL_IN_TEXT.sub(origin, text)
