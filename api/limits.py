"""HTTP limits the server does not enforce itself: request line and header sizes.

granian (the API's server) passes any request line and headers through; these are
gunicorn's defaults, which the API had before, answered in the OpenSearch envelope.
"""

from __future__ import annotations

from flask import Flask, request

from common.errors import StatusError

MAX_REQUEST_LINE = 4094
MAX_HEADER_FIELD = 8190
MAX_HEADER_FIELDS = 100


def check_request_size() -> None:
    """Refuse an over-long URI (414) or oversized headers (431) before anything else runs."""
    environ = request.environ
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


def register_limits(app: Flask) -> None:
    """Check every request's size first."""
    app.before_request(check_request_size)
