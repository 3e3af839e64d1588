"""WSGI entry point for servers that import an app object (`granian ... api.wsgi:app`)."""

from __future__ import annotations

import signal

from api import create_app
from common.interpreter import settle_interpreter

# This module is imported in each server worker process. Ctrl-C in a terminal reaches the whole
# process group; a worker interrupted that way stalls granian's stop for its kill timeout.
# Workers ignore it, and the server process, which gets it too, stops them in order.
signal.signal(signal.SIGINT, signal.SIG_IGN)
app = create_app()
settle_interpreter()
