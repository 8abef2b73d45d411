"""A crawl's record and the one store that holds it: what every host and route reads.

A crawl's public state (owner, settings, state, the latest progress snapshot, the summary, the
worker running it, the recent log) lives in exactly one :class:`CrawlStates` store: in memory in
the embedded mode, in Redis in cluster mode (``redis_states.py``). The engine never writes it: its
events are recorded into it by :class:`~crawler.service.statesink.StateSink`, whichever process
runs the crawl. ``crawl.json`` in the crawl's folder stays the durable record that the store is
rebuilt from (``history.py``).
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from crawler.engine.config import CrawlConfig
from crawler.engine.events import CrawlKind, PageStatus, State
from crawler.engine.resume import can_resume

RECENT_LINES = 200  # log lines and page transitions kept for a client that (re)attaches
# A crawl's recent log lines or page lines, as the events carried them. (An alias: in the store
# classes below, `list` names their method.)
RecentLines = list[dict[str, Any]]
DOWNLOAD_FORMATS = ("zip", "jsonl", "markdown", "llms", "llms-full")
# The site's own files for models, as the crawl kept them (when the site publishes them).
SITE_DOWNLOAD_FORMATS = {"site-llms": "llms.txt", "site-llms-full": "llms-full.txt"}


def download_links(crawl_id: str) -> dict[str, str]:
    return {fmt: f"/api/crawls/{crawl_id}/download?format={fmt}" for fmt in DOWNLOAD_FORMATS}


@dataclass
class CrawlRecord:
    """Everything known about one crawl, as one value (the store hands out copies)."""

    crawl_id: str
    owner: str
    config: CrawlConfig
    created_at: str
    kind: CrawlKind = CrawlKind.CRAWL
    state: State = State.QUEUED
    message: str = ""
    summary: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    worker: str | None = None  # host:pid of the worker running it (cluster mode)
    seen_at: float | None = None  # when its runner last said it is alive (cluster mode)
    refresh_of: str | None = None  # the crawl this one refreshes (same settings, compared at the end)

    @property
    def downloads(self) -> dict[str, str]:
        """A discovery stores no pages: nothing to download."""
        return download_links(self.crawl_id) if self.kind == CrawlKind.CRAWL else {}

    @property
    def resumable(self) -> bool:
        """What a resume request would be accepted for now (`crawler.engine.resume.can_resume`)."""
        return can_resume(self.state, self.summary if self.state.is_final else None)

    def counts(self) -> dict[str, int]:
        """ok/failed/skipped/discovered from the live snapshot while running, else the summary."""
        source = self.progress if self.progress is not None and not self.state.is_final else None
        source = source or self.summary or self.progress or {}
        return {key: int(source.get(key) or 0) for key in (*PageStatus, "discovered")}

    def row(self) -> dict[str, Any]:
        """One line of a session's crawl list."""
        summary = self.summary or {}
        return {
            "crawl_id": self.crawl_id,
            "kind": self.kind,
            "url": self.config.url,
            "state": self.state.value,
            "created_at": self.created_at,
            "finished_at": summary.get("finished_at") if self.state.is_final else None,
            **self.counts(),
            "downloads": self.downloads,
            "resumable": self.resumable,
            "refresh_of": self.refresh_of,
        }


class CrawlStates(Protocol):
    """The one interface to crawl records. Every method is safe from any thread."""

    def add(self, record: CrawlRecord) -> None:
        """Insert a new crawl (or replace one with the same id)."""

    def add_missing(self, records: Iterable[CrawlRecord]) -> int:
        """Insert the records whose id is not known yet (a rebuild from disk); how many were new."""

    def get(self, crawl_id: str) -> CrawlRecord | None: ...

    def list(self, owner: str) -> list[CrawlRecord]:
        """The owner's crawls, newest first."""

    def transition(self, crawl_id: str, state: State, message: str, allowed_from: Iterable[State]) -> bool:
        """Set the state only if the current one is in `allowed_from` (atomically); True if set."""

    def set_state(self, crawl_id: str, state: State, message: str) -> None:
        """The engine's own state change (a final state is never replaced by a late non-final one)."""

    def set_progress(self, crawl_id: str, snapshot: dict[str, Any]) -> None: ...

    def finish(self, crawl_id: str, state: State, summary: dict[str, Any]) -> None:
        """The crawl ended: final state and summary together, worker cleared."""

    def add_recent(self, crawl_id: str, logs: RecentLines, pages: RecentLines) -> None: ...

    def recent(self, crawl_id: str) -> tuple[RecentLines, RecentLines]: ...

    def clear_recent(self, crawl_id: str) -> None: ...

    def set_worker(self, crawl_id: str, worker: str | None) -> None:
        """Who runs the crawl; also marks it alive now (`seen_at`)."""

    def remove(self, crawl_id: str) -> None: ...

    def active_count(self) -> int:
        """Crawls not in a final state (queued, running, stopping...)."""

    def active_states(self) -> dict[str, int]:
        """How many crawls are in each non-final state."""


