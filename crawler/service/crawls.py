"""The crawl service: what the REST routes and Socket.IO handlers call, in either mode.

It validates input, creates crawl folders, keeps records in the crawl-state store and hands the
running to a backend (threads in this process, or Celery workers). Ownership is checked here
once: a crawl owned by another session is indistinguishable from one that does not exist.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from crawler.engine.config import ConfigError, CrawlConfig, parse_crawl_config
from crawler.engine.events import CrawlKind, PageStatus, State, iso_timestamp
from crawler.engine.netguard import ensure_public_target
from crawler.engine.resume import can_resume
from crawler.folder.paths import crawl_folder
from crawler.folder.reader import iter_manifest, read_json
from crawler.folder.writer import CrawlStore, make_private_dirs
from crawler.outputs.changes import CHANGES_FILE, write_changes
from crawler.render import check_render_setting
from crawler.service.errors import Busy, NoChangeReport, NotRefreshable, NotResumable, QueueFull, UnknownCrawl
from crawler.service.history import ended_folders, read_history, write_crawl_meta
from crawler.service.records import CrawlRecord, CrawlStates

log = logging.getLogger(__name__)


class Backend(Protocol):
    """Runs crawls: in this process (LocalBackend) or on Celery workers (ClusterBackend)."""

    mode: str

    def check_room(self, owner: str) -> None: ...
    def submit(self, record: CrawlRecord) -> None: ...
    def stop(self, record: CrawlRecord, reason: str) -> State: ...
    def is_busy(self, crawl_id: str, grace: float = 2.0) -> bool: ...
    def wait(self, crawl_id: str, timeout: float) -> bool: ...
    def shutdown(self, wait: float = 5.0) -> None: ...
    def health(self) -> dict[str, Any]: ...


def new_crawl_id(now: datetime | None = None) -> str:
    """Sortable by creation time, unguessable enough to not collide: 20261123-184012-a1b2c3."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def carried_over(snapshot: dict[str, Any], summary: dict[str, Any] | None) -> dict[str, Any]:
    """The snapshot a resumed crawl shows until its runner sends its own: the state `queued`,
    nothing in flight, the counts carried over from the summary of the run that ended (counted
    from the manifest when a worker died, so newer than its last snapshot)."""
    counts: dict[str, int] = {key: int((summary or snapshot).get(key) or 0) for key in PageStatus}
    idle = {stage: 0 for stage in snapshot.get("stages") or {}}
    return {**snapshot, **counts, "current": sum(counts.values()), "state": State.QUEUED.value, "speed": 0.0,
            "eta": None, "in_flight": 0, "stages": idle, "total_final": False, "backoff": [],
            "timestamp": iso_timestamp()}


