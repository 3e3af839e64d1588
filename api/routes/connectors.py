"""/_plugins/_ml/connectors: create, get, update, search, delete."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from api.auth import current_user
from api.routes import guard
from api.routes.body import json_body
from api.routes.search import as_is, delete_response, search_response
from api.schemas import ConnectorSchema, ConnectorUpdateSchema, load
from api.services import services
from common import connectors as rules
from common.errors import ConflictError, MLValidationError, StatusError
from common.ids import new_id
from common.records import now_ms
from common.security import connector_access
from common.security.access import AccessRequest
from common.updates import update_connector, update_response

blueprint = Blueprint("connectors", __name__, url_prefix="/_plugins/_ml/connectors")
INDEX = ".plugins-ml-connector"
DISABLED = (
    "Remote Inference is currently disabled. To enable it, update the setting "
    '"plugins.ml_commons.remote_inference_enabled" to true.'
)


def require_remote_inference() -> None:
    """Refuse remote work while plugins.ml_commons.remote_inference.enabled is false."""
    if not services().cluster().remote_inference_enabled:
        raise StatusError(DISABLED, status=400)


def validate_connector(body: dict[str, Any], *, standalone: bool) -> None:
    """Run every connector rule in ML Commons' order."""
    rules.check_required(body, standalone=standalone)
    rules.check_aws(body)
    if not standalone and not body.get("actions"):
        raise StatusError(
            "Connector endpoint is required when creating a remote model without connector id!",
            status=400,
        )
    rules.check_actions(body, services().cluster().trusted_endpoints)
    if not standalone:  # a standalone connector's access fields are checked by create
        rules.check_access_fields(body)


@blueprint.post("/_create")
def create() -> dict[str, Any]:
    """Validate, encrypt credentials, store; answer with the new connector_id."""
    require_remote_inference()
    body = json_body(required=True, empty_message="Create Connector request has empty body")
    connector = load(ConnectorSchema, body)
    validate_connector(connector, standalone=True)
    svc = services()
    user = current_user()
    doc = rules.build_document(connector, svc.cipher, now_ms())
    if guard.connector_rules_on(svc, user):
        assert user is not None
        access = connector_access.on_create(AccessRequest.of(connector), user)
        doc = rules.with_access(doc, access.owner, access.access, access.backend_roles)
    else:
        rules.check_access_fields(connector)
    connector_id = new_id()
    svc.store.connectors.put(connector_id, doc)
    return {"connector_id": connector_id}


@blueprint.get("/<connector_id>")
def get(connector_id: str) -> dict[str, Any]:
    """Return a connector without its credential."""
    message = f"Failed to find connector with the provided connector id: {connector_id}"
    svc = services()
    connector = svc.store.connectors.require(connector_id, message)
    if not guard.may_use_connector(svc, connector):
        raise StatusError(connector_access.NO_ACCESS, status=403)
    return rules.public_view(connector)


@blueprint.put("/<connector_id>")
def update(connector_id: str) -> dict[str, Any]:
    """Merge a partial connector into a stored one no served model uses."""
    require_remote_inference()
    body = json_body(
        required=True, empty_message="Failed to update connector: Request body is empty"
    )
    svc = services()
    trusted = svc.cluster().trusted_endpoints
    update_connector(
        svc.store,
        svc.cipher,
        connector_id,
        load(ConnectorUpdateSchema, body),
        trusted,
        allowed=lambda connector: guard.may_use_connector(svc, connector),
        access_control=guard.connector_rules_on(svc, current_user()),
    )
    return update_response(INDEX, connector_id)


@blueprint.route("/_search", methods=["GET", "POST"])
def search() -> dict[str, Any]:
    """Search connectors with the query DSL; credentials are never included.

    Under connector access control a non-admin sees (and counts) only what they may access.
    """
    svc = services()
    visible = connector_access.visible(current_user(), svc.view.cluster().connector_access_control)
    pairs = svc.store.connectors.viewed(rules.public_view)
    return search_response(pairs, INDEX, as_is, visible=visible)


@blueprint.delete("/<connector_id>")
def delete(connector_id: str) -> dict[str, Any]:
    """Delete a connector no model uses."""
    svc = services()
    store = svc.store
    if guard.connector_rules_on(svc, current_user()):
        connector = store.connectors.get(connector_id)
        if connector is not None and not guard.may_use_connector(svc, connector):
            raise MLValidationError(connector_access.NO_DELETE)
    users = [mid for mid, m in store.models.all() if m.connector_id == connector_id]
    if users:
        raise ConflictError(
            f"{len(users)} models are still using this connector, please delete or update "
            f"the models first: [{', '.join(users)}]"
        )
    return delete_response(INDEX, connector_id, found=store.connectors.delete(connector_id))