class _RecentLines:
    """One crawl's recent log and page lines in the embedded store: two bounded deques while it
    runs; once it has ended, one compressed JSON text (a finished crawl's 200 + 200 lines are
    ~85 KB of JSON, ~250 KB as dicts, ~10 KB packed), so a server that ran many crawls does not
    hold every one's lines as objects. Lines that come after the end unpack them again."""

    __slots__ = ("logs", "pages", "packed")

    def __init__(self) -> None:
        self.logs: deque[dict[str, Any]] = deque(maxlen=RECENT_LINES)
        self.pages: deque[dict[str, Any]] = deque(maxlen=RECENT_LINES)
        self.packed: bytes | None = None

    def add(self, logs: RecentLines, pages: RecentLines) -> None:
        if self.packed is not None:
            self._unpack()
        self.logs.extend(logs)
        self.pages.extend(pages)

    def lines(self) -> tuple[RecentLines, RecentLines]:
        if self.packed is not None:
            logs, pages = json.loads(zlib.decompress(self.packed))
            return logs, pages
        return list(self.logs), list(self.pages)

    def pack(self) -> None:
        if self.packed is None:
            self.packed = zlib.compress(json.dumps([list(self.logs), list(self.pages)]).encode())
            self.logs.clear()
            self.pages.clear()

    def _unpack(self) -> None:
        logs, pages = self.lines()
        self.packed = None
        self.logs.extend(logs)
        self.pages.extend(pages)


class MemoryCrawlStates:
    """The embedded mode's store: a dict behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, CrawlRecord] = {}
        self._recent: dict[str, _RecentLines] = {}

    def add(self, record: CrawlRecord) -> None:
        with self._lock:
            self._records[record.crawl_id] = replace(record)

    def add_missing(self, records: Iterable[CrawlRecord]) -> int:
        added = 0
        with self._lock:
            for record in records:
                if record.crawl_id not in self._records:
                    self._records[record.crawl_id] = replace(record)
                    added += 1
        return added

    def get(self, crawl_id: str) -> CrawlRecord | None:
        with self._lock:
            record = self._records.get(crawl_id)
            return replace(record) if record is not None else None

    def list(self, owner: str) -> list[CrawlRecord]:
        with self._lock:
            records = [replace(r) for r in self._records.values() if r.owner == owner]
        return sorted(records, key=lambda r: r.crawl_id, reverse=True)

    def transition(self, crawl_id: str, state: State, message: str, allowed_from: Iterable[State]) -> bool:
        allowed = set(allowed_from)
        with self._lock:
            record = self._records.get(crawl_id)
            if record is None or record.state not in allowed:
                return False
            record.state, record.message = state, message
            if not state.is_final:
                record.summary = None if state == State.QUEUED else record.summary
            return True

    def set_state(self, crawl_id: str, state: State, message: str) -> None:
        with self._lock:
            record = self._records.get(crawl_id)
            if record is None or (record.state.is_final and not state.is_final):
                return
            record.state, record.message = state, message

    def set_progress(self, crawl_id: str, snapshot: dict[str, Any]) -> None:
        with self._lock:
            record = self._records.get(crawl_id)
            if record is not None:
                record.progress = snapshot

    def finish(self, crawl_id: str, state: State, summary: dict[str, Any]) -> None:
        with self._lock:
            record = self._records.get(crawl_id)
            if record is not None:
                record.state, record.summary, record.worker = state, summary, None
            recent = self._recent.get(crawl_id)
            if recent is not None:
                recent.pack()

    def add_recent(self, crawl_id: str, logs: RecentLines, pages: RecentLines) -> None:
        with self._lock:
            self._recent.setdefault(crawl_id, _RecentLines()).add(logs, pages)

    def recent(self, crawl_id: str) -> tuple[RecentLines, RecentLines]:
        with self._lock:
            kept = self._recent.get(crawl_id)
            return kept.lines() if kept is not None else ([], [])

    def clear_recent(self, crawl_id: str) -> None:
        with self._lock:
            self._recent.pop(crawl_id, None)

    def set_worker(self, crawl_id: str, worker: str | None) -> None:
        with self._lock:
            record = self._records.get(crawl_id)
            if record is not None:
                record.worker, record.seen_at = worker, time.time()

    def remove(self, crawl_id: str) -> None:
        with self._lock:
            self._records.pop(crawl_id, None)
            self._recent.pop(crawl_id, None)

    def active_count(self) -> int:
        with self._lock:
            return sum(1 for r in self._records.values() if not r.state.is_final)

    def active_states(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._lock:
            for record in self._records.values():
                if not record.state.is_final:
                    counts[record.state.value] = counts.get(record.state.value, 0) + 1
        return counts