class CrawlService:
    def __init__(self, data_dir: Path, states: CrawlStates, backend: Backend, *,
                 allow_private_targets: bool = False) -> None:
        self.data_dir = Path(data_dir)
        make_private_dirs(self.data_dir)
        self.states = states
        self.backend = backend
        self._allow_private = allow_private_targets
        self._folders_seen: set[str] = set()
        self._folders_lock = threading.Lock()
        self._folders_looked_at = 0.0

    # ---- queries ----

    def get(self, owner: str, crawl_id: str) -> CrawlRecord:
        record = self.states.get(crawl_id)
        if record is None or record.owner != owner:
            raise UnknownCrawl(f"unknown crawl {crawl_id!r}")
        return record

    def crawl_dir(self, record: CrawlRecord) -> Path:
        return crawl_folder(self.data_dir, record.crawl_id)

    def list(self, owner: str) -> list[CrawlRecord]:
        self.adopt_ended_folders()
        return self.states.list(owner)

    def adopt_ended_folders(self, every: float = 2.0) -> int:
        """Add the crawls that another process ran to its end in this data directory (a terminal
        crawl) to the store, so their owner's history lists them; at most once per `every` s."""
        with self._folders_lock:
            now = time.monotonic()
            if now - self._folders_looked_at < every:
                return 0
            self._folders_looked_at = now
            ended = ended_folders(self.data_dir, self._folders_seen)
            names = [name for name in ended if self.states.get(name) is None]
            added = self.states.add_missing(read_history(self.data_dir, names=names)) if names else 0
            self._folders_seen.update(ended)
            return added

    def running_count(self) -> int:
        return self.states.active_count()

    def detail(self, owner: str, crawl_id: str) -> dict[str, Any]:
        record = self.get(owner, crawl_id)
        recent_log, recent_pages = self.states.recent(crawl_id)
        return {
            "crawl_id": record.crawl_id,
            "kind": record.kind,
            "state": record.state.value,
            "created_at": record.created_at,
            "config": record.config.public_dict(),
            "progress": record.progress,
            "summary": record.summary if record.state.is_final else None,
            "recent_log": recent_log,
            "recent_pages": recent_pages,
            "downloads": record.downloads,
            "worker": record.worker,
            "resumable": record.resumable,
            "refresh_of": record.refresh_of,
        }

    def discovered(self, owner: str, crawl_id: str) -> dict[str, Any]:
        """The URLs a crawl or discovery admitted so far, with source and depth (complete once ended)."""
        record = self.get(owner, crawl_id)
        crawl_dir = self.crawl_dir(record)
        urls = list(iter_manifest(crawl_dir, "discovered.jsonl"))
        titles = {e["url"]: e.get("title") for e in iter_manifest(crawl_dir) if e.get("title")}
        for entry in urls:
            entry["title"] = titles.get(entry["url"])
        return {"crawl_id": record.crawl_id, "kind": record.kind, "state": record.state.value,
                "complete": record.state == State.COMPLETED, "config": record.config.public_dict(),
                "count": len(urls), "urls": urls}

    # ---- commands ----

    def start(self, owner: str, raw_config: Any, kind: CrawlKind | str = CrawlKind.CRAWL, *,
              refresh_of: str | None = None, meta: dict[str, Any] | None = None) -> CrawlRecord:
        """Validate, check the target, create the crawl's folder and queue it (ConfigError on bad input).
        `refresh_of`: the earlier crawl this one refreshes (see `refresh`); `meta`: more small
        files for the folder, by name, written before the crawl can start (its runner cleans the
        folder of half-written files when it opens it)."""
        kind = CrawlKind(kind)
        config = parse_crawl_config(raw_config)
        check_render_setting(config.render)
        if not self._allow_private:
            for url in dict.fromkeys((config.url, *config.urls)):
                ensure_public_target(url)
        self._check_webhook(config)
        if kind == CrawlKind.DISCOVERY and config.is_selection:
            raise ConfigError("a discovery starts from url; urls (a selection) is for crawls")
        self._check_room(owner)
        record = CrawlRecord(new_crawl_id(), owner, config, iso_timestamp(), kind=kind,
                             message="waiting for a free crawl slot", refresh_of=refresh_of)
        crawl_dir = self.crawl_dir(record)
        make_private_dirs(crawl_dir, exist_ok=False)
        store = CrawlStore(crawl_dir)
        store.write_meta("config.json", config.to_dict())
        for name, data in (meta or {}).items():
            store.write_meta(name, data)
        write_crawl_meta(crawl_dir, record, State.QUEUED)
        self.states.add(record)
        try:
            self.backend.submit(record)
        except QueueFull:  # another request took the last place meanwhile
            self.states.remove(record.crawl_id)
            shutil.rmtree(crawl_dir, ignore_errors=True)
            raise
        return record

    def resume(self, owner: str, crawl_id: str) -> CrawlRecord:
        """Continue a stopped or interrupted crawl where it left off (ConfigError if it cannot be).

        The state moves to `queued` atomically, so of two resumes sent at once (to one server or
        two) exactly one goes ahead."""
        record = self.get(owner, crawl_id)
        if not can_resume(record.state, record.summary):
            if record.state.is_final:
                raise NotResumable(f"crawl {crawl_id} is {record.state.value}: only stopped or interrupted "
                                   "crawls (or one that failed on a full disk) can be resumed")
            raise NotResumable(f"crawl {crawl_id} is still {record.state.value}")
        if self.backend.is_busy(crawl_id):
            raise NotResumable(f"crawl {crawl_id} is still finishing; try again in a moment")
        if not self._allow_private:
            ensure_public_target(record.config.url)
        self._check_webhook(record.config)
        self._check_room(owner)
        previous = record.state
        if not self.states.transition(crawl_id, State.QUEUED, "waiting for a free crawl slot",
                                      allowed_from=(record.state,)):
            raise NotResumable(f"crawl {crawl_id} is already being resumed")
        crawl_dir = self.crawl_dir(record)
        (crawl_dir / "summary.json").unlink(missing_ok=True)  # describes the run being continued
        if record.progress is not None:  # the last run's final snapshot must not say "stopped" any more
            self.states.set_progress(crawl_id, carried_over(record.progress, record.summary))
        record.state, record.summary = State.QUEUED, None
        self.states.clear_recent(crawl_id)
        write_crawl_meta(crawl_dir, record, State.QUEUED)
        try:
            self.backend.submit(record)
        except (Busy, QueueFull) as exc:
            self.states.transition(crawl_id, previous, "", allowed_from=(State.QUEUED,))
            write_crawl_meta(crawl_dir, record, previous)
            if isinstance(exc, Busy):
                raise NotResumable(str(exc)) from None
            raise
        return record

    def refresh(self, owner: str, crawl_id: str) -> CrawlRecord:
        """A new crawl with the settings of an ended one, linked to it (`refresh_of`): pages that
        did not change (a 304 to a conditional request, or the same body) are reused from it, and
        the end brings a report of what changed (crawler/outputs/changes.py)."""
        old = self.get(owner, crawl_id)
        if old.kind != CrawlKind.CRAWL:
            raise NotRefreshable(f"{crawl_id} is a discovery: only crawls can be refreshed "
                                 "(crawl its selection, or start the discovery again)")
        if not old.state.is_final:
            raise NotRefreshable(f"crawl {crawl_id} is still {old.state.value}: refresh it once it has ended")
        if not int((old.summary or {}).get(PageStatus.OK) or 0):
            raise NotRefreshable(f"crawl {crawl_id} saved no page: there is nothing to refresh "
                                 "(start it again instead)")
        return self.start(owner, old.config.to_dict(), kind=CrawlKind.CRAWL, refresh_of=old.crawl_id)

    def changes(self, owner: str, crawl_id: str) -> dict[str, Any]:
        """The change report of a refresh (changes.json, written when it is first asked for after
        the refresh ended). NotRefreshable while it runs, NoChangeReport if there is none."""
        record = self.get(owner, crawl_id)
        if record.refresh_of is None:
            raise NoChangeReport(f"crawl {crawl_id} is not a refresh of another crawl: it has no change report")
        crawl_dir = self.crawl_dir(record)
        path = crawl_dir / CHANGES_FILE
        if record.state.is_final and path.exists():
            try:
                report = read_json(path)
                if report.get("state") == record.state.value:
                    return report
            except (OSError, ValueError):
                pass  # damaged or half-written by another process: made again below
        if not record.state.is_final:
            raise NotRefreshable(f"crawl {crawl_id} is still {record.state.value}: "
                                 "the change report is made when it ends")
        report = write_changes(crawl_folder(self.data_dir, record.refresh_of), crawl_dir, state=record.state.value)
        if report is None:
            raise NoChangeReport(f"the crawl {crawl_id} refreshes ({record.refresh_of}) was deleted: "
                                 "there is nothing to compare with")
        return report

    def stop(self, owner: str, crawl_id: str) -> State:
        record = self.get(owner, crawl_id)
        if record.state.is_final:
            return record.state
        return self.backend.stop(record, "stopped by user")

    def delete(self, owner: str, crawl_id: str, wait: float = 10.0) -> None:
        record = self.get(owner, crawl_id)
        if not record.state.is_final:
            self.backend.stop(record, "deleted by user")
        self.backend.wait(crawl_id, wait)
        with self._folders_lock:  # a folder being removed is not a crawl to adopt
            self._folders_seen.add(crawl_id)
        self.states.remove(crawl_id)
        shutil.rmtree(self.crawl_dir(record), ignore_errors=True)

    def shutdown(self) -> None:
        self.backend.shutdown()

    def _check_webhook(self, config: CrawlConfig) -> None:
        """A webhook reaches public addresses only, unless private targets are allowed (checked
        again on every connection it opens: crawler/service/webhooks.py)."""
        if config.webhook is not None and not self._allow_private:
            try:
                ensure_public_target(config.webhook.url, "send webhooks to")
            except ConfigError as exc:
                raise ConfigError(f"webhook.url: {exc}") from None

    def _check_room(self, owner: str) -> None:
        self.backend.check_room(owner)
