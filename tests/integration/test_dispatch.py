"""The API process's predict plumbing on a real Redis: dispatcher, reply listener, cached view."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from msgspec import structs

from api.dispatcher import Dispatcher
from api.listener import ReplyListener
from common.errors import QueueUnavailableError
from common.messages import PredictReply, PredictRequest
from common.records import FunctionName, MLModel, MLModelState, Node, NodeRole
from common.store import Store, connect, connect_for_blocking, connect_queue
from common.view import ClusterView
from tools.embedded_redis import EmbeddedRedis

THREADS = 64


@pytest.fixture
def store(redis_server: EmbeddedRedis) -> Iterator[Store]:
    prefix = f"dp{uuid.uuid4().hex[:8]}"
    client = connect(redis_server.url)
    yield Store(client, prefix, blocking=connect_for_blocking(redis_server.url), reply_ttl_s=30)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def _request(listener: ReplyListener, n: int) -> PredictRequest:
    return PredictRequest(
        reply_key=listener.inbox,
        request_id=f"req-{n}",
        queue="ml",
        deadline=time.time() + 10,
        model_id="m",
        generation=1,
        parameters={"n": n},
        trusted=[],
        private_ip_enabled=False,
    )


def _echo_node(store: Store, stop: threading.Event, taken: list[int]) -> None:
    """Answer every queued request, in shuffled batches, echoing its n back in the body."""
    queue = store.predicts.queue_key("ml")
    while not stop.is_set():
        raws = store.redis.rpop(queue, 50) or []
        random.shuffle(raws)
        for raw in raws:
            job = PredictRequest.decode(raw)
            taken.append(job.parameters["n"])
            reply = PredictReply(
                request_id=job.request_id,
                node="n",
                node_name="e",
                role="ml",
                body=str(job.parameters["n"]),
            )
            store.replies.push(job.reply_key, reply)
        if not raws:
            time.sleep(0.002)


def test_many_threads_each_get_their_own_answer_from_shared_pushes(store: Store):
    dispatcher, listener = Dispatcher(store.predicts), ReplyListener(store.replies)
    stop, taken = threading.Event(), []
    node = threading.Thread(target=_echo_node, args=(store, stop, taken), daemon=True)
    node.start()
    pushes_before = _calls(store, "lpush")

    def one(n: int) -> str | None:
        request = _request(listener, n)
        waiter = listener.expect(request.request_id)
        dispatcher.send(request.queue, request.encode())
        reply = waiter.wait(PredictReply, 10)
        listener.forget(waiter)
        return None if reply is None else reply.body

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            answers = list(pool.map(one, range(2000)))
    finally:
        stop.set()
        node.join()
        listener.close()
    assert answers == [str(n) for n in range(2000)]
    assert sorted(taken) == list(range(2000))  # each request queued exactly once
    # Combining: concurrent requests shared pushes (one LPUSH per push, not per request).
    assert _calls(store, "lpush") - pushes_before < 2000


def test_a_late_answer_for_a_caller_who_gave_up_is_dropped(store: Store):
    listener = ReplyListener(store.replies)
    waiter = listener.expect("gone")
    assert waiter.wait(PredictReply, 0.05) is None
    listener.forget(waiter)
    late = PredictReply(request_id="gone", node="n", node_name="e", role="ml", body="late")
    store.replies.push(listener.inbox, late)
    fresh = listener.expect("fresh")
    store.replies.push(listener.inbox, structs.replace(late, request_id="fresh", body="fresh"))
    reply = fresh.wait(PredictReply, 5)
    listener.close()
    assert reply is not None and reply.body == "fresh"


def test_a_failed_push_fails_every_request_in_it_at_once(tmp_path):
    server = EmbeddedRedis(tmp_path / "q", persistent=False)
    server.start()
    queues = Store(connect(server.url), "dq", queue=connect_queue(server.url))
    dispatcher = Dispatcher(queues.predicts)
    dispatcher.send("ml", b"{}")
    server.stop()
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: _send_error(dispatcher), range(8)))
    assert all(isinstance(o, redis.RedisError) for o in outcomes)
    assert time.monotonic() - started < 5  # the queue client gives up fast


def _send_error(dispatcher: Dispatcher) -> BaseException | None:
    try:
        dispatcher.send("ml", b"{}")
    except redis.RedisError as error:
        return error
    return None


def test_listener_fails_its_waiters_when_the_queue_server_goes_away(tmp_path):
    server = EmbeddedRedis(tmp_path / "q", persistent=False)
    server.start()
    store = Store(
        connect(server.url),
        "dl",
        queue=connect_queue(server.url),
        blocking=connect_for_blocking(server.url),
    )
    listener = ReplyListener(store.replies)
    waiters = [listener.expect(f"w{n}") for n in range(5)]
    time.sleep(0.2)  # the listener is blocked on the inbox
    server.stop()
    started = time.monotonic()
    try:
        for waiter in waiters:
            with pytest.raises(QueueUnavailableError) as caught:
                waiter.wait(PredictReply, 30)
            assert caught.value.status == 503
        assert time.monotonic() - started < 5
    finally:
        listener.close()


def _model(state: MLModelState = MLModelState.DEPLOYED) -> MLModel:
    return MLModel(
        name="m",
        model_group_id="g",
        algorithm=FunctionName.REMOTE,
        model_version="1",
        model_state=state,
        created_time=1,
        last_updated_time=1,
        is_hidden=False,
        connector_id="c",
    )


def _until(check, timeout_s: float = 2.0) -> float:
    """Poll check() every millisecond; return how long it took to hold."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, "the view never saw the change"
        time.sleep(0.001)
    return time.monotonic() - started


