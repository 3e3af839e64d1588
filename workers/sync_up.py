"""The cluster's periodic sync-up (ML Commons' sync_up cron): undeploy models idle past their
deploy_setting.model_ttl_minutes, then read running batch jobs' status from their providers
(ML Commons' MLBatchTaskUpdateJob), so a batch task completes without anyone reading it.

Celery beat sends the job every second; the job runs at most once per
plugins.ml_commons.sync_up_job_interval_in_seconds (0 turns it off), claimed in Redis, so one
beat or several, and however many nodes take the job, each interval runs it once.
"""

from __future__ import annotations

import logging

from common.cluster_settings import effective
from common.deployment import undeploy
from common.nodes import alive
from common.records import MLModelState, now_ms
from common.store import Store
from workers.batch import refresh_active
from workers.runtime import Runtime

log = logging.getLogger(__name__)
# DEPLOYING is left alone: a deploy in progress is not idle, its TTL starts once it is served.
EXPIRABLE = frozenset({MLModelState.DEPLOYED, MLModelState.PARTIALLY_DEPLOYED})
MINUTE_MS = 60_000


def run(rt: Runtime) -> list[str]:
    """Run one sync-up if this interval has not had one; return the models undeployed."""
    cluster = effective(*rt.store.cluster_settings.read())
    interval = cluster.sync_up_interval_s
    if interval <= 0 or not rt.store.model_access.claim_sync_up(interval):
        return []
    expired = expire_idle_models(rt, now_ms())
    if cluster.batch_inference_enabled:  # as a GET of a batch task, which is refused otherwise
        # Spend at most one interval on it, so this run ends before the next one is due.
        refresh_active(rt, cluster, budget_s=interval)
    return expired


def expire_idle_models(rt: Runtime, now: int) -> list[str]:
    """Undeploy every served model whose last use (or deploy) is older than its TTL."""
    store = rt.store
    expired = [
        model_id
        for model_id, minutes in store.model_access.ttls().items()
        if _idle_past(store, model_id, minutes * MINUTE_MS, now)
    ]
    if expired:
        live = [n.id for n in alive(store.nodes.all(), rt.settings.node_ttl_s)]
        for model_id in expired:
            undeploy(store, rt.celery, model_id, live)
            log.info("undeployed model %s: idle past its model_ttl_minutes", model_id)
    return expired


def _idle_past(store: Store, model_id: str, ttl_ms: int, now: int) -> bool:
    model = store.models.get(model_id)
    if model is None:
        store.model_access.forget(model_id)  # deleted meanwhile
        return False
    if model.model_state not in EXPIRABLE:
        return False
    used = max(store.model_access.last_used(model_id) or 0, model.last_deployed_time or 0)
    return now - used >= ttl_ms
