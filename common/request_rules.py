"""Rules an outbound request to a remote model must meet: URL, headers and body charset.

Checked at connector create on what the connector fixes, and again by the node on the request
it builds, so a caller's input is refused with a 400 naming the problem instead of failing
inside the HTTP client.
"""

from __future__ import annotations

import codecs
import re
from urllib.parse import urlsplit

from common.errors import IllegalArgumentError
from common.trusted_regex import MAX_URL_CHARS

# ML Commons' executor accepts these, case-insensitively.
METHODS = ("POST", "GET", "PUT", "DELETE")
URI_ERROR = (
    "Encountered error when trying to create uri from endpoint in ml connector. "
    "Please update the endpoint in connection configuration"
)
URL_TOO_LONG = f"Connector URL is longer than {MAX_URL_CHARS} characters"
USERINFO = (
    "Connector URL must not contain user info (user:password@host); "
    "send credentials in a header with ${credential.*} instead"
)
CONTROL_CHARACTER = "Header value contains invalid control character"
MAX_HEADER_BYTES = 8 * 1024
MAX_HEADERS_BYTES = 64 * 1024
# RFC 9110 token characters: anything else (":", spaces, CR/LF, non-ASCII) would split or
# corrupt the header block on the wire.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# One regex search instead of a test per character: checked on every predict's URL and
# headers. \s in a str pattern is str.isspace(): the same Unicode whitespace.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
# Framing and hop-by-hop headers belong to the node's HTTP client: a connector's
# Content-Length or Transfer-Encoding could desynchronise a pooled upstream connection.
_RESERVED_HEADERS = frozenset(
    "content-length transfer-encoding connection keep-alive proxy-connection te trailer "
    "upgrade".split()
)


def check_url_text(url: str) -> None:
    """Refuse an over-long URL, whitespace or control characters, and user info."""
    if len(url) > MAX_URL_CHARS:
        raise IllegalArgumentError(URL_TOO_LONG)
    if _SPACE_OR_CONTROL.search(url):
        raise IllegalArgumentError(URI_ERROR)
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        raise IllegalArgumentError(URI_ERROR) from None
    # Credentials in the URL would be shown by GET, and "trusted-host@other-host" would pass a
    # regex written for trusted-host while the request goes to other-host.
    if "@" in netloc:
        raise IllegalArgumentError(USERINFO)


def check_fixed_headers(headers: dict[str, str]) -> None:
    """Refuse header names and template values that can never be sent (at connector create)."""
    for name, value in headers.items():
        check_header_name(name)
        check_header_value(value)


def check_headers(headers: dict[str, str]) -> None:
    """Check a built request's headers: names, values, and ML Commons' size limits."""
    total = 0
    for name, value in headers.items():
        check_header_name(name)
        check_header_value(value)
        size = len(name.encode()) + len(value.encode("utf-8", "replace"))
        if size > MAX_HEADER_BYTES:
            raise IllegalArgumentError(f"Header '{name}' is larger than {MAX_HEADER_BYTES} bytes")
        total += size
    if total > MAX_HEADERS_BYTES:
        raise IllegalArgumentError(f"Headers are larger than {MAX_HEADERS_BYTES} bytes in total")


def check_header_name(name: str) -> None:
    """Refuse a name that is not an HTTP token, or one the HTTP client must set itself."""
    if _TOKEN.fullmatch(name) is None:
        raise IllegalArgumentError(
            f"Header name {name!r} is not a valid HTTP header name "
            "(letters, digits and !#$%&'*+-.^_`|~ only)"
        )
    if name.lower() in _RESERVED_HEADERS:
        raise IllegalArgumentError(
            f"Header '{name}' cannot be set in a connector: the gateway's HTTP client sets it"
        )


def check_header_value(value: str) -> None:
    """Refuse CR, LF, NUL and other control characters (the value is never quoted back)."""
    if _CONTROL.search(value):
        raise IllegalArgumentError(CONTROL_CHARACTER)


def charset_codec(name: str | None) -> str:
    """Return the codec for a `charset` parameter (default UTF-8), or refuse it with a 400."""
    try:
        codec = codecs.lookup(name or "utf-8").name
        "".encode(codec)  # refuses codecs that are not text encodings (rot13, base64, ...)
    except (LookupError, UnicodeError, ValueError):
        raise IllegalArgumentError(f"Unsupported charset: {name}") from None
    return codec


def encode_body(body: str, codec: str) -> bytes:
    """Encode the filled body; characters the charset cannot hold are the caller's 400."""
    try:
        return body.encode(codec)
    except UnicodeError:
        # The body may hold credentials: say what failed, never quote it.
        raise IllegalArgumentError(
            f"The request body has characters that charset {codec} cannot encode"
        ) from None
