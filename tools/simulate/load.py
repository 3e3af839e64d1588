"""Drive predicts through the simulated cluster, phase by phase, and record who served each.

Each phase sets only_run_on_ml_node and task_dispatch_policy, then keeps `concurrency`
predicts in flight for its duration. Beside the load: a sampler reads the predict lists'
depths, and, when asked, a node is killed and the moment the cluster sees it dead (its last
heartbeat plus the node TTL: the API stops routing to it, the sweeper moves its lists) is
noted as the failover moment.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from common.queueing import QUEUE_ML, QUEUE_ML_OR_DATA, node_queue
from common.store import Store
from tools.simulate.cluster import SimCluster
from tools.simulate.spec import Scenario, SimSpec

SAMPLE_EVERY_S = 0.2
SETTLE_S = 0.3  # lets every API view see a settings change before the phase's clock starts
REQUEST_TIMEOUT_S = 60.0
PREDICT_BODY = {"parameters": {"messages": [{"role": "user", "content": "Hello!"}]}}


@dataclass
class Recording:
    """Everything a run observed; times are seconds since the load started."""

    started_wall: float
    node_ids: dict[str, str]  # name -> id
    phases: list[dict[str, Any]] = field(default_factory=list)
    predicts: list[dict[str, Any]] = field(default_factory=list)
    depths: list[dict[str, Any]] = field(default_factory=list)
    kill: dict[str, Any] | None = None

    def now(self) -> float:
        return round(time.time() - self.started_wall, 4)


async def _predict(session: aiohttp.ClientSession, url: str, rec: Recording, phase: int) -> None:
    sent = time.time()
    try:
        async with session.post(url, json=PREDICT_BODY) as response:
            await response.read()
            status = response.status
            node = response.headers.get("X-Modelgate-Node-Name", "")
            role = response.headers.get("X-Modelgate-Node-Role", "")
    except (aiohttp.ClientError, TimeoutError):
        status, node, role = 0, "", ""
    done = time.time()
    rec.predicts.append(
        {
            "t": round(sent - rec.started_wall, 4),
            "latency_ms": round((done - sent) * 1000, 3),
            "status": status,
            "node": node,
            "role": role,
            "phase": phase,
        }
    )


async def _phase(
    session: aiohttp.ClientSession,
    api: str,
    model_id: str,
    spec: SimSpec,
    scenario: Scenario,
    rec: Recording,
) -> None:
    body = {
        "persistent": {
            "plugins.ml_commons.only_run_on_ml_node": scenario.only_run_on_ml_node,
            "plugins.ml_commons.task_dispatch_policy": scenario.policy,
        }
    }
    async with session.put(f"{api}/_cluster/settings", json=body) as response:
        response.raise_for_status()
    await asyncio.sleep(SETTLE_S)
    index = len(rec.phases)
    start = rec.now()
    ends = time.monotonic() + spec.phase_s
    url = f"{api}/_plugins/_ml/models/{model_id}/_predict"

    async def client() -> None:
        while time.monotonic() < ends:
            await _predict(session, url, rec, index)

    await asyncio.gather(*(client() for _ in range(spec.concurrency)))
    rec.phases.append(
        {
            "index": index,
            "label": scenario.label,
            "only_run_on_ml_node": scenario.only_run_on_ml_node,
            "policy": scenario.policy,
            "start": start,
            "end": rec.now(),
        }
    )


def _depths(store: Store, node_ids: dict[str, str]) -> dict[str, dict[str, int]]:
    """LLEN of the shared lists, each node's own list and each node's in-flight list."""
    lists = {QUEUE_ML: QUEUE_ML, QUEUE_ML_OR_DATA: QUEUE_ML_OR_DATA}
    lists.update({f"own:{name}": node_queue(node_id) for name, node_id in node_ids.items()})
    pipe = store.queue_redis.pipeline(transaction=False)
    for queue in lists.values():
        pipe.llen(store.predicts.queue_key(queue))
    for node_id in node_ids.values():
        pipe.llen(store.predicts.inflight_key(node_id))
    counts = [int(n) for n in pipe.execute()]
    waiting = dict(zip(lists, counts[: len(lists)], strict=True))
    in_flight = dict(zip(node_ids, counts[len(lists) :], strict=True))
    return {"waiting": waiting, "in_flight": in_flight}


async def _sample(store: Store, rec: Recording, stop: asyncio.Event) -> None:
    while not stop.is_set():
        depths = await asyncio.to_thread(_depths, store, rec.node_ids)
        rec.depths.append({"t": rec.now(), **depths})
        try:
            await asyncio.wait_for(stop.wait(), SAMPLE_EVERY_S)
        except TimeoutError:
            pass


async def _kill(cluster: SimCluster, store: Store, spec: SimSpec, rec: Recording) -> None:
    assert spec.kill_node is not None and spec.kill_at_s is not None
    await asyncio.sleep(max(0.0, spec.kill_at_s - rec.now()))
    await asyncio.to_thread(cluster.kill, spec.kill_node)
    rec.kill = {"node": spec.kill_node, "at": rec.now(), "failover_at": None}
    node_id = rec.node_ids[spec.kill_node]
    while True:  # until the cluster sees the node dead
        nodes = await asyncio.to_thread(store.nodes.all)
        killed = next((node for node in nodes if node.id == node_id), None)
        live = {node.id for node in await asyncio.to_thread(cluster.live_nodes, store)}
        if killed is None or node_id not in live:
            seen_dead = time.time() if killed is None else killed.last_seen
            ttl = 0.0 if killed is None else cluster.settings.node_ttl_s
            rec.kill["failover_at"] = round(seen_dead + ttl - rec.started_wall, 4)
            return
        await asyncio.sleep(SAMPLE_EVERY_S / 2)


async def drive(cluster: SimCluster, spec: SimSpec, model_id: str) -> Recording:
    """Run every scenario in turn under load; return what was observed."""
    store = cluster.store()
    ids = {node.name: node.id for node in cluster.live_nodes(store)}
    rec = Recording(started_wall=time.time(), node_ids=ids)
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample(store, rec, stop))
    killer = asyncio.create_task(_kill(cluster, store, spec, rec)) if spec.kill_node else None
    connector = aiohttp.TCPConnector(limit=spec.concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            for scenario in spec.scenarios:
                await _phase(session, cluster.api, model_id, spec, scenario, rec)
        if killer is not None and rec.kill is not None:
            await killer  # the kill happened: wait for the cluster to see the node dead
    finally:
        stop.set()
        await sampler
        if killer is not None and not killer.done():
            killer.cancel()  # --kill-at past the end of the load: no kill
    return rec
