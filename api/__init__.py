"""The Flask REST API: validate, persist, enqueue, respond."""

from __future__ import annotations

from flask import Flask

from api.auth_hook import register_auth
from api.errors import register_error_handlers
from api.fast_predict import PredictFastPath
from api.limits import register_limits
from api.metrics import register_metrics
from api.routes import BLUEPRINTS
from api.services import Services
from common.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the API app; settings default to the environment."""
    settings = settings or Settings.from_env()
    # No static route (the API serves JSON only), and "//" is not merged by a 308 HTML redirect.
    app = Flask(__name__, static_folder=None)
    app.url_map.merge_slashes = False
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep ML Commons field order
    app.url_map.strict_slashes = False  # "_predict/" works as "_predict"
    app.extensions["modelgate"] = svc = Services.from_settings(settings)
    register_error_handlers(app)
    register_limits(app)
    register_auth(app, settings)  # after the size checks: an oversized body is refused first
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_metrics(app, svc)  # after the blueprints: it wraps the predict views
    # Last: it takes the auth and metrics objects registered above.
    app.wsgi_app = PredictFastPath(app)  # type: ignore[method-assign]
    return app
