"""The ML Commons (or OpenSearch) transport action each route performs, as the Security plugin
sees it: the name a role must permit (common/security/roles.py) and a 403 quotes."""

from __future__ import annotations

from common.security.roles import ML

ML_PATH = "/_plugins/_ml/"
# Routes any authenticated user may call (the Security plugin's own endpoints).
OPEN_TO_ANY_USER = frozenset({"security.authinfo"})
ENDPOINT_ACTIONS: dict[str, str] = {
    "root.info": "cluster:monitor/main",
    "metrics": "cluster:monitor/prometheus/metrics",  # the prometheus-exporter plugin's
    "cluster.get_settings": "cluster:monitor/state",
    "cluster.put_settings": "cluster:admin/settings/update",
    "connectors.create": ML + "create_connector",
    "connectors.get": ML + "connectors/get",
    "connectors.update": ML + "connectors/update",
    "connectors.search": ML + "connectors/search",
    "connectors.delete": ML + "connectors/delete",
    "model_groups.register": ML + "register_model_group",
    "model_groups.get": ML + "model_groups/get",
    "model_groups.update": ML + "update_model_group",
    "model_groups.search": ML + "model_groups/search",
    "model_groups.delete": ML + "model_groups/delete",
    "models.register": ML + "register_model",
    "models.get": ML + "models/get",
    "models.update": ML + "models/update",
    "models.search": ML + "models/search",
    "models.delete": ML + "models/delete",
    "models.deploy": ML + "deploy_model",
    "models.undeploy_one": ML + "undeploy_models",
    "models.undeploy_many": ML + "undeploy_models",
    "predict.predict": ML + "predict",
    "tasks.get": ML + "tasks/get",
    "tasks.search": ML + "tasks/search",
    "tasks.delete": ML + "tasks/delete",
    "stats.stats": ML + "stats/nodes",
    "stats.profile": ML + "profile/nodes",
}


def action_for(endpoint: str | None, path: str) -> str | None:
    """The action a route performs; None when no permission is needed (no route matched,
    which answers its 400/405, or a route open to every authenticated user).

    A route added without an entry is still guarded: under /_plugins/_ml/ it is an ML
    action named after its endpoint (`controllers.get` is ML's `controllers/get`), which
    ml_full_access permits; anywhere else only all_access permits it.
    """
    if endpoint is None or endpoint in OPEN_TO_ANY_USER:
        return None
    known = ENDPOINT_ACTIONS.get(endpoint)
    if known is not None:
        return known
    if path.startswith(ML_PATH):
        return ML + endpoint.replace(".", "/")
    return "cluster:admin/modelgate/" + endpoint.replace(".", "/")
