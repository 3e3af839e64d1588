"""WSGI entry point for servers that import an app object (`granian ... api.wsgi:app`)."""

from __future__ import annotations

from api import create_app
from common.interpreter import settle_interpreter

app = create_app()
settle_interpreter()
