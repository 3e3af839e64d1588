"""Celery's jobs on either broker: a killed node's job comes back, RabbitMQ's queues and confirms.

MODELGATE_BROKER_URL=amqp://... moves register, deploy and undeploy jobs to RabbitMQ; records
and predicts stay on Redis. The RabbitMQ cases share the session's `rabbit_cluster` (its own
vhost); the broker-independent crash case runs on both.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from amqp.exceptions import MessageNacked
from celery import Celery
from kombu import Exchange, Queue
from kombu.exceptions import OperationalError

from common.deployment import start_deploy
from common.queueing import (
    QUEUE_ML,
    QUEUE_ML_OR_DATA,
    TASK_REGISTER,
    create_celery,
    job_queue_depths,
    node_queue,
)
from common.records import MLTaskState, Node
from common.settings import Settings
from tests.integration.cluster import Cluster, MockUpstream, wait_for
from tests.integration.rabbitmq import BROKERS, Vhost

SENDS = 5  # publishes into a capped queue: enough to pass its (loosely enforced) cap


@pytest.fixture
def celery(broker_gw: Cluster) -> Iterator[Celery]:
    """A client app on the cluster's broker, configured as the API's is."""
    app = create_celery(broker_gw.settings)
    yield app
    app.close()


def _node(gw: Cluster, node_id: str) -> Node:
    return next(node for node in gw.store.nodes.all() if node.id == node_id)


def _depth(app: Celery, queue: str) -> int:
    return job_queue_depths(app, [queue])[queue]


@pytest.mark.parametrize("broker_gw", BROKERS, indirect=True)
def test_the_job_of_a_node_killed_mid_job_comes_back_and_is_done(
    broker_gw: Cluster, celery: Celery, mock: MockUpstream
) -> None:
    """Acked late: a node killed (-9) while running a deploy job never acknowledged it, so the
    broker hands it out again (Redis: after the visibility timeout; RabbitMQ: when the node's
    connection closes) and the node, restarted under its name, finishes the deploy."""
    gw = broker_gw
    name = f"victim-{uuid.uuid4().hex[:6]}"
    victim_id = gw.start_node("ml", name)
    connector_id = gw.create_connector(parameters={"endpoint": mock.host, "model": "m"})
    model_id = gw.register(connector_id, name)
    store, queue = gw.store, node_queue(victim_id)
    victim = gw.nodes[name].process
    # The test holds the model's lifecycle lock, so the job stops mid-way (the node waits for
    # the lock to commit). The node is frozen while the deploy is planned, which itself needs
    # the lock, so that the job cannot finish before the test holds it.
    lock = store.deployments.lifecycle_lock(model_id)
    victim.send_signal(signal.SIGSTOP)
    try:
        task_id = start_deploy(store, celery, model_id, [_node(gw, victim_id)])
        # Left to the broker alone: the sweeper and a restarted node's own resume both look
        # for unfinished deploys among the active tasks, and would settle this one too.
        store.active_tasks.remove(task_id)
        assert lock.acquire()
    finally:
        victim.send_signal(signal.SIGCONT)
    try:
        running = wait_for(
            lambda: store.tasks.require(task_id, "task").state == MLTaskState.RUNNING,
            10,
            "the victim to start the deploy job",
        )
        assert running and store.deployments.results(task_id) == {}  # mid-job
        assert _depth(celery, queue) == 0  # taken, not acknowledged
        gw.kill_node(name)
    finally:
        lock.release()

    wait_for(lambda: _depth(celery, queue) == 1, 15, "the killed node's job back in its queue")
    assert gw.start_node("ml", name) == victim_id
    assert gw.task(task_id, until=("COMPLETED",))["state"] == "COMPLETED"
    assert gw.ok("GET", f"/_plugins/_ml/models/{model_id}")["model_state"] == "DEPLOYED"
    assert store.deployments.holders(model_id) == {victim_id}
    assert _depth(celery, queue) == 0
    gw.ok("POST", f"/_plugins/_ml/models/{model_id}/_undeploy")
    gw.stop_node(name)


@pytest.mark.parametrize("broker_gw", ["rabbitmq"], indirect=True)
def test_job_queues_are_of_the_configured_type_and_no_delay_queues_are_made(
    broker_gw: Cluster, rabbitmq_vhost: Vhost
) -> None:
    """The cluster's queues are quorum queues (the default); with
    MODELGATE_BROKER_QUEUE_TYPE=classic a queue is declared classic."""
    classic = create_celery(replace(broker_gw.settings, broker_queue_type="classic"))
    probe = f"probe-{uuid.uuid4().hex[:6]}"
    try:
        classic.send_task(TASK_REGISTER, args=["{}"], queue=probe)
        assert job_queue_depths(classic, [probe, "never-declared"]) == {
            probe: 1,
            "never-declared": 0,
        }
        types = rabbitmq_vhost.queue_types()
    finally:
        _delete_queue(classic, probe)
        classic.close()
    assert types[probe] == "classic"
    ml_node = broker_gw.node_id("ml-1")
    for queue in (QUEUE_ML, QUEUE_ML_OR_DATA, node_queue(str(ml_node))):
        assert types.get(queue) == "quorum", types
    # Celery's native delayed delivery (28 queues) is left out: no job has an ETA.
    assert not [name for name in types if name.startswith("celery_delayed")], types


def test_a_job_the_broker_does_not_take_is_an_error_not_a_silent_loss(
    rabbitmq_vhost: Vhost,
) -> None:
    """Publisher confirms: send_task returns once RabbitMQ has the job and raises when it
    refuses it (the API then answers 503 and fails the task). Here the queue is capped and
    rejects publishes; quorum queues enforce the cap loosely, so a few sends may still fit."""
    settings = Settings(redis_url="redis://127.0.0.1:1/0", broker_url=rabbitmq_vhost.url)
    confirmed, unconfirmed = create_celery(settings), create_celery(settings)
    unconfirmed.conf.broker_transport_options = {}  # Celery's default: fire and forget
    queue = f"capped-{uuid.uuid4().hex[:6]}"
    capped = {"x-queue-type": "quorum", "x-max-length": 1, "x-overflow": "reject-publish"}
    for app in (confirmed, unconfirmed):
        app.amqp.queues.add(Queue(queue, Exchange(queue), queue, queue_arguments=capped))
    try:
        outcomes = [_send(confirmed, queue) for _ in range(SENDS)]
        assert outcomes[0] == "taken" and "refused" in outcomes, outcomes
        # Without confirms the publisher never hears of a refusal.
        assert {_send(unconfirmed, queue) for _ in range(SENDS)} == {"taken"}
    finally:
        _delete_queue(confirmed, queue)
        confirmed.close()
        unconfirmed.close()


def _send(app: Celery, queue: str) -> str:
    try:
        app.send_task(TASK_REGISTER, args=["{}"], queue=queue)
    except OperationalError as error:  # kombu's wrapping of the broker's basic.nack
        assert isinstance(error.__context__, MessageNacked), repr(error.__context__)
        return "refused"
    return "taken"


def _delete_queue(app: Celery, queue: str) -> None:
    with app.connection_for_write() as connection:
        connection.default_channel.queue_delete(queue)
