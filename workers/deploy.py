"""Deploy on this node: load connector and credentials into memory; last node settles the task."""

from __future__ import annotations

import json
import logging

from common.errors import MLCommonsError, NotFoundError
from common.store import CONNECTOR, MODEL, TASK, Doc, Store, now_ms
from common.tasks import is_final, set_state
from workers.model_cache import PreparedModel
from workers.runtime import Runtime

log = logging.getLogger(__name__)


def prepare_model(rt: Runtime, model_id: str) -> PreparedModel:
    """Load a model's connector and decrypt its credentials; note that this node holds it."""
    model = rt.store.require(MODEL, model_id, "Failed to find model")
    connector = model.get("connector")
    if connector is None:
        connector_id = model.get("connector_id", "")
        connector = rt.store.require(
            CONNECTOR, connector_id, f"Failed to find connector:{connector_id}"
        )
    credential = rt.cipher.decrypt(connector.get("credential") or {})
    rt.store.add_model_node(model_id, rt.node.id)
    return PreparedModel(int(model.get("last_updated_time", 0)), connector, credential)


def run(rt: Runtime, task_id: str, model_id: str) -> None:
    """Deploy a model on this node and report; a finished task is left alone (redelivery)."""
    task = rt.store.get(TASK, task_id)
    if task is None or is_final(task):
        return
    if task["state"] == "CREATED":
        set_state(rt.store, task_id, "RUNNING")
    error: str | None = None
    try:
        rt.cache.put(model_id, prepare_model(rt, model_id))
    except MLCommonsError as failure:
        error = failure.reason
    report(rt.store, task_id, rt.node.id, error)


def report(store: Store, task_id: str, node_id: str, error: str | None) -> None:
    """Record one node's outcome; the node whose report is the last one settles the task."""
    task = store.require(TASK, task_id, "Failed to find task")
    count = store.record_node_result(task_id, node_id, error)
    if count == len(task["worker_node"]):
        settle(store, task_id, str(task["model_id"]))


def settle(store: Store, task_id: str, model_id: str) -> None:
    """Set the deploy task and model states from every node's outcome."""
    results = store.node_results(task_id)
    failed = {node: err for node, err in results.items() if err is not None}
    served = len(results) - len(failed)
    if not failed:
        task_state, model_state = "COMPLETED", "DEPLOYED"
    elif served:
        task_state, model_state = "COMPLETED_WITH_ERROR", "PARTIALLY_DEPLOYED"
    else:
        task_state, model_state = "FAILED", "DEPLOY_FAILED"
    extra = {"error": json.dumps(failed)} if failed else {}
    set_state(store, task_id, task_state, **extra)

    def mark(model: Doc) -> Doc | None:
        if model.get("model_state") != "DEPLOYING":
            return None  # undeployed (or redeployed) meanwhile: that newer decision stands
        stamp = now_ms()
        model.update(
            model_state=model_state,
            current_worker_node_count=served,
            last_deployed_time=stamp,
            last_updated_time=stamp,
        )
        return model

    try:
        store.update(MODEL, model_id, mark)
    except NotFoundError:
        log.warning("model %s vanished during deploy task %s", model_id, task_id)
