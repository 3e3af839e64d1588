"""WSGI entry point for servers that import an app object (`granian ... api.wsgi:app`)."""

from __future__ import annotations

import gc
import signal

from api import create_app

# This module is imported in each server worker process. Ctrl-C in a terminal reaches the whole
# process group; a worker interrupted that way stalls granian's stop for its kill timeout.
# Workers ignore it, and the server process, which gets it too, stops them in order.
signal.signal(signal.SIGINT, signal.SIG_IGN)
app = create_app()
# Everything built so far lives as long as the process: keep it out of the collector's scans,
# so a full collection under load walks only per-request garbage (shorter latency tails).
gc.freeze()
