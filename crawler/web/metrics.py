"""`GET /metrics`: the server's numbers in the Prometheus text format.

One :class:`ServerMetrics` per app, with its own ``CollectorRegistry`` (no module-level state, so
two apps in one process never mix their numbers). It is also the engine's stats hook
(crawler/engine/stats.py): the controllers this process runs report each page's fetch latency, stage
times, bytes, retries and back-offs to it. What is read at scrape time (crawls by state, Socket.IO
clients, the process tree's memory and CPU, the memory guard) comes from a collector that asks
the services when Prometheus asks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from crawler.service.memory import ProcessTree

log = logging.getLogger(__name__)

FETCH_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
STAGE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServerMetrics:
    """The app's registry, the counters the engine feeds, and the scrape-time collector."""

    def __init__(self, read_state: Callable[[], dict[str, Any]], tree: ProcessTree) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.pages = Counter("crawler_pages", "Pages handled, by status (ok, failed, skipped) and reason code",
                             ["status", "reason"], registry=registry)
        self.fetch_seconds = Histogram("crawler_fetch_seconds", "Fetch latency of each page downloaded "
                                       "(request to last body byte)", buckets=FETCH_BUCKETS, registry=registry)
        self.stage_seconds = Histogram("crawler_stage_seconds", "Time one page spent in a stage",
                                       ["stage"], buckets=STAGE_BUCKETS, registry=registry)
        self.downloaded = Counter("crawler_downloaded_bytes", "Bytes of page bodies downloaded", registry=registry)
        self.retries = Counter("crawler_retries", "Transient failures retried", registry=registry)
        self.backoffs = Counter("crawler_backoffs", "Retries that made their host back off (429/503)",
                                registry=registry)
        self._clients = 0
        self._clients_lock = threading.Lock()
        registry.register(_LiveCollector(read_state, tree, self.clients))

    # ---- the engine's stats hook (crawler/engine/stats.py) ----

    def stage_time(self, stage: str, seconds: float) -> None:
        self.stage_seconds.labels(stage).observe(seconds)
        if stage == "fetch":
            self.fetch_seconds.observe(seconds)

    def downloaded_bytes(self, size: int) -> None:
        self.downloaded.inc(size)

    def page_done(self, status: str, reason: str | None) -> None:
        self.pages.labels(status, reason or "").inc()

    def retry(self, backoff: bool) -> None:
        self.retries.inc()
        if backoff:
            self.backoffs.inc()

    # ---- Socket.IO clients ----

    def client_connected(self) -> None:
        with self._clients_lock:
            self._clients += 1

    def client_disconnected(self) -> None:
        with self._clients_lock:
            self._clients = max(0, self._clients - 1)

    def clients(self) -> int:
        with self._clients_lock:
            return self._clients

    # ---- the answer ----

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _LiveCollector(Collector):
    """What is read when Prometheus scrapes."""

    def __init__(self, read_state: Callable[[], dict[str, Any]], tree: ProcessTree, clients: Callable[[], int]):
        self._read_state = read_state
        self._tree = tree
        self._clients = clients

    def collect(self) -> Iterator[Metric]:
        clients = GaugeMetricFamily("crawler_socketio_clients", "Socket.IO clients connected to this server")
        clients.add_metric([], self._clients())
        yield clients
        try:
            state = self._read_state()
        except Exception as exc:  # noqa: BLE001 - the store may be unreachable: the rest still answers
            log.warning("metrics: could not read the crawl states: %s", exc)
            state = {}
        if "crawls" in state:
            crawls = GaugeMetricFamily("crawler_crawls", "Crawls not yet ended, by state", labels=["state"])
            for name in ("queued", "discovering", "running", "stopping"):
                crawls.add_metric([name], state["crawls"].get(name, 0))
            yield crawls
        rows = self._tree.sample()
        memory = GaugeMetricFamily("crawler_process_memory_bytes", "Memory (PSS, else RSS) of the server "
                                   "process, its extraction workers, multiprocessing's helpers (fork server, "
                                   "resource tracker), its search indexer process and its browser (the render "
                                   "process and Chromium), summed per role",
                                   labels=["process"])
        cpu = CounterMetricFamily("crawler_process_cpu_seconds", "CPU time (user + system) of the live processes, "
                                  "summed per role", labels=["process"])
        count = GaugeMetricFamily("crawler_processes", "Live processes per role", labels=["process"])
        for role in ("server", "worker", "helper", "indexer", "browser"):
            mine = [row for row in rows if row["role"] == role]
            memory.add_metric([role], sum(float(row["memory_bytes"]) for row in mine))
            cpu.add_metric([role], sum(float(row["cpu_seconds"]) for row in mine))
            count.add_metric([role], len(mine))
        yield from (memory, cpu, count)
        guard = state.get("memory_guard")
        if guard:
            limit = GaugeMetricFamily("crawler_memory_limit_bytes", "The --memory-limit")
            limit.add_metric([], guard["limit_bytes"])
            paused = GaugeMetricFamily("crawler_memory_paused", "1 while crawling is paused for memory")
            paused.add_metric([], 1 if guard["paused"] else 0)
            pauses = CounterMetricFamily("crawler_memory_pauses", "Times crawling paused for memory")
            pauses.add_metric([], guard["pauses"])
            yield from (limit, paused, pauses)
