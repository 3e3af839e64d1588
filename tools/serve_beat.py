"""`modelgate beat`: Celery beat, which sends the cluster's periodic sync-up job.

Run one per cluster, beside the nodes (`modelgate up` starts one). A second beat is
harmless: the job claims each sync-up interval in Redis (workers/sync_up.py), so it runs once
per interval whatever number of beats send it. The schedule lives in memory (an interval, no
schedule file to keep).
"""

from __future__ import annotations

import argparse
import logging

from common.settings import Settings
from workers import celery_app

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """The beat sub-command has no flags of its own (tools.cli adds --log-level)."""


def main(args: argparse.Namespace) -> int:
    """Run Celery beat until interrupted."""
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
    argv = [
        "--quiet",
        "beat",
        "--scheduler",
        "celery.beat:Scheduler",  # in memory: the only entry is a fixed interval
        "--loglevel",
        settings.log_level,
    ]
    celery_app.worker_app().start(argv)
    return 0
