"""The importable worker app (`celery -A workers.celery_app`), built on first use from the env."""

from __future__ import annotations

import functools
import sys

from celery import Celery

from common.settings import Settings, SettingsError
from workers.app import create_worker_app

APP_NAMES = ("app", "celery")


@functools.cache
def worker_app() -> Celery:
    """Build the worker app from MODELGATE_* settings, once per process."""
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        # Under bare `celery -A workers.celery_app`, one line instead of Celery's traceback.
        print(f"modelgate: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    return create_worker_app(settings)


def __getattr__(name: str) -> Celery:
    # PEP 562: importing this module reads nothing; Celery's find_app reads `app` (or `celery`).
    if name in APP_NAMES:
        return worker_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
