"""Sessions ↔ crawls: who owns which crawl, which crawls run, and the history on disk.

The registry is the only long-lived state of the server. It starts each crawl in its own thread
(waiting in state `queued` while too many crawls run), hands the controller its sink and stop
signal, and answers ownership questions: a crawl owned by another session is indistinguishable
from one that does not exist. After a restart, crawls are listed again from the data directory.
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .config import ConfigError, CrawlConfig, parse_crawl_config
from .controller import CrawlController
from .cpu import CpuPool
from .events import EventSink, State, iso_timestamp
from .netguard import ensure_public_target, non_public_reason
from .resume import ResumeState, load_resume_state
from .store import CrawlStore, iter_manifest, read_json, write_json

log = logging.getLogger(__name__)

CRAWL_ID_PATTERN = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")


class UnknownCrawl(LookupError):
    """No such crawl for this session (it may exist, owned by someone else)."""


class NotResumable(ConfigError):
    """The crawl is running, or ended in a way that leaves nothing to continue."""


class LimitReached(ConfigError):
    """The session already has as many crawls waiting as it may."""


def new_crawl_id(now: datetime | None = None) -> str:
    """Sortable by creation time, unguessable enough to not collide: 20261123-184012-a1b2c3."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def download_links(crawl_id: str) -> dict[str, str]:
    return {fmt: f"/api/crawls/{crawl_id}/download?format={fmt}" for fmt in ("zip", "jsonl", "markdown")}


@dataclass
class CrawlRecord:
    crawl_id: str
    owner: str
    config: CrawlConfig
    created_at: str
    crawl_dir: Path
    controller: CrawlController | None = None
    thread: threading.Thread | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    state: State = State.QUEUED
    summary: dict[str, Any] | None = None
    kind: str = "crawl"  # crawl | discovery

    @property
    def current_state(self) -> State:
        return self.controller.state if self.controller is not None else self.state

    @property
    def current_summary(self) -> dict[str, Any] | None:
        if self.summary is None and self.controller is not None:
            return self.controller.summary
        return self.summary

    @property
    def downloads(self) -> dict[str, str]:
        """A discovery stores no pages: nothing to download."""
        return download_links(self.crawl_id) if self.kind == "crawl" else {}

    def row(self) -> dict[str, Any]:
        summary = self.current_summary or {}
        counts = self.controller.tracker.counts if self.controller is not None else summary
        discovered = self.controller.tracker.discovered if self.controller is not None else summary.get("discovered", 0)
        return {
            "crawl_id": self.crawl_id,
            "kind": self.kind,
            "url": self.config.url,
            "state": self.current_state.value,
            "created_at": self.created_at,
            "finished_at": summary.get("finished_at"),
            "ok": counts.get("ok", 0),
            "failed": counts.get("failed", 0),
            "skipped": counts.get("skipped", 0),
            "discovered": discovered,
            "downloads": self.downloads,
        }


