"""HTTP limits the server does not enforce itself: request line, header and body sizes.

granian (the API's server) passes any request line, headers and body through; the line and
header limits are gunicorn's defaults, which the API had before, and the body limit is
OpenSearch's `http.max_content_length` (100mb), all answered in the OpenSearch envelope.
granian calls the app before it reads the body, so a body announced too large is refused
without being read; one sent chunked is cut off by werkzeug's MAX_CONTENT_LENGTH as it is read.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import LimitedStream

from api.errors import envelope
from common.errors import StatusError

MAX_REQUEST_LINE = 4094
MAX_HEADER_FIELD = 8190
MAX_HEADER_FIELDS = 100
MAX_CONTENT_LENGTH = 100 * 1024 * 1024
TOO_LARGE = f"The request body is larger than http.max_content_length [{MAX_CONTENT_LENGTH}]"


def check_request_size() -> None:
    """Refuse an over-long URI (414) or oversized headers (431) before anything else runs."""
    environ = request.environ
    if check_sizes(environ, request.content_length) is None:
        # A chunked body: granian marks its input terminated, so werkzeug would read it whole;
        # bound it here, before anything reads it (werkzeug then answers 413 past the limit).
        environ["wsgi.input"] = _BoundedBody(environ["wsgi.input"])


def check_sizes(environ: dict[str, Any], length: int | None) -> int | None:
    """Check the request line, the headers and a declared body length (413 past the limit).

    Return the body length, None for a body without one (chunked).
    """
    target = environ.get("RAW_URI") or (
        environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", "")
    )
    if len(target) > MAX_REQUEST_LINE:
        raise StatusError(f"URI longer than {MAX_REQUEST_LINE} bytes", status=414)
    # One pass over the WSGI environ: werkzeug's header view costs several times more.
    fields = 0
    for key, value in environ.items():
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            fields += 1
            if len(key) + len(value) > MAX_HEADER_FIELD:
                raise StatusError(
                    f"a header field is longer than {MAX_HEADER_FIELD} bytes", status=431
                )
    if fields > MAX_HEADER_FIELDS:
        raise StatusError(f"more than {MAX_HEADER_FIELDS} header fields", status=431)
    if length is not None and length > MAX_CONTENT_LENGTH:
        raise StatusError(TOO_LARGE, status=413)
    return length


class _BoundedBody(LimitedStream):
    """A chunked body, cut off one byte past the limit.

    werkzeug's LimitedStream.readall() returns `limit` bytes without looking further, so a
    body over the limit would be silently truncated: read one byte more and refuse if it came.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream, MAX_CONTENT_LENGTH + 1, is_max=True)

    def readall(self) -> bytes:
        body = super().readall()
        if len(body) > MAX_CONTENT_LENGTH:
            raise RequestEntityTooLarge()
        return body


def _too_large(error: RequestEntityTooLarge) -> tuple[Response, int]:
    return envelope(StatusError.error_type, TOO_LARGE, 413)


def register_limits(app: Flask) -> None:
    """Check every request's size first; bound the body of chunked requests as it is read."""
    app.before_request(check_request_size)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
