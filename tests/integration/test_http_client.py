"""The worker's HTTP client against a real local server: private-address rules at connect time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiohttp import web

from common.errors import IllegalArgumentError, RemoteTransportError
from workers.remote.http import HttpClient


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[HttpClient, int]]:
    client = HttpClient()

    async def start() -> web.AppRunner:
        app = web.Application()

        async def ok(_request: web.Request) -> web.Response:
            return web.json_response({"ok": True})

        app.router.add_get("/ok", ok)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    runner = client.run(start())
    port = runner.addresses[0][1]
    yield client, port
    client.run(runner.cleanup())
    client.close()


def get(client: HttpClient, url: str, *, allow_private: bool) -> int:
    answer = client.run(
        client.send(
            "GET",
            url,
            headers={},
            body=None,
            connect_timeout=5,
            read_timeout=5,
            allow_private=allow_private,
        )
    )
    return answer.status


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_private_hosts_refused_unless_allowed(served: tuple[HttpClient, int], host: str) -> None:
    client, port = served
    with pytest.raises(IllegalArgumentError, match=f"private ip address: {host}"):
        get(client, f"http://{host}:{port}/ok", allow_private=False)
    assert get(client, f"http://{host}:{port}/ok", allow_private=True) == 200


def test_refused_connection_is_a_transport_error(served: tuple[HttpClient, int]) -> None:
    client, _ = served
    with pytest.raises(RemoteTransportError, match="Error communicating with remote model"):
        get(client, "http://127.0.0.1:9/ok", allow_private=True)
