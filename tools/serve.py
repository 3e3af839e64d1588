"""`modelgate api`: serve the Flask API with granian, one interpreter per worker process.

granian (a Rust HTTP server running the WSGI app on a pool of blocking threads) replaced
gunicorn's threaded workers: with the same app, 1,588 against 1,232 predicts/s at
concurrency 64 on the 2-core test machine (docs/decisions/0002-api-server-granian.md).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import multiprocessing
import multiprocessing.util
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from granian import Granian
from granian.constants import Interfaces, SSLProtocols
from granian.log import LogLevels

from common.interpreter import die_with_parent
from common.metrics import MULTIPROC_ENV
from common.security.exposure import check_exposure, users_warning
from common.settings import Settings
from tools.arguments import positive_int

APP = "api.wsgi:app"
# A stopping worker first finishes the requests it holds. A predict waits at most the predict
# timeout for its answer (then 504), so with this margin on top every request in flight gets
# a response before a worker still running is killed; an idle worker stops at once.
STOP_MARGIN_S = 3


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the api sub-command's flags."""
    parser.add_argument("--workers", type=positive_int, help="API worker processes")
    parser.add_argument("--threads", type=positive_int, help="request threads per worker")


def load_app(target: str) -> Any:
    """Load the WSGI app in a granian worker process, bound to the server process.

    The worker leaves the terminal's process group: a Ctrl-C then reaches only the server,
    which stops its workers with one signal. A worker signalled twice (by the terminal and by
    the server) could miss its graceful stop and wait out the kill timeout. It also dies with
    the server, so a server killed outright leaves no worker holding the port.
    """
    end_on_stop_signals()  # again: a worker not started by fork has no after-fork hook
    os.setpgid(0, 0)
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid is not None:
        die_with_parent(parent.pid)
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def end_on_stop_signals(*_: object) -> None:
    """Until granian installs a worker's own handlers, end the worker on a stop signal.

    The server's handlers, inherited through fork, would swallow it: the worker would go on
    to serve and be killed only at the kill timeout. A worker that has served nothing yet can
    just end. Installed right after the fork (multiprocessing's after-fork hook, before
    granian's own start-up in the worker) and again as the app loads.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _end_now)


class _ForkHook:
    """The object multiprocessing's after-fork registry holds (it must be weak-referable)."""


_FORK_HOOK = _ForkHook()


def _end_now(signum: int, frame: object) -> None:
    os._exit(0)


@contextlib.contextmanager
def metrics_files(enabled: bool) -> Iterator[None]:
    """Give the worker processes one multi-process metrics directory, empty at each start.

    Set before any worker starts (prometheus_client picks its mode when first imported),
    and never imported here: forked workers would inherit the single-process mode. A
    directory named in PROMETHEUS_MULTIPROC_DIR is emptied of the last run's files; without
    one, a private directory lives as long as the server.
    """
    if not enabled:
        os.environ.pop(MULTIPROC_ENV, None)
        yield
        return
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):  # counts of a previous run are not this one's
            stale.unlink()
        yield
        return
    with tempfile.TemporaryDirectory(prefix="modelgate-metrics-") as private:
        os.environ[MULTIPROC_ENV] = private
        try:
            yield
        finally:
            os.environ.pop(MULTIPROC_ENV, None)


def tls_options(settings: Settings) -> dict[str, Any]:
    """granian's HTTPS arguments when a certificate is configured; TLS 1.2 and up, as
    OpenSearch accepts (granian's default minimum, 1.3, would refuse older clients)."""
    if settings.tls_cert_file is None:
        return {}
    return {
        "ssl_cert": settings.tls_cert_file,
        "ssl_key": settings.tls_key_file,
        "ssl_protocol_min": SSLProtocols.tls12,
    }


def main(args: argparse.Namespace) -> int:
    """Serve until interrupted; the app reads its settings from the environment."""
    settings = Settings.from_env()
    multiprocessing.util.register_after_fork(_FORK_HOOK, end_on_stop_signals)
    check_exposure(settings)
    if warning := users_warning(settings):
        print(f"modelgate: {warning}", file=sys.stderr, flush=True)
    with metrics_files(settings.metrics):
        Granian(
            APP,
            address=settings.host,
            port=settings.port,
            interface=Interfaces.WSGI,
            workers=args.workers or settings.api_workers,
            blocking_threads=args.threads or settings.api_threads,
            respawn_failed_workers=True,
            workers_kill_timeout=math.ceil(settings.predict_timeout_s) + STOP_MARGIN_S,
            log_level=LogLevels.warning,
            **tls_options(settings),
        ).serve(target_loader=load_app)
    return 0
