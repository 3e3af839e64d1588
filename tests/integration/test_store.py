"""The store against a real Redis: keys under one prefix, typed records, the reply rule."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from msgspec import structs

from common.errors import NotFoundError
from common.messages import JobReply, PredictReply, PredictRequest
from common.records import MLTaskState, MLTaskType
from common.settings import Settings
from common.store import Store, connect, connect_for_blocking
from common.tasks import new_task, set_state
from tools.embedded_redis import EmbeddedRedis


@pytest.fixture
def store(redis_server: EmbeddedRedis) -> Iterator[Store]:
    prefix = f"st{uuid.uuid4().hex[:8]}"
    settings = Settings(redis_url=redis_server.url, key_prefix=prefix, predict_timeout_s=7)
    client = connect(redis_server.url)
    yield Store(
        client,
        prefix,
        blocking=connect_for_blocking(redis_server.url),
        reply_ttl_s=settings.reply_ttl_s,
    )
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def _request(store: Store, queue: str = "ml") -> PredictRequest:
    return PredictRequest(
        reply_key=store.replies.new_inbox(),
        request_id="r1",
        queue=queue,
        deadline=time.time() + 5,
        model_id="m",
        generation=1,
        parameters={"prompt": "hi"},
        trusted=[],
        private_ip_enabled=False,
    )


def test_every_concept_writes_under_the_prefix(store: Store):
    task = new_task(MLTaskType.REGISTER_MODEL, is_async=False)
    store.tasks.put("t1", task)
    store.active_tasks.add("t1")
    store.group_names.claim("g", "g1")
    store.group_names.next_version("g1")
    store.cluster_settings.write("persistent", {"plugins.ml_commons.only_run_on_ml_node": False})
    store.nodes.id_for("ml-1", "n1")
    store.deployments.add_holder("m", "n1")
    store.deployments.record_result("t1", "n1", None)
    request = _request(store)
    store.predicts.push_many({request.queue: [request.encode()]})
    store.replies.push(store.replies.new_inbox(), JobReply(request_id="r", model_id="m"))
    store.master_key.claim("k")
    keys = set(store.redis.scan_iter("*"))
    mine = {k for k in keys if k.startswith(store.keys.prefix + ":")}
    assert len(mine) >= 12
    assert all(k.split(":")[0] == store.keys.prefix for k in mine)


def test_an_inbox_has_one_ttl_rule_and_hands_out_answers_in_order(store: Store):
    inbox = store.replies.new_inbox()
    for n in range(3):
        store.replies.push(inbox, JobReply(request_id=f"r{n}", model_id="m"))
    assert 0 < store.redis.ttl(inbox) <= 7 + 5
    taken = store.replies.take(inbox, timeout_s=1.0, most=2)
    assert [JobReply.decode(raw).request_id for raw in taken] == ["r0", "r1"]
    assert [
        JobReply.decode(raw).request_id for raw in store.replies.take(inbox, timeout_s=1.0, most=9)
    ] == ["r2"]
    started = time.monotonic()
    assert store.replies.take(inbox, timeout_s=0.3, most=9) == []
    assert time.monotonic() - started >= 0.25


def test_a_take_wakes_on_an_answer_pushed_later(store: Store):
    inbox = store.replies.new_inbox()
    reply = PredictReply(request_id="r", node="n", node_name="ml-1", role="ml", body="{}")
    timer = threading.Timer(0.2, store.replies.push, args=(inbox, reply))
    timer.start()
    started = time.monotonic()
    assert [PredictReply.decode(r) for r in store.replies.take(inbox, timeout_s=5, most=9)] == [
        reply
    ]
    assert time.monotonic() - started < 2.0
    timer.join()


def test_record_update_and_delete(store: Store):
    store.tasks.put("t", new_task(MLTaskType.REGISTER_MODEL, is_async=False))
    store.active_tasks.add("t")
    done = set_state(store, "t", MLTaskState.COMPLETED, model_id="m")
    assert store.tasks.get("t") == done and done.model_id == "m"
    assert "t" not in store.active_tasks.older_than(-60)
    unchanged = store.tasks.update("t", lambda task: None)
    assert unchanged == done
    assert store.tasks.delete("t") and not store.tasks.delete("t")
    with pytest.raises(NotFoundError):
        store.tasks.update("t", lambda task: structs.replace(task, error="x"))


def test_requeue_puts_readable_requests_back_and_drops_unreadable_ones(store: Store):
    inflight = store.predicts.inflight_key("dead-node")
    good = _request(store, queue="ml_or_data")
    store.redis.rpush(inflight, good.encode(), "not a request", '{"v":99}')
    assert store.predicts.requeue_inflight("dead-node") == 1
    assert store.redis.llen(inflight) == 0
    queued = store.redis.lrange(store.predicts.queue_key("ml_or_data"), 0, -1)
    assert [PredictRequest.decode(raw) for raw in queued] == [good]


def _second_process_store(store: Store, redis_server: EmbeddedRedis) -> Store:
    """Another process's handles on the same records: its own connection and snapshot."""
    return Store(connect(redis_server.url), store.keys.prefix)


def test_all_sees_every_write_made_through_another_store(store: Store, redis_server: EmbeddedRedis):
    other = _second_process_store(store, redis_server)
    first = new_task(MLTaskType.REGISTER_MODEL, is_async=False)
    store.tasks.put("t1", first)
    assert [i for i, _ in other.tasks.all()] == ["t1"]  # fills other's snapshot
    store.tasks.put("t2", new_task(MLTaskType.DEPLOY_MODEL, is_async=False))
    assert [i for i, _ in other.tasks.all()] == ["t1", "t2"]
    set_state(store, "t1", MLTaskState.FAILED, error="boom")
    assert dict(other.tasks.all())["t1"].state == MLTaskState.FAILED
    assert dict(other.tasks.viewed(lambda t: t.state))["t1"] == MLTaskState.FAILED
    store.tasks.delete("t2")
    assert [i for i, _ in other.tasks.all()] == ["t1"]


def test_a_wiped_and_refilled_redis_is_not_mistaken_for_the_snapshot(
    store: Store, redis_server: EmbeddedRedis
):
    other = _second_process_store(store, redis_server)
    store.tasks.put("t1", new_task(MLTaskType.REGISTER_MODEL, is_async=False))
    assert [i for i, _ in other.tasks.all()] == ["t1"]
    client = connect(redis_server.url)
    for key in client.scan_iter(f"{store.keys.prefix}:*"):
        client.delete(key)
    # The same number of writes as before: only the epoch tells the two apart.
    store.tasks.put("t9", new_task(MLTaskType.REGISTER_MODEL, is_async=False))
    assert [i for i, _ in other.tasks.all()] == ["t9"]


def test_views_are_built_once_per_snapshot(store: Store):
    store.tasks.put("t1", new_task(MLTaskType.REGISTER_MODEL, is_async=False))
    built: list[str] = []

    def view(task: object) -> str:
        built.append("x")
        return "view"

    assert list(store.tasks.viewed(view)) == [("t1", "view")]
    assert list(store.tasks.viewed(view)) == [("t1", "view")]
    assert built == ["x"]
    store.tasks.put("t2", new_task(MLTaskType.REGISTER_MODEL, is_async=False))
    assert [i for i, _ in store.tasks.viewed(view)] == ["t1", "t2"]
    assert built == ["x", "x", "x"]
