"""`modelgate api`: serve the Flask API with gunicorn's threaded workers."""

from __future__ import annotations

import argparse
from typing import Any

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
    _Gunicorn(settings, options).run()
    return 0
