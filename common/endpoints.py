"""Endpoint policy: the trusted-URL regex list and private-address detection."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from common.errors import IllegalArgumentError

UNTRUSTED = "Connector URL is not matching the trusted connector endpoint regex"


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def is_trusted(url: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """True when url fully matches one pattern (Java Matcher.matches semantics)."""
    return any(_compiled(p).fullmatch(url) for p in patterns)


def require_trusted(url: str, patterns: tuple[str, ...] | list[str]) -> None:
    """Raise the ML Commons 400 when url matches no trusted pattern."""
    if not patterns:
        raise IllegalArgumentError(
            "Trusted connector endpoints regex is not configured. "
            "Please set plugins.ml_commons.trusted_connector_endpoints_regex."
        )
    if not is_trusted(url, patterns):
        raise IllegalArgumentError(UNTRUSTED)


def is_private_address(address: str) -> bool:
    """True for loopback, private, link-local, unspecified and site-local addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    site_local = isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified or site_local
