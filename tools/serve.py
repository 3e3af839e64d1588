"""`modelgate api`: serve the Flask API with gunicorn's threaded workers."""

from __future__ import annotations

import argparse
import json
import socket
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication

from common.settings import Settings


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    """Gunicorn driven from code, so settings come from our Settings object."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from api import create_app  # imported in each worker after fork

        return create_app(self.settings)


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Answer errors gunicorn raises before Flask sees the request in the OpenSearch envelope.

    Gunicorn writes these (414 URI too long, 431 headers too large, 400 malformed request)
    as HTML through gunicorn.util.write_error, and offers no setting to change that; its
    worker calls the function through the module, so replacing it here covers them all.
    """
    error_type = "illegal_argument_exception" if status_int < 500 else "exception"
    cause = {"type": error_type, "reason": mesg or reason}
    body = json.dumps({"error": {"root_cause": [cause], **cause}, "status": status_int})
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json; charset=UTF-8\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, (head + body).encode("latin1", "replace"))


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the api sub-command's flags."""
    parser.add_argument("--workers", type=int, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, help="threads per worker")


def main(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    settings = Settings.from_env()
    options = {
        "bind": f"{settings.host}:{settings.port}",
        "workers": args.workers or settings.api_workers,
        "worker_class": "gthread",
        "threads": args.threads or settings.api_threads,
        "keepalive": 30,
        "graceful_timeout": 10,
        "timeout": int(settings.predict_timeout_s) + 30,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
    }
    gunicorn_util.write_error = write_json_error
    _Gunicorn(settings, options).run()
    return 0
