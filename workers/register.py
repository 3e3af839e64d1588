"""Register a remote model: resolve its group, check its connector, write the record."""

from __future__ import annotations

import json
import logging
from typing import Any

from common.cluster_settings import effective
from common.deployment import start_deploy
from common.errors import MLCommonsError, NotFoundError
from common.ids import new_id
from common.model_groups import find_or_create_group
from common.nodes import alive, eligible
from common.store import CONNECTOR, MODEL, MODEL_GROUP, TASK, Doc, Store, now_ms
from common.tasks import is_final, set_state
from workers.runtime import Runtime

log = logging.getLogger(__name__)


def run(rt: Runtime, task_id: str, job: dict[str, Any]) -> None:
    """Run one registration; failures become a FAILED task with the reason."""
    task = rt.store.get(TASK, task_id)
    if task is None or is_final(task):
        return
    set_state(rt.store, task_id, "RUNNING", worker_node=[rt.node.id])
    model_id = job["model_id"]
    try:
        rt.store.put(MODEL, model_id, build_model(rt.store, job))
    except MLCommonsError as failure:
        set_state(rt.store, task_id, "FAILED", error=failure.reason)
        _answer(rt, job, {"error": failure.to_dict()})
        return
    set_state(rt.store, task_id, "COMPLETED", model_id=model_id)
    _answer(rt, job, {"model_id": model_id})
    if job.get("deploy"):
        deploy_after_register(rt, model_id)


def _answer(rt: Runtime, job: dict[str, Any], answer: dict[str, Any]) -> None:
    if job.get("reply_key"):
        rt.store.push_reply(job["reply_key"], answer, ttl_s=int(rt.settings.predict_timeout_s) + 5)


def build_model(store: Store, job: dict[str, Any]) -> Doc:
    """Return the model record for a registration job."""
    connector_id = job.get("connector_id")
    if connector_id and store.get(CONNECTOR, connector_id) is None:
        raise NotFoundError(f"Failed to find connector:{connector_id}")
    group_id = _group_for(store, job)
    stamp = now_ms()
    doc: Doc = {
        "name": job["name"],
        "model_group_id": group_id,
        "algorithm": "REMOTE",
        "model_version": str(store.next_group_version(group_id)),
    }
    if job.get("description") is not None:
        doc["description"] = job["description"]
    doc.update(
        model_state="REGISTERED",
        created_time=stamp,
        last_updated_time=stamp,
        last_registered_time=stamp,
        is_hidden=False,
    )
    for optional in ("deploy_setting", "is_enabled"):
        if optional in job:
            doc[optional] = job[optional]
    if "interface" in job:
        doc["interface"] = {
            k: v if isinstance(v, str) else json.dumps(v) for k, v in job["interface"].items()
        }
    if connector_id:
        doc["connector_id"] = connector_id
    else:
        doc["connector"] = job["connector"]
    return doc


def _group_for(store: Store, job: dict[str, Any]) -> str:
    group_id = job.get("model_group_id")
    if group_id:
        message = f"Failed to find model group with the provided model group id: {group_id}"
        store.require(MODEL_GROUP, group_id, message)
        return str(group_id)
    return find_or_create_group(store, new_id(), job["name"], job.get("description"))


def deploy_after_register(rt: Runtime, model_id: str) -> None:
    """Honour ?deploy=true: deploy on every live eligible node, if any."""
    cluster = effective(*rt.store.read_cluster_settings())
    nodes = eligible(
        alive(rt.store.nodes(), rt.settings.node_ttl_s), only_ml=cluster.only_run_on_ml_node
    )
    if not nodes:
        log.warning("model %s registered but not deployed: no eligible node", model_id)
        return
    start_deploy(rt.store, rt.celery, model_id, nodes)
