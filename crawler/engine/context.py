"""What the parts of one crawl share: its settings, its store, its progress, its stop signal.

The controller builds one `CrawlContext` and hands it to the discovery (robots.txt, sitemaps),
the scheduler and the page pipeline, so none of them holds a copy of another's state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crawler.engine.config import CrawlConfig
from crawler.engine.errors import StopRequested
from crawler.engine.fetch import SessionPool
from crawler.engine.progress import ProgressTracker
from crawler.engine.signals import StopSignal
from crawler.engine.stats import CrawlStats
from crawler.folder.writer import CrawlStore, DiskFull

if TYPE_CHECKING:
    from crawler.engine.pagecache import PageCache
    from crawler.folder.reader import PreviousCrawl


@dataclass
class CrawlContext:
    crawl_id: str
    config: CrawlConfig
    store: CrawlStore
    tracker: ProgressTracker
    stats: CrawlStats
    stop_signal: StopSignal
    sessions: SessionPool
    start_url: str
    discover_only: bool
    on_disk_full: Callable[[DiskFull], None]  # nothing more can be written: the crawl ends
    first_error: str | None = None  # why the start page (or a selected page) was not saved
    previous: PreviousCrawl | None = None  # a refresh: the crawl it refreshes (crawler/outputs/changes.py)
    page_cache: PageCache | None = None  # a discovery fills it, a selection crawl reads it

    def check_stop(self) -> None:
        if self.stop_signal.is_set():
            raise StopRequested()

    def note_failure(self, source: str, reason: str) -> None:
        """Remember why a start or selected page was not saved: if nothing is, the crawl says why."""
        if source in ("start", "selection") and self.first_error is None:
            self.first_error = reason
