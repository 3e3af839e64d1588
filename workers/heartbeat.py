"""Announce this node in Redis every few seconds, and sweep up after dead nodes."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import redis

from common.records import Node, NodeRole
from common.stores.node_stats import NodeCounters
from workers.runtime import Runtime
from workers.stats import rss_percent
from workers.sweeper import sweep

log = logging.getLogger(__name__)
JOIN_TIMEOUT_S = 10.0


class Heartbeat:
    """A daemon thread that keeps this node's entry in the node table fresh."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
        self._started = time.time()

    def start(self) -> None:
        """Announce now, then keep announcing."""
        self.beat()
        self._thread.start()

    def beat(self) -> None:
        """Write this node's entry with the current time, then publish its counters."""
        node = self._rt.node
        counters = self._rt.stats.snapshot(rss_percent())
        self._rt.store.nodes.beat(
            Node(
                id=node.id,
                name=node.name,
                role=NodeRole(node.role),
                host=socket.gethostname(),
                pid=os.getpid(),
                started=self._started,
                last_seen=time.time(),
                in_flight=counters.executing,
                metrics_port=self._rt.metrics.port,
            )
        )
        self._publish_stats(counters)

    def _publish_stats(self, counters: NodeCounters) -> None:
        # On the queue server: its outage must cost the stats, never the beat or the sweep.
        try:
            self._rt.store.node_stats.publish(
                self._rt.node.id, counters, ttl_s=self._rt.settings.node_ttl_s
            )
        except redis.RedisError as error:
            log.warning("could not publish node stats: %s", error)

    def _loop(self) -> None:
        interval = self._rt.settings.heartbeat_interval_s
        while not self._stop.wait(interval):
            try:
                self.beat()
                sweep(self._rt.store, self._rt.settings.node_ttl_s)
            except redis.RedisError as error:
                log.warning("heartbeat failed: %s", error)

    def stop(self) -> None:
        """Stop beating and leave the node table, so the API stops routing here at once."""
        self._stop.set()
        # A beat still in progress would re-add the entry after we leave: wait for it first.
        if self._thread.is_alive():
            self._thread.join(timeout=JOIN_TIMEOUT_S)
        try:
            self._rt.store.nodes.forget(self._rt.node.id)
        except redis.RedisError as error:
            log.warning("could not leave the node table: %s", error)
