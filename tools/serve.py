"""`modelgate api`: serve the Flask API with granian, one interpreter per worker process.

granian (a Rust HTTP server running the WSGI app on a pool of blocking threads) replaced
gunicorn's threaded workers: with the same app, 1,588 against 1,232 predicts/s at
concurrency 64 on the 2-core test machine (docs/decisions/0002-api-server-granian.md).
"""

from __future__ import annotations

import argparse

from granian import Granian
from granian.constants import Interfaces
from granian.log import LogLevels

from common.settings import Settings

# Seconds a stopping worker gets to finish the requests it holds; a worker still running then
# is killed, so this also bounds how long Ctrl-C of the stack takes (decision 0002).
STOP_GRACE_S = 5


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the api sub-command's flags."""
    parser.add_argument("--workers", type=int, help="API worker processes")
    parser.add_argument("--threads", type=int, help="request threads per worker")


def main(args: argparse.Namespace) -> int:
    """Serve until interrupted; the app reads its settings from the environment."""
    settings = Settings.from_env()
    Granian(
        "api.wsgi:app",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.WSGI,
        workers=args.workers or settings.api_workers,
        blocking_threads=args.threads or settings.api_threads,
        respawn_failed_workers=True,
        workers_kill_timeout=STOP_GRACE_S,
        log_level=LogLevels.warning,
    ).serve()
    return 0
