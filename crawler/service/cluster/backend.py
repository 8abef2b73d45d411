"""The cluster backend of a web server: crawls are queued in Redis and run by Celery workers.

The web server runs nothing itself. Starting a crawl queues it and dispatches what the worker
slots allow; stopping one sets its shared stop flag (or, while it still waits in the queue, ends
it here at once); an upkeep thread sweeps for lost workers and dispatches as slots free up.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from crawler.engine.events import Event, PageStatus, State, iso_timestamp
from crawler.folder.paths import crawl_folder
from crawler.service.cluster.coordinator import SWEEP_INTERVAL, Announce, Cluster
from crawler.service.cluster.redis_states import RedisCrawlStates
from crawler.service.errors import Busy, QueueFull
from crawler.service.history import count_manifest
from crawler.service.local import queue_full_message
from crawler.service.records import CrawlRecord

log = logging.getLogger(__name__)


class ClusterBackend:
    mode = "cluster"
    UPKEEP_INTERVAL = SWEEP_INTERVAL

    def __init__(self, cluster: Cluster, states: RedisCrawlStates, announce: Announce, *,
                 max_queued_per_session: int = 20, redis_url: str = "") -> None:
        self.cluster = cluster
        self._states = states
        self._announce = announce
        self._max_queued = max_queued_per_session
        self._redis_url = redis_url
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._upkeep_loop, name="cluster-upkeep", daemon=True)

    @property
    def data_dir(self) -> Path:
        return self.cluster.data_dir

    def start(self) -> None:
        self.cluster.upkeep()
        self._thread.start()

    # ---- the backend interface ----

    def check_room(self, owner: str) -> None:
        waiting = self.cluster.queued_of(owner)
        if waiting >= self._max_queued:
            raise QueueFull(queue_full_message(waiting, self._max_queued))

    def submit(self, record: CrawlRecord) -> None:
        if self.cluster.lease_holder(record.crawl_id) is not None:
            raise Busy(f"crawl {record.crawl_id} is still finishing; try again in a moment")
        self.cluster.clear_stop(record.crawl_id)
        place = self.cluster.enqueue(record.crawl_id, record.owner, self._max_queued)
        if place < 0:
            raise QueueFull(queue_full_message(-place - 1, self._max_queued))
        self._announce(record.owner, Event.STATUS.value, {"crawl_id": record.crawl_id, "state": "queued",
                                                          "message": "waiting for a free crawl slot",
                                                          "timestamp": iso_timestamp()})
        self.cluster.dispatch()

    def stop(self, record: CrawlRecord, reason: str) -> State:
        if self.cluster.unqueue(record.crawl_id):
            self._end_unstarted(record, reason)
            return State.STOPPING
        self.cluster.request_stop(record.crawl_id, reason)
        message = "stopping: pages saved so far are kept"
        if self._states.transition(record.crawl_id, State.STOPPING, message,
                                   allowed_from=(State.QUEUED, State.DISCOVERING, State.RUNNING)):
            self._announce(record.owner, Event.STATUS.value, {"crawl_id": record.crawl_id, "state": "stopping",
                                                              "message": message, "timestamp": iso_timestamp()})
        return State.STOPPING

    def is_busy(self, crawl_id: str, grace: float = 2.0) -> bool:
        """Whether a worker still holds the crawl's lease, after waiting `grace` seconds for one
        that is just finishing (a resume clicked the moment the crawl stopped)."""
        deadline = time.monotonic() + grace
        while self.cluster.lease_holder(crawl_id) is not None:
            if time.monotonic() >= deadline:
                return True
            time.sleep(0.05)
        return False

    def wait(self, crawl_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            record = self._states.get(crawl_id)
            if (record is None or record.state.is_final) and not self.is_busy(crawl_id, grace=0):
                return True
            time.sleep(0.1)
        return False

    def shutdown(self, wait: float = 5.0) -> None:
        """Crawls run on the workers and go on without this web server."""
        self._closing.set()

    def health(self) -> dict[str, Any]:
        try:
            workers = self.cluster.workers()
            queued = self.cluster.queue_length()
        except Exception as exc:  # noqa: BLE001 - health reports trouble, it never fails
            return {"redis": {"reachable": False, "error": str(exc)}, "workers": [], "queued": None}
        return {"redis": {"reachable": True}, "queued": queued,
                "workers": [{key: w.get(key) for key in ("id", "slots", "free", "running", "cpu_workers")}
                            for w in workers],
                "slots": sum(w["slots"] for w in workers), "free_slots": sum(w["free"] for w in workers)}

    # ---- internals ----

    def _end_unstarted(self, record: CrawlRecord, reason: str) -> None:
        """A crawl stopped before any worker took it: it ends here, as `stopped`."""
        kept = count_manifest(crawl_folder(self.data_dir, record.crawl_id))[PageStatus.OK]
        self.cluster.end_without_runner(record, State.STOPPED, reason,
                                        f"stopped: {kept} {'page' if kept == 1 else 'pages'} kept")

    def _upkeep_loop(self) -> None:
        """At a fixed rate, so an upkeep that took a while does not push the next one later."""
        due = time.monotonic() + self.UPKEEP_INTERVAL
        while not self._closing.wait(max(0.0, due - time.monotonic())):
            due = max(due + self.UPKEEP_INTERVAL, time.monotonic())
            self.cluster.upkeep()
