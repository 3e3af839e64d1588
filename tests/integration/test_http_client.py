"""The worker's HTTP client against a real local server: private-address rules at connect time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiohttp import web

from common.errors import IllegalArgumentError, RemoteModelError, RemoteTransportError
from workers.remote.http import ECHO_CHARS, Answer, HttpClient


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[HttpClient, int]]:
    client = HttpClient()

    async def start() -> web.AppRunner:
        app = web.Application()

        async def ok(_request: web.Request) -> web.Response:
            return web.json_response({"ok": True})

        async def big(request: web.Request) -> web.Response:
            status = int(request.query.get("status", "200"))
            headers = {"Location": "http://10.0.0.1/"} if 300 <= status < 400 else {}
            return web.Response(text="b" * 10_000, status=status, headers=headers)

        app.router.add_get("/ok", ok)
        app.router.add_get("/big", big)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    runner = client.run(start())
    port = runner.addresses[0][1]
    yield client, port
    client.run(runner.cleanup())
    client.close()


def get(client: HttpClient, url: str, *, allow_private: bool, max_body: int = 1_000_000) -> int:
    return fetch(client, url, allow_private=allow_private, max_body=max_body).status


def fetch(client: HttpClient, url: str, *, allow_private: bool, max_body: int) -> Answer:
    return client.run(
        client.send(
            "GET",
            url,
            headers={},
            body=None,
            connect_timeout=5,
            read_timeout=5,
            max_body=max_body,
            allow_private=allow_private,
        )
    )


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


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f.1", "0177.0.0.1", "127.0.0.1."])
@pytest.mark.parametrize("allow_private", [False, True])
def test_disguised_ipv4_literals_are_refused(
    served: tuple[HttpClient, int], host: str, allow_private: bool
) -> None:
    client, port = served
    with pytest.raises(IllegalArgumentError, match=f"not a canonical IP address: {host}"):
        get(client, f"http://{host}:{port}/ok", allow_private=allow_private)


@pytest.mark.parametrize(
    "host", ["[::127.0.0.1]", "[::ffff:7f00:1]", "[64:ff9b::7f00:1]", "[::]", "localhost."]
)
def test_private_literals_in_any_spelling_are_refused(
    served: tuple[HttpClient, int], host: str
) -> None:
    client, port = served
    with pytest.raises(IllegalArgumentError, match="private ip address"):
        get(client, f"http://{host}:{port}/ok", allow_private=False)


@pytest.mark.parametrize(("limit", "refused"), [(9_999, True), (10_000, False), (-1, False)])
def test_success_bodies_are_read_up_to_max_body(
    served: tuple[HttpClient, int], limit: int, refused: bool
) -> None:
    client, port = served
    url = f"http://127.0.0.1:{port}/big"
    if not refused:
        assert len(fetch(client, url, allow_private=True, max_body=limit).body) == 10_000
        return
    with pytest.raises(RemoteModelError, match=r"max_json_size \(9999 bytes\)") as caught:
        fetch(client, url, allow_private=True, max_body=limit)
    assert caught.value.status == 502


@pytest.mark.parametrize("status", [302, 404, 500])
def test_error_bodies_are_read_only_as_far_as_quoted_and_redirects_not_followed(
    served: tuple[HttpClient, int], status: int
) -> None:
    client, port = served
    url = f"http://127.0.0.1:{port}/big?status={status}"
    answer = fetch(client, url, allow_private=True, max_body=-1)
    assert (answer.status, answer.cut) == (status, True)
    assert len(answer.body) <= 4 * ECHO_CHARS
