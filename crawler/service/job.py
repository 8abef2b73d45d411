"""One crawl job, as every host runs it: build the controller for a crawl folder, run it, record
the end in crawl.json. The web server's threads and the cluster's workers both call this."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.engine.controller import CrawlController
from crawler.engine.cpu import CpuPool
from crawler.engine.events import CrawlKind, EventSink, PageStatus
from crawler.engine.heap import trim_heap
from crawler.engine.netguard import non_public_reason
from crawler.engine.pagecache import PageCache
from crawler.engine.resume import load_resume_state
from crawler.engine.signals import PauseSignal
from crawler.engine.stats import CrawlStats
from crawler.folder.paths import crawl_folder
from crawler.folder.reader import PreviousCrawl
from crawler.folder.writer import CrawlStore
from crawler.outputs.changes import write_changes
from crawler.outputs.llms import write_llms_files
from crawler.render import RenderPool
from crawler.service.history import write_crawl_meta
from crawler.service.records import CrawlRecord
from crawler.service.webhooks import CrawlWebhooks

log = logging.getLogger(__name__)


def build_controller(record: CrawlRecord, data_dir: Path, sink: EventSink, stop: threading.Event, cpu: CpuPool,
                     *, allow_private_targets: bool, pause_signal: PauseSignal | None = None,
                     stats: CrawlStats | None = None, render: RenderPool | None = None) -> CrawlController:
    """A controller for the crawl's folder. A folder with a journal is continued from it (a resume,
    or a job delivered again after its runner died): pages already stored are not fetched again.

    A refresh reads the crawl it refreshes (`previous`); a discovery fills the data directory's
    page cache and a crawl of a selection reads it (crawler/engine/pagecache.py)."""
    crawl_dir = crawl_folder(data_dir, record.crawl_id)  # ValueError for an id that names no crawl folder
    resume = load_resume_state(crawl_dir) if (crawl_dir / "discovered.jsonl").exists() else None
    previous = PreviousCrawl(crawl_folder(data_dir, record.refresh_of)) if record.refresh_of else None
    cache = (PageCache.in_data_dir(Path(data_dir))
             if record.kind == CrawlKind.DISCOVERY or record.config.is_selection else None)
    return CrawlController(record.crawl_id, record.config, CrawlStore(crawl_dir), sink, stop, cpu,
                           session_id=record.owner, downloads=record.downloads,
                           discover_only=record.kind == CrawlKind.DISCOVERY, resume=resume,
                           address_policy=None if allow_private_targets else non_public_reason,
                           pause_signal=pause_signal, stats=stats, previous=previous, page_cache=cache,
                           render=render)


@dataclass
class CrawlJob:
    """What a host holds for a crawl it runs: the controller and, with a `webhook` setting, its webhooks."""

    record: CrawlRecord
    controller: CrawlController
    webhooks: CrawlWebhooks | None = None

    def run(self, data_dir: Path) -> dict[str, Any]:
        return run_job(self.controller, self.record, data_dir, self.webhooks)


def build_job(record: CrawlRecord, data_dir: Path, sink: EventSink, stop: threading.Event, cpu: CpuPool,
              *, allow_private_targets: bool, pause_signal: PauseSignal | None = None,
              stats: CrawlStats | None = None, render: RenderPool | None = None) -> CrawlJob:
    """The controller of `build_controller`, its events also posted to the crawl's webhook, if
    it has one (crawler/service/webhooks.py): what the web server and the workers run."""
    webhooks = None
    if record.config.webhook is not None:
        webhooks = CrawlWebhooks(record.crawl_id, record.config.webhook, sink,
                                 allow_private_targets=allow_private_targets, user_agent=record.config.user_agent,
                                 crawl_dir=crawl_folder(data_dir, record.crawl_id))
        sink = webhooks.sink
    controller = build_controller(record, data_dir, sink, stop, cpu, allow_private_targets=allow_private_targets,
                                  pause_signal=pause_signal, stats=stats, render=render)
    if webhooks is not None:
        webhooks.attach(controller.tracker)
    return CrawlJob(record, controller, webhooks)


def run_job(controller: CrawlController, record: CrawlRecord, data_dir: Path,
            webhooks: CrawlWebhooks | None = None) -> dict[str, Any]:
    """Run to the end (always ends with a summary and `crawler_finished`), write llms.txt and
    llms-full.txt for what was saved (and changes.json for a refresh), then mark crawl.json.
    Webhooks are only queued here: a slow receiver never holds the job."""
    crawl_dir = crawl_folder(data_dir, record.crawl_id)
    try:
        summary = controller.run()
        if record.kind == CrawlKind.CRAWL and summary.get(PageStatus.OK) and crawl_dir.is_dir():  # not if it was deleted
            try:
                write_llms_files(crawl_dir)
            except Exception:  # the downloads generate them on demand anyway
                log.exception("could not write llms.txt for %s", record.crawl_id)
        if record.refresh_of and crawl_dir.is_dir():
            try:
                report = write_changes(crawl_folder(data_dir, record.refresh_of), crawl_dir, state=summary.get("state"))
                if report is not None and webhooks is not None:
                    webhooks.changes(report)
            except Exception:  # GET /api/crawls/<id>/changes makes it on demand anyway
                log.exception("could not write changes.json for %s", record.crawl_id)
        return summary
    finally:
        write_crawl_meta(crawl_dir, record, controller.state)
        if webhooks is not None:
            webhooks.ended()
        trim_heap()  # what the crawl's threads and the llms files freed goes back, not kept for the next crawl
