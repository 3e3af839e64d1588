"""Tests for common.endpoints: disguised IPv4 hosts, private addresses in every spelling."""

from __future__ import annotations

import pytest

from common.endpoints import (
    NOT_CANONICAL,
    UNTRUSTED,
    is_disguised_ipv4,
    is_private_address,
    is_private_host,
    require_canonical_host,
    require_trusted,
)
from common.errors import IllegalArgumentError

ANY = (r"^https?://.*$",)


@pytest.mark.parametrize(
    "host",
    [
        "127.1",  # a.b: b fills the last three bytes
        "127.0.1",
        "2130706433",  # one 32-bit number
        "0x7f.1",  # hexadecimal
        "0x7f000001",
        "0177.0.0.1",  # octal
        "127.0.0.1.",  # trailing dot
        "01.2.3.4",
        "1.2.3.4.5",
        "10.0.0.256",
        "example.123",  # the last label decides, per the WHATWG URL standard
        "foo.0x",
    ],
)
def test_disguised_ipv4_hosts(host: str) -> None:
    assert is_disguised_ipv4(host)
    with pytest.raises(IllegalArgumentError) as caught:
        require_canonical_host(f"http://{host}:8080/v1")
    assert caught.value.reason == NOT_CANONICAL.format(host=host)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "8.8.8.8",
        "0.0.0.0",
        "api.openai.com",
        "1e100.net",
        "localhost.",
        "::ffff:127.0.0.1",  # IPv6 with a dotted tail: not IPv4
        "::1",
        "${parameters.endpoint}",  # a create-time URL still waiting for its parameters
    ],
)
def test_plain_hosts_are_not_disguised(host: str) -> None:
    assert not is_disguised_ipv4(host)


def test_require_trusted_checks_the_regex_first_then_the_host() -> None:
    with pytest.raises(IllegalArgumentError, match=UNTRUSTED):
        require_trusted("http://127.1/x", (r"^https://api\.openai\.com/.*$",))
    with pytest.raises(IllegalArgumentError, match="not a canonical IP address: 127.1"):
        require_trusted("http://127.1/x", ANY)
    require_trusted("http://127.0.0.1:9/x", ANY)
    require_trusted("http://[::1]:9/x", ANY)
    require_trusted("http://[bad/x", ANY)  # unparseable: left to the URL rules


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("::127.0.0.1", True),  # IPv4-compatible
        ("::ffff:127.0.0.1", True),  # IPv4-mapped
        ("::ffff:7f00:1", True),
        ("64:ff9b::7f00:1", True),  # NAT64 well-known prefix
        ("64:ff9b::a00:1", True),
        ("2002:7f00:1::", True),  # 6to4 of 127.0.0.1
        ("2002:a00:1::1", True),  # 6to4 of 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", True),  # Teredo
        ("0.0.0.0", True),
        ("0.1.2.3", True),
        ("::", True),
        ("::1", True),
        ("100.64.0.1", True),  # shared address space (carrier NAT, cloud metadata)
        ("224.0.0.1", True),
        ("ff02::1", True),
        ("fc00::1", True),
        ("fec0::1", True),
        ("64:ff9b::808:808", False),  # NAT64 of 8.8.8.8
        ("2002:808:808::", False),
        ("::8.8.8.8", False),
        ("::ffff:8.8.8.8", False),
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
    ],
)
def test_private_addresses_in_every_spelling(address: str, expected: bool) -> None:
    assert is_private_address(address) is expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("localhost.", True),
        ("LOCALHOST", True),
        ("db.localhost", True),
        ("[::1]", True),
        ("[::ffff:127.0.0.1]", True),
        ("127.0.0.1", True),
        ("8.8.8.8", False),
        ("localhost.example.com", False),  # a name: the resolver decides at connect time
        ("api.openai.com", False),
    ],
)
def test_private_hosts_known_without_resolving(host: str, expected: bool) -> None:
    assert is_private_host(host) is expected
