"""WSGI entry point for servers that import an app object (`granian ... api.wsgi:app`)."""

from __future__ import annotations

import gc

from api import create_app

app = create_app()
# Everything built so far lives as long as the process: keep it out of the collector's scans,
# so a full collection under load walks only per-request garbage (shorter latency tails).
gc.freeze()