def test_view_sees_every_kind_of_change_within_milliseconds(store: Store):
    view = ClusterView(store, max_age_s=60)  # only notifications can refresh it in time
    store.models.put("m1", _model())
    assert view.model("m1") is not None
    _until(lambda: view._live)
    assert view.model("m1").model_state == MLModelState.DEPLOYED  # type: ignore[union-attr]
    store.models.update("m1", lambda m: structs.replace(m, model_state=MLModelState.UNDEPLOYED))
    took = [_until(lambda: view.model("m1").model_state == MLModelState.UNDEPLOYED)]  # type: ignore[union-attr]
    store.cluster_settings.write("persistent", {"plugins.ml_commons.only_run_on_ml_node": False})
    took.append(_until(lambda: view.cluster().only_run_on_ml_node is False))
    store.models.delete("m1")
    took.append(_until(lambda: view.model("m1") is None))
    assert view.nodes() == []
    store.nodes.id_for("ml-9", "n9")

    node = Node(
        id="n9", name="ml-9", role=NodeRole.ML, host="h", pid=1, started=1, last_seen=time.time()
    )
    store.nodes.beat(node)
    took.append(_until(lambda: [n.id for n in view.nodes()] == ["n9"]))
    store.nodes.forget("n9")
    took.append(_until(lambda: view.nodes() == []))
    assert max(took) < 0.5, took


def test_view_serves_repeated_reads_from_memory(store: Store):
    view = ClusterView(store, max_age_s=60)
    store.models.put("m2", _model())
    view.model("m2")
    _until(lambda: view._live)
    view.model("m2")
    gets_before = _calls(store, "get")
    for _ in range(200):
        assert view.model("m2") is not None
        view.cluster()
        view.nodes()
    assert _calls(store, "get") == gets_before


def test_a_read_racing_a_change_is_not_kept(store: Store):
    view = ClusterView(store, max_age_s=60)
    store.models.put("m3", _model())
    view.model("m3")
    _until(lambda: view._live)
    view.drop("model:m3")
    epoch = view._epoch

    def load_then_change() -> MLModel | None:
        found = store.models.get("m3")
        view.drop("model:m3")  # a notification arrives while the value is in flight
        return found

    assert view._cached("model:m3", load_then_change) is not None
    assert view._epoch > epoch and "model:m3" not in view._entries


def _calls(store: Store, command: str) -> int:
    stats = store.redis.info("commandstats").get(f"cmdstat_{command}", {})
    return int(stats.get("calls", 0))


def test_view_forgets_everything_when_its_subscription_drops(
    store: Store, redis_server: EmbeddedRedis
):
    view = ClusterView(store, subscriber=connect_for_blocking(redis_server.url), max_age_s=600)
    store.models.put("m4", _model())
    view.model("m4")
    _until(lambda: view._live)
    view.model("m4")
    assert "model:m4" in view._entries
    # Drop the subscription and change the model while it is down: the notification is lost.
    store.redis.client_kill_filter(_type="pubsub")
    store.models.update("m4", lambda m: structs.replace(m, model_state=MLModelState.UNDEPLOYED))
    took = _until(lambda: view.model("m4").model_state == MLModelState.UNDEPLOYED)  # type: ignore[union-attr]
    assert took < 2.0


def test_view_preloads_every_model_when_it_subscribes(store: Store):
    for n in range(20):
        store.models.put(f"p{n}", _model())
    view = ClusterView(store, max_age_s=600)
    view.cluster()  # first use subscribes, then loads every model in one read
    _until(lambda: view._live and "model:p19" in view._entries)
    gets_before = _calls(store, "get")
    assert all(view.model(f"p{n}") is not None for n in range(20))
    assert _calls(store, "get") == gets_before
