"""The embedded backend: crawls run in this process, each in its own thread, within slot limits.

A crawl waits in `queued` until the limits let it run: a free slot overall (`max_running`) and for
its session (`max_per_session`), with no earlier waiting crawl that could take the slot (arrival
order, per session: one session's backlog never starves another's first crawl).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.engine.controller import CrawlController
from crawler.engine.cpu import CpuPool
from crawler.engine.events import EventSink, State
from crawler.engine.signals import PauseSignal
from crawler.engine.stats import CrawlStats
from crawler.render import RenderPool
from crawler.service.errors import Busy, QueueFull
from crawler.service.job import CrawlJob, build_job
from crawler.service.records import CrawlRecord, CrawlStates
from crawler.service.statesink import StateSink


@dataclass
class LocalRun:
    record: CrawlRecord
    job: CrawlJob
    stop: threading.Event
    thread: threading.Thread | None = None

    @property
    def controller(self) -> CrawlController:
        return self.job.controller


def queue_full_message(waiting: int, limit: int) -> str:
    return (f"{waiting} of your crawls are already waiting for a slot (at most {limit}); "
            "stop one or wait for them to start")


class LocalBackend:
    mode = "embedded"

    def __init__(self, data_dir: Path, states: CrawlStates, cpu: CpuPool,
                 sink_for_session: Callable[[str], EventSink], *, allow_private_targets: bool = False,
                 max_running: int = 4, max_per_session: int = 2, max_queued_per_session: int = 20,
                 pause_signal: PauseSignal | None = None, stats: CrawlStats | None = None,
                 render: RenderPool | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.render = render  # the browser pool every crawl of this process shares
        self._states = states
        self.cpu = cpu
        self._sink_for_session = sink_for_session
        self._allow_private = allow_private_targets
        self._max_running = max_running
        self._max_per_session = max_per_session
        self._max_queued = max_queued_per_session
        self._pause = pause_signal  # the memory guard, if any: shared by every crawl
        self._stats = stats
        self._slots = threading.Condition()
        self._runs: dict[str, LocalRun] = {}  # every crawl this process holds, waiting or running
        self._running: dict[str, str] = {}  # crawl id → owner, for crawls holding a slot
        self._waiting: list[LocalRun] = []  # in arrival order

    # ---- the backend interface ----

    def submit(self, record: CrawlRecord) -> None:
        """Hold the crawl (waiting for a slot, then running). Raises Busy if a runner still holds
        it and QueueFull if the session's queue is full; both checks and the hold are one step."""
        stop = threading.Event()
        sink = StateSink(self._states, record.crawl_id, self._sink_for_session(record.owner))
        with self._slots:
            if record.crawl_id in self._runs:
                raise Busy(f"crawl {record.crawl_id} is still finishing; try again in a moment")
            waiting = sum(1 for run in self._waiting if run.record.owner == record.owner)
            if waiting >= self._max_queued:
                raise QueueFull(queue_full_message(waiting, self._max_queued))
            job = build_job(record, self.data_dir, sink, stop, self.cpu, allow_private_targets=self._allow_private,
                            pause_signal=self._pause, stats=self._stats, render=self.render)
            job.controller.tracker.set_state(State.QUEUED, "waiting for a free crawl slot")
            run = LocalRun(record, job, stop)
            self._runs[record.crawl_id] = run
            self._waiting.append(run)
        run.thread = threading.Thread(target=self._run, args=(run,), name=f"crawl-{record.crawl_id}", daemon=True)
        run.thread.start()

    def check_room(self, owner: str) -> None:
        with self._slots:
            waiting = sum(1 for run in self._waiting if run.record.owner == owner)
        if waiting >= self._max_queued:
            raise QueueFull(queue_full_message(waiting, self._max_queued))

    def stop(self, record: CrawlRecord, reason: str) -> State:
        run = self._runs.get(record.crawl_id)
        if run is None:
            return record.state
        run.controller.request_stop(reason)
        return State.STOPPING

    def is_busy(self, crawl_id: str, grace: float = 2.0) -> bool:
        """Whether a runner still holds the crawl, after waiting `grace` seconds for one that is
        just finishing (a resume clicked the moment the crawl stopped)."""
        return not self.wait(crawl_id, grace)

    def wait(self, crawl_id: str, timeout: float) -> bool:
        """Wait until no runner holds the crawl; True if none does."""
        run = self._runs.get(crawl_id)
        if run is not None and run.thread is not None:
            run.thread.join(timeout)
        return crawl_id not in self._runs

    def shutdown(self, wait: float = 5.0) -> None:
        """Stop every crawl as `interrupted` (keeping what each saved, resumable) and wait for them."""
        runs = list(self._runs.values())
        for run in runs:
            run.controller.request_stop("the server shut down", interrupted=True)
        deadline = time.monotonic() + wait
        for run in runs:
            if run.thread is not None:
                run.thread.join(max(0.0, deadline - time.monotonic()))

    def queues(self) -> dict[str, dict[str, int]]:
        """Crawls running and waiting per session."""
        per_owner: dict[str, dict[str, int]] = {}
        with self._slots:
            for owner in self._running.values():
                per_owner.setdefault(owner, {"running": 0, "queued": 0})["running"] += 1
            for run in self._waiting:
                per_owner.setdefault(run.record.owner, {"running": 0, "queued": 0})["queued"] += 1
        return per_owner

    def health(self) -> dict[str, Any]:
        with self._slots:
            running, waiting = len(self._running), len(self._waiting)
        return {"slots": self._max_running, "running": running, "queued": waiting, "cpu_workers": self.cpu.workers}

    # ---- internals ----

    def _run(self, run: LocalRun) -> None:
        acquired = False
        try:
            acquired = self._take_slot(run)
            run.job.run(self.data_dir)
        finally:
            with self._slots:
                if run in self._waiting:
                    self._waiting.remove(run)
                if acquired:
                    self._running.pop(run.record.crawl_id, None)
                self._runs.pop(run.record.crawl_id, None)
                self._slots.notify_all()

    def _may_start(self, run: LocalRun) -> bool:
        """Free slot overall and for this session, and no earlier waiting crawl that could take it."""
        if len(self._running) >= self._max_running:
            return False
        per_owner: dict[str, int] = {}
        for owner in self._running.values():
            per_owner[owner] = per_owner.get(owner, 0) + 1
        for waiting in self._waiting:
            if per_owner.get(waiting.record.owner, 0) < self._max_per_session:
                return waiting is run  # the first eligible crawl in arrival order goes first
        return False

    def _take_slot(self, run: LocalRun) -> bool:
        """Wait in `queued` until the limits let this crawl run (False if stopped meanwhile)."""
        with self._slots:
            while not run.stop.is_set():
                if self._may_start(run):
                    self._waiting.remove(run)
                    self._running[run.record.crawl_id] = run.record.owner
                    return True
                self._slots.wait(0.1)
            return False