class CrawlRegistry:
    def __init__(self, data_dir: Path, cpu: CpuPool, sink_for_session: Callable[[str], EventSink], *,
                 allow_private_targets: bool = False, max_running: int = 4, max_per_session: int = 2,
                 max_queued_per_session: int = 20) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cpu = cpu
        self._sink_for_session = sink_for_session
        self._allow_private = allow_private_targets
        self._max_running = max_running
        self._max_per_session = max_per_session
        self._max_queued_per_session = max_queued_per_session
        self._slots = threading.Condition()
        self._running: dict[str, str] = {}  # crawl id → owner, for crawls holding a slot
        self._waiting: list[CrawlRecord] = []  # in arrival order
        self._records: dict[str, CrawlRecord] = {}
        self._lock = threading.Lock()
        self._load_history()

    # ---- queries ----

    def get(self, owner: str, crawl_id: str) -> CrawlRecord:
        with self._lock:
            record = self._records.get(crawl_id)
        if record is None or record.owner != owner:
            raise UnknownCrawl(f"unknown crawl {crawl_id!r}")
        return record

    def list(self, owner: str) -> list[CrawlRecord]:
        with self._lock:
            records = [r for r in self._records.values() if r.owner == owner]
        return sorted(records, key=lambda r: r.crawl_id, reverse=True)

    def running_count(self) -> int:
        with self._lock:
            return sum(1 for r in self._records.values() if not r.current_state.is_final)

    def detail(self, owner: str, crawl_id: str) -> dict[str, Any]:
        record = self.get(owner, crawl_id)
        controller = record.controller
        progress = None
        recent_log: list[dict[str, Any]] = []
        recent_pages: list[dict[str, Any]] = []
        if controller is not None:
            progress = controller.sender.latest or controller.tracker.snapshot()
            recent_log, recent_pages = controller.tracker.recent()
        return {
            "crawl_id": record.crawl_id,
            "kind": record.kind,
            "state": record.current_state.value,
            "created_at": record.created_at,
            "config": record.config.to_dict(),
            "progress": progress,
            "summary": record.current_summary,
            "recent_log": recent_log,
            "recent_pages": recent_pages,
            "downloads": record.downloads,
        }

    # ---- commands ----

    def discovered(self, owner: str, crawl_id: str) -> dict[str, Any]:
        """The URLs a crawl or discovery admitted so far, with source and depth (complete once ended)."""
        record = self.get(owner, crawl_id)
        urls = list(iter_manifest(record.crawl_dir, "discovered.jsonl"))
        titles = {e["url"]: e.get("title") for e in iter_manifest(record.crawl_dir) if e.get("title")}
        for entry in urls:
            entry["title"] = titles.get(entry["url"])
        return {"crawl_id": record.crawl_id, "kind": record.kind, "state": record.current_state.value,
                "complete": record.current_state == State.COMPLETED, "config": record.config.to_dict(),
                "count": len(urls), "urls": urls}

    def start(self, owner: str, raw_config: Any, kind: str = "crawl") -> CrawlRecord:
        """Validate, check the target, create the crawl's folder and start it (ConfigError on bad input)."""
        config = parse_crawl_config(raw_config)
        if not self._allow_private:
            for url in dict.fromkeys((config.url, *config.urls)):
                ensure_public_target(url)
        if kind == "discovery" and config.is_selection:
            raise ConfigError("a discovery starts from url; urls (a selection) is for crawls")
        self._check_queue_room(owner)
        crawl_id = new_crawl_id()
        record = CrawlRecord(crawl_id, owner, config, iso_timestamp(), self.data_dir / crawl_id, kind=kind)
        store = CrawlStore(record.crawl_dir)
        record.crawl_dir.mkdir(parents=True)
        store.write_meta("config.json", config.to_dict())
        with self._lock:
            self._records[crawl_id] = record
        self._launch(record, store)
        return record

    def resume(self, owner: str, crawl_id: str) -> CrawlRecord:
        """Continue a stopped or interrupted crawl where it left off (ConfigError if it cannot be)."""
        record = self.get(owner, crawl_id)
        state = record.current_state
        if not state.is_resumable:
            if state.is_final:
                raise NotResumable(f"crawl {crawl_id} is {state.value}: only stopped or interrupted crawls can be resumed")
            raise NotResumable(f"crawl {crawl_id} is still {state.value}")
        if record.thread is not None and record.thread.is_alive():
            raise NotResumable(f"crawl {crawl_id} is still finishing; try again in a moment")
        if not self._allow_private:
            ensure_public_target(record.config.url)
        self._check_queue_room(owner)
        (record.crawl_dir / "summary.json").unlink(missing_ok=True)  # describes the run being continued
        record.stop_event = threading.Event()
        record.summary = None
        record.state = State.QUEUED
        self._launch(record, CrawlStore(record.crawl_dir), load_resume_state(record.crawl_dir))
        return record

    def _launch(self, record: CrawlRecord, store: CrawlStore, resume: ResumeState | None = None) -> None:
        """Give the crawl a controller and a thread; it waits in `queued` for a slot."""
        record.controller = CrawlController(record.crawl_id, record.config, store,
                                            self._sink_for_session(record.owner), record.stop_event, self.cpu,
                                            session_id=record.owner, downloads=record.downloads,
                                            discover_only=record.kind == "discovery", resume=resume,
                                            address_policy=None if self._allow_private else non_public_reason)
        record.controller.tracker.set_state(State.QUEUED, "waiting for a free crawl slot")
        self._write_meta(record)
        with self._slots:
            self._waiting.append(record)
        record.thread = threading.Thread(target=self._run, args=(record,), name=f"crawl-{record.crawl_id}",
                                         daemon=True)
        record.thread.start()

    def _check_queue_room(self, owner: str) -> None:
        with self._slots:
            waiting = sum(1 for r in self._waiting if r.owner == owner)
        if waiting >= self._max_queued_per_session:
            raise LimitReached(f"{waiting} of your crawls are already waiting for a slot (at most "
                               f"{self._max_queued_per_session}); stop one or wait for them to start")

    def stop(self, owner: str, crawl_id: str) -> State:
        record = self.get(owner, crawl_id)
        if record.current_state.is_final:
            return record.current_state
        assert record.controller is not None
        record.controller.request_stop("stopped by user")
        return State.STOPPING

    def delete(self, owner: str, crawl_id: str, wait: float = 10.0) -> None:
        record = self.get(owner, crawl_id)
        if not record.current_state.is_final and record.controller is not None:
            record.controller.request_stop("deleted by user")
        if record.thread is not None:
            record.thread.join(wait)
        with self._lock:
            self._records.pop(crawl_id, None)
        shutil.rmtree(record.crawl_dir, ignore_errors=True)

    def shutdown(self, wait: float = 5.0) -> None:
        """Stop every crawl as `interrupted` (keeping what each saved, resumable) and wait for them."""
        with self._lock:
            records = list(self._records.values())
        for record in records:
            if record.controller is not None and not record.current_state.is_final:
                record.controller.request_stop("the server shut down", interrupted=True)
        deadline = time.monotonic() + wait
        for record in records:
            if record.thread is not None:
                record.thread.join(max(0.0, deadline - time.monotonic()))

    # ---- internals ----

    def _run(self, record: CrawlRecord) -> None:
        controller = record.controller
        assert controller is not None
        acquired = False
        try:
            acquired = self._take_slot(record)
            record.summary = controller.run()
        finally:
            with self._slots:
                if record in self._waiting:
                    self._waiting.remove(record)
                if acquired:
                    self._running.pop(record.crawl_id, None)
                self._slots.notify_all()
            record.state = controller.state
            self._write_meta(record)

    def _may_start(self, record: CrawlRecord) -> bool:
        """Free slot overall and for this session, and no earlier waiting crawl that could take it."""
        if len(self._running) >= self._max_running:
            return False
        per_owner: dict[str, int] = {}
        for owner in self._running.values():
            per_owner[owner] = per_owner.get(owner, 0) + 1
        for waiting in self._waiting:
            if per_owner.get(waiting.owner, 0) < self._max_per_session:
                return waiting is record  # the first eligible crawl in arrival order goes first
        return False

    def _take_slot(self, record: CrawlRecord) -> bool:
        """Wait in `queued` until the limits let this crawl run (False if stopped meanwhile)."""
        with self._slots:
            while not record.stop_event.is_set():
                if self._may_start(record):
                    self._waiting.remove(record)
                    self._running[record.crawl_id] = record.owner
                    return True
                self._slots.wait(0.1)
            return False

    def _write_meta(self, record: CrawlRecord) -> None:
        try:
            write_json(record.crawl_dir / "crawl.json", {
                "crawl_id": record.crawl_id, "owner": record.owner, "created_at": record.created_at,
                "state": record.current_state.value, "kind": record.kind,
            })
        except OSError:
            log.exception("could not write crawl.json for %s", record.crawl_id)

    def _load_history(self) -> None:
        """List crawls from earlier runs; one that was cut off by a crash or restart is `interrupted`."""
        for meta_path in sorted(self.data_dir.glob("*/crawl.json")):
            crawl_dir = meta_path.parent
            if not CRAWL_ID_PATTERN.match(crawl_dir.name):
                continue
            try:
                meta = read_json(meta_path)
                config = parse_crawl_config(read_json(crawl_dir / "config.json"))
                summary_path = crawl_dir / "summary.json"
                summary = read_json(summary_path) if summary_path.exists() else None
            except Exception as exc:  # a damaged folder must not keep the server from starting
                log.warning("skipping crawl folder %s: %s", crawl_dir, exc)
                continue
            state = history_state(meta.get("state"), summary)
            if summary is None or summary.get("state") != state.value:
                summary = {"crawl_id": crawl_dir.name, "state": state.value, "url": config.url,
                           "stop_reason": "the server stopped during the crawl", "finished_at": None,
                           "downloads": download_links(crawl_dir.name), **_count_manifest(crawl_dir)}
            self._records[crawl_dir.name] = CrawlRecord(crawl_dir.name, meta["owner"], config, meta["created_at"],
                                                        crawl_dir, state=state, summary=summary,
                                                        kind=meta.get("kind", "crawl"))


def history_state(recorded: Any, summary: dict[str, Any] | None) -> State:
    """The state of a crawl found on disk at start-up.

    crawl.json says `queued`/`running` while a crawl runs and its final state once it ended
    (written after summary.json). Anything not final there means the process died mid-crawl,
    even if an older summary (from before a resume) says otherwise.
    """
    try:
        state = State(recorded)
    except ValueError:
        state = State.INTERRUPTED
    if not state.is_final or summary is None:
        return State.INTERRUPTED
    try:
        return State(summary.get("state"))
    except ValueError:
        return State.INTERRUPTED


def _count_manifest(crawl_dir: Path) -> dict[str, int]:
    counts = {"ok": 0, "failed": 0, "skipped": 0}
    for entry in iter_manifest(crawl_dir):
        if entry.get("status") in counts:
            counts[entry["status"]] += 1
    return counts
