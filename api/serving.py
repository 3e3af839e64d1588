"""What predict and batch predict both require of a model before a node may run it."""

from __future__ import annotations

from api.services import Services
from common.cluster_settings import ClusterSettings
from common.deployment import NOT_READY, start_deploy
from common.errors import IllegalArgumentError
from common.records import MLModel, Node

AUTO_DEPLOY_GUARD_S = 10  # concurrent first predicts start one deployment, not one each


def ensure_serving(
    svc: Services, model_id: str, model: MLModel, nodes: list[Node], cluster: ClusterSettings
) -> None:
    """Refuse a model that is not deployed, or start its auto-deploy (the first predict's)."""
    if model.is_serving:
        return
    if not cluster.auto_deploy:
        raise IllegalArgumentError(NOT_READY)
    if model.deploy_setting is not None and model.deploy_setting.is_auto_deploy_enabled is False:
        raise IllegalArgumentError(
            "Auto deployment disabled for this model, please deploy model first "
            f"Model ID: {model_id}"
        )
    # The deploy jobs and this request run side by side: the node that takes the predict
    # loads the model itself, so the request does not wait for the deployment.
    if svc.store.deployments.claim_auto_deploy(model_id, ttl_s=AUTO_DEPLOY_GUARD_S):
        start_deploy(svc.store, svc.celery, model_id, nodes)
