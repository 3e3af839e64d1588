"""Hostile upstream behaviours under /hostile/: what a broken or malicious model endpoint sends.

Each route answers one kind of trouble, tuned by query parameters: any status (999, 600, a
3xx with a Location), a body of any size (optionally gzip, as a bomb), JSON nested N deep,
arbitrary bytes under any content type, a connection reset mid-body or before any answer,
a body that never ends, enormous headers. Bodies are streamed, never built whole, so the
mock itself stays small whatever it is asked to send.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import struct
import zlib
from collections.abc import Iterator
from functools import lru_cache

from aiohttp import web

CHUNK = 64 * 1024
MIB = 1024 * 1024
FLOAT_TEXT = b"0.123456789,"


def _int(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be an integer") from None


async def status(request: web.Request) -> web.StreamResponse:
    """/hostile/status/{code}: that status (0..999, even nonsense), body from ?body=."""
    code = int(request.match_info["code"])
    headers = {"Location": request.query["location"]} if "location" in request.query else {}
    body = request.query.get("body", f'{{"status": {code}}}')
    return web.Response(status=code, text=body, content_type="application/json", headers=headers)


def _big_chunks(size: int, kind: str) -> Iterator[bytes]:
    """About size bytes of valid JSON (a long string or a float array), or plain text."""
    head, tail, unit = {
        "string": (b'{"data": "', b'"}', b"x"),
        "floats": (b'{"data": [', b"0]}", FLOAT_TEXT),
        "text": (b"", b"", b"y"),
    }[kind]
    units = max(0, size - len(head) - len(tail)) // len(unit)
    per_block = CHUNK // len(unit)
    whole, rest = divmod(units, per_block)
    yield head
    block = unit * per_block
    for _ in range(whole):
        yield block
    yield unit * rest
    yield tail


async def big(request: web.Request) -> web.StreamResponse:
    """/hostile/big?bytes=N&kind=string|floats|text&status=S: a large body, streamed."""
    size = _int(request, "bytes", MIB)
    kind = request.query.get("kind", "string")
    if kind not in ("string", "floats", "text"):
        raise web.HTTPBadRequest(text="kind must be string, floats or text")
    response = web.StreamResponse(status=_int(request, "status", 200))
    response.content_type = "text/plain" if kind == "text" else "application/json"
    await response.prepare(request)
    for chunk in _big_chunks(size, kind):
        await response.write(chunk)
    await response.write_eof()
    return response


@lru_cache(maxsize=8)
def _gzip_bomb(mib: int) -> bytes:
    """A gzip member that inflates to mib MiB of zeros, about 1 KiB per MiB.

    One MiB is deflated once with a full flush (which resets the compressor, so the block
    stands alone) and repeated: building a 1 GiB bomb costs one CRC pass, not a compression.
    """
    zeros = bytes(MIB)
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = raw.compress(zeros) + raw.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    last = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty final block
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, (mib * MIB) & 0xFFFFFFFF)
    return header + block * mib + last + trailer


async def gzip_bomb(request: web.Request) -> web.StreamResponse:
    """/hostile/gzip?mib=N: Content-Encoding gzip that inflates to N MiB."""
    body = _gzip_bomb(_int(request, "mib", 256))
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    return web.Response(body=body, headers=headers)


async def deep(request: web.Request) -> web.StreamResponse:
    """/hostile/deep?depth=N: JSON arrays nested N deep."""
    depth = _int(request, "depth", 10_000)
    return web.Response(text="[" * depth + "]" * depth, content_type="application/json")


async def raw_body(request: web.Request) -> web.StreamResponse:
    """/hostile/bytes?b64=...&type=...&encoding=...&status=S: exactly these bytes, so labelled."""
    body = base64.urlsafe_b64decode(request.query.get("b64", ""))
    response = web.Response(body=body, status=_int(request, "status", 200))
    response.headers["Content-Type"] = request.query.get("type", "application/json")
    if "encoding" in request.query:  # a label only: the bytes are sent as given
        response.headers["Content-Encoding"] = request.query["encoding"]
    return response


def _reset(request: web.Request) -> None:
    """Drop the connection with a TCP RST (linger 0), not a clean close."""
    transport = request.transport
    assert transport is not None
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def reset(request: web.Request) -> web.StreamResponse:
    """/hostile/reset?after=N: promise 1 MiB, send N bytes of it, then reset the connection."""
    await request.read()
    response = web.StreamResponse(headers={"Content-Length": str(MIB)})
    response.content_type = "application/json"
    await response.prepare(request)
    await response.write(b'{"data": "' + b"z" * _int(request, "after", 1000))
    await asyncio.sleep(0.05)  # let the bytes leave before the reset
    _reset(request)
    return response


async def drop(request: web.Request) -> web.StreamResponse:
    """/hostile/drop: read the whole request, then reset the connection without answering."""
    await request.read()
    _reset(request)
    return web.Response()


async def trickle(request: web.Request) -> web.StreamResponse:
    """/hostile/trickle?interval_ms=N: a 200 whose body never ends, one byte per interval."""
    interval = _int(request, "interval_ms", 200) / 1000
    response = web.StreamResponse()
    response.content_type = "application/json"
    await response.prepare(request)
    await response.write(b'{"data": "')
    try:
        while True:  # until the client gives up
            await asyncio.sleep(interval)
            await response.write(b"t")
    except ConnectionResetError:  # aiohttp's ClientConnectionResetError included
        return response


async def huge_headers(request: web.Request) -> web.StreamResponse:
    """/hostile/headers?bytes=N&count=C: C headers of N bytes each."""
    size, count = _int(request, "bytes", 100_000), _int(request, "count", 1)
    headers = {f"X-Huge-{i}": "h" * size for i in range(count)}
    return web.json_response({"ok": True}, headers=headers)


def routes() -> list[web.RouteDef]:
    """Every hostile route, for any method."""
    return [
        web.route("*", r"/hostile/status/{code:\d{1,4}}", status),
        web.route("*", "/hostile/big", big),
        web.route("*", "/hostile/gzip", gzip_bomb),
        web.route("*", "/hostile/deep", deep),
        web.route("*", "/hostile/bytes", raw_body),
        web.route("*", "/hostile/reset", reset),
        web.route("*", "/hostile/drop", drop),
        web.route("*", "/hostile/trickle", trickle),
        web.route("*", "/hostile/headers", huge_headers),
    ]
