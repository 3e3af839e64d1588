"""Endpoint policy: the trusted-URL regex list, unambiguous hosts, private-address detection.

A connector URL is checked as text (the trusted regex) and connected to as an address (the
private-address rule). The two agree only if the text names one address plainly, so legacy
numeric IPv4 spellings (`127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`, `127.0.0.1.`), which
resolvers map onto an address the regex never saw, are refused outright. IPv6 addresses that
carry an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) are judged by that address too.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import urlsplit

from common import trusted_regex
from common.errors import IllegalArgumentError

UNTRUSTED = "Connector URL is not matching the trusted connector endpoint regex"
NOT_CANONICAL = (
    "Remote inference host is not a canonical IP address: {host}. "
    "Write an IPv4 address as four decimal numbers, e.g. 127.0.0.1"
)

# WHATWG URL parsing: a host whose last label is a number (decimal, 0x-hex or 0-octal) is an
# IPv4 address, whatever the other labels look like.
_NUMERIC_LABEL = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_trusted(url: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """True when url fully matches one pattern (Java Matcher.matches semantics), by RE2:
    linear time, so no pattern can stall a node or the API (common/trusted_regex.py)."""
    return trusted_regex.is_trusted(url, patterns)


def require_trusted(url: str, patterns: tuple[str, ...] | list[str]) -> None:
    """Raise the ML Commons 400 when url matches no trusted pattern or hides its address."""
    if not patterns:
        raise IllegalArgumentError(
            "Trusted connector endpoints regex is not configured. "
            "Please set plugins.ml_commons.trusted_connector_endpoints_regex."
        )
    # A model's URL is mostly the same on every predict: the verdict is remembered (short
    # URLs only, so the cache stays small), and the regexes run once per URL and pattern set.
    refusal = (
        _refusal(url, tuple(patterns)) if len(url) <= _CACHED_URL_CHARS else _judge(url, patterns)
    )
    if refusal is not None:
        raise IllegalArgumentError(refusal)


_CACHED_URL_CHARS = 512


@lru_cache(maxsize=1024)
def _refusal(url: str, patterns: tuple[str, ...]) -> str | None:
    return _judge(url, patterns)


def _judge(url: str, patterns: tuple[str, ...] | list[str]) -> str | None:
    """The reason url may not be called, or None."""
    if not is_trusted(url, patterns):
        return UNTRUSTED
    try:
        require_canonical_host(url)
    except IllegalArgumentError as error:
        return error.reason
    return None


def require_canonical_host(url: str) -> None:
    """Raise a 400 when url's host is an IPv4 address spelled any way but a.b.c.d."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return  # not a URL at all: the URL rules report it
    if host is not None and is_disguised_ipv4(host):
        raise IllegalArgumentError(NOT_CANONICAL.format(host=host))


def is_disguised_ipv4(host: str) -> bool:
    """True for a host a URL parser reads as IPv4 that is not plain dotted-decimal."""
    if ":" in host:
        return False  # IPv6, even when it ends in dotted IPv4 (::ffff:127.0.0.1)
    last = host.removesuffix(".").rsplit(".", 1)[-1]
    numeric = _NUMERIC_LABEL.fullmatch(last) is not None
    return numeric and _CANONICAL_IPV4.fullmatch(host) is None


def is_private_host(host: str) -> bool:
    """True for an IP literal that is private, or a localhost name (RFC 6761: never public).

    Other names are decided when they are resolved, address by address.
    """
    literal = host.strip("[]")
    try:
        return is_private_address(literal)
    except ValueError:
        name = host.lower().removesuffix(".")
        return name == "localhost" or name.endswith(".localhost")


def is_private_address(address: str) -> bool:
    """True for loopback, private, shared, link-local, unspecified, multicast and site-local.

    An IPv6 address that carries an IPv4 address is private when that address is.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return any(_is_non_public(each) for each in _meanings(ip))


def _meanings(ip: IPAddress) -> list[IPAddress]:
    """The addresses a packet to ip may really reach."""
    if isinstance(ip, ipaddress.IPv4Address):
        return [ip]
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # :: and ::1 are themselves, not IPv4
        return [low32]
    if ip in _NAT64:
        return [low32]
    if ip.sixtofour is not None:
        return [ip, ip.sixtofour]
    if ip.teredo is not None:
        return [ip, ip.teredo[1]]
    return [ip]


def _is_non_public(ip: IPAddress) -> bool:
    site_local = isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local
    return not ip.is_global or ip.is_private or ip.is_multicast or site_local
