"""One crawl, start to end: the engine that ties the seeds (robots.txt, sitemaps, start URLs), the scheduler and the page pipeline
together around one stop signal.

The controller owns no web object. It is given its configuration, an event sink and a stop
signal (anything with ``is_set()``/``wait()``), so the same class runs inside the web server
and inside a worker process, emitting through a message queue and stopped through a shared flag.

Phases: *discovering* (robots.txt, sitemaps; the whole run for a discovery-only crawl:
crawler/engine/seeds.py) then *running*: the scheduler (crawler/engine/scheduler.py) hands URLs from the
frontier to the pages' stages (crawler/engine/pipeline.py: fetching → parsing → extracting → storing)
and acts on their outcomes. The parts share one `CrawlContext` (crawler/engine/context.py).

Two thread pools: `concurrency` fetchers, which only wait on the network, and a few processors,
which hand pages to the CPU process pool and store the results. A fetcher is free for the next
URL as soon as its page is downloaded, so on a slow site `concurrency` requests are really in
flight all the time; the processors' queue is bounded, so on a fast site fetching waits for
extraction instead of piling pages up in memory.

On a stop the loop leaves at once: the store is closed first (nothing more is written), pages
still in flight are abandoned (their threads notice the stop at their next check and discard
their work), and `crawler_finished` goes out, without waiting for a slow server. The pools'
threads are daemon threads that nothing joins at exit (crawler/engine/threads.py), so an abandoned
fetch does not hold the process open after a stop either.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from crawler.engine.config import CrawlConfig
from crawler.engine.context import CrawlContext
from crawler.engine.cpu import CpuPool
from crawler.engine.errors import StopRequested
from crawler.engine.events import CrawlKind, EventSink, PageStatus, SafeSink, State, iso_timestamp
from crawler.engine.fetch import SessionPool
from crawler.engine.frontier import Frontier
from crawler.engine.netguard import AddressPolicy
from crawler.engine.pagecache import PageCache
from crawler.engine.pipeline import PagePipeline
from crawler.engine.progress import ProgressTracker
from crawler.engine.resume import LOG_SEQ_FILE, ResumeState, last_log_seq
from crawler.engine.scheduler import Scheduler
from crawler.engine.seeds import Seeds
from crawler.engine.sender import ProgressSender
from crawler.engine.signals import PauseSignal, StopSignal, StopSwitch
from crawler.engine.stats import CrawlStats, NoStats
from crawler.engine.threads import DaemonThreadPool
from crawler.engine.urls import canonical_url
from crawler.folder.reader import PreviousCrawl, site_files
from crawler.folder.writer import CrawlStore, DiskFull
from crawler.render import BrowserPolicy, RenderPool
from crawler.render.stage import RenderStage

log = logging.getLogger(__name__)

__all__ = ["CrawlController", "PauseSignal", "StopSignal", "StopSwitch"]


class CrawlController:
    """Runs one crawl to its end in the calling thread; `request_stop` may come from any thread."""

    def __init__(self, crawl_id: str, config: CrawlConfig, store: CrawlStore, sink: EventSink,
                 stop_signal: StopSwitch, cpu: CpuPool, *, session_id: str = "",
                 downloads: dict[str, str] | None = None, discover_only: bool = False,
                 resume: ResumeState | None = None, address_policy: AddressPolicy | None = None,
                 pause_signal: PauseSignal | None = None, stats: CrawlStats | None = None,
                 previous: PreviousCrawl | None = None, page_cache: PageCache | None = None,
                 render: RenderPool | None = None) -> None:
        self.crawl_id = crawl_id
        self.config = config
        self.store = store
        self.stop_signal = stop_signal
        self.cpu = cpu
        self.discover_only = discover_only
        self.stats: CrawlStats = stats or NoStats()
        self.tracker = ProgressTracker(crawl_id, session_id, stats=self.stats)
        # Log seqs go on across runs of one crawl: the folder keeps the last one (crawler/resume.py).
        self.tracker.number_log_after(last_log_seq(store.crawl_dir),
                                      lambda seq: store.write_meta(LOG_SEQ_FILE, {"last_seq": seq}))
        self.pause_signal = pause_signal
        self.sender = ProgressSender(self.tracker, SafeSink(sink))
        self.downloads = downloads or {}
        self.stop_reason: str | None = None
        self._stop_state = State.STOPPED
        self.summary: dict[str, Any] | None = None
        self._sessions = SessionPool(config.user_agent, address_policy)
        self.render = render  # the host's browser pool (None: no page can be rendered)
        self._browser_policy = BrowserPolicy(allow_private=address_policy is None)
        self._start_url = canonical_url(config.url) or config.url
        self.ctx = CrawlContext(crawl_id, config, store, self.tracker, self.stats, stop_signal, self._sessions,
                                self._start_url, discover_only, on_disk_full=self._disk_full,
                                previous=previous, page_cache=page_cache)
        self._scheduler: Scheduler | None = None
        self._started_at: str | None = None
        self._resume = resume
        if resume:
            self.tracker.restore_counts(resume.counts, resume.skip_reasons, resume.refused)
            self.tracker.count_reuse(reused=resume.reused)
        self._finish_lock = threading.Lock()

    # ---- control ----

    def request_stop(self, reason: str = "stopped by user", *, interrupted: bool = False) -> None:
        """The one stop path: record why, show 'stopping' at once, set the signal.

        `interrupted` (the server is shutting down) ends the crawl as `interrupted` rather than
        `stopped`: not a person's decision, so the dashboard offers to resume it.
        """
        self._stop(reason, State.INTERRUPTED if interrupted else State.STOPPED)

    def _stop(self, reason: str, state: State) -> None:
        """Stop with a reason and the state the crawl will end in (the first reason wins)."""
        if self.stop_reason is None:
            self.stop_reason = reason
            self._stop_state = state
        if not self.tracker.state.is_final and self.tracker.state != State.STOPPING:
            self.tracker.set_state(State.STOPPING, "stopping: pages saved so far are kept")
            self.sender.nudge()
        self.stop_signal.set()

    @property
    def state(self) -> State:
        return self.tracker.state

    # ---- the crawl ----

    def run(self) -> dict[str, Any]:
        """Crawl until done or stopped; always ends with a summary and `crawler_finished`."""
        self.sender.start()
        fetchers: DaemonThreadPool | None = None
        processors: DaemonThreadPool | None = None
        try:
            if self.stop_signal.is_set():
                return self._finish(State.STOPPED)
            self._started_at = iso_timestamp()
            self.store.open()
            scheduler = self._discover()
            if not self.discover_only:
                self.tracker.set_state(State.RUNNING, f"crawling {self._start_url}")
            fetchers = DaemonThreadPool(self.config.concurrency, thread_name_prefix=f"fetch-{self.crawl_id}")
            processors = DaemonThreadPool(self.cpu.workers + 2, thread_name_prefix=f"process-{self.crawl_id}")
            render = RenderStage(self.ctx, self.render, scheduler.frontier, self._browser_policy,
                                 scheduler.redirect_refusal)
            pipeline = PagePipeline(self.ctx, self.cpu, scheduler, render)
            backlog = self.config.concurrency + 2 * self.cpu.workers  # fetched pages waiting for the CPU, at most
            scheduler.run(fetchers, processors, backlog, pipeline.fetch_stage, pipeline.process_stage)
            if self.stop_signal.is_set():
                return self._finish(State.STOPPED)
            if self.tracker.counts[PageStatus.OK] == 0 and self.ctx.first_error and not self.config.is_selection:
                self.stop_reason = f"the start page could not be crawled: {self.ctx.first_error}"
                return self._finish(State.FAILED)
            return self._finish(State.COMPLETED)
        except StopRequested:
            return self._finish(State.STOPPED)
        except DiskFull as exc:
            self._disk_full(exc)
            return self._finish(State.STOPPED)
        except Exception as exc:  # the crawl itself broke: say so, keep what was saved
            log.exception("crawl %s failed", self.crawl_id)
            self.stop_reason = f"internal error: {exc}"
            return self._finish(State.FAILED)
        finally:
            for pool in (fetchers, processors):
                if pool is not None:
                    pool.shutdown(wait=False, cancel_futures=True)
            self._sessions.close()
            if self._scheduler is not None:
                self._scheduler.frontier.close()

    def _discover(self) -> Scheduler:
        """robots.txt and sitemaps, then the start URL(s): the frontier before the first fetch."""
        config = self.config
        what = "discovering pages of" if self.discover_only else "discovering"
        self.tracker.set_state(State.DISCOVERING, f"{what} {self._start_url}")
        self.tracker.log("info", f"{'discovery' if self.discover_only else 'crawl'} of {self._start_url} "
                                 f"(max {config.max_pages} pages, depth {config.max_depth}, {config.concurrency} "
                                 f"workers, {config.per_host_concurrency} per host)")
        seeds = Seeds(self.ctx, on_unreachable=lambda reason: self.request_stop(reason, interrupted=True))
        frontier = Frontier(
            self._start_url, scope=config.scope, max_depth=config.max_depth, max_pages=config.max_pages,
            include=config.include, exclude=config.exclude,
            allowed_by_robots=seeds.robots.allows if seeds.robots else None,
            per_host_concurrency=config.per_host_concurrency, delay=config.delay,
            spill_dir=self.store.crawl_dir)
        resume = self._resume
        self._scheduler = Scheduler(self.ctx, frontier, pause_signal=self.pause_signal,
                                    discovered=resume.discovered if resume else 0,
                                    sitemap_pages=resume.from_sitemaps if resume else 0)
        seeds.seed(self._scheduler, resume)
        return self._scheduler

    def _disk_full(self, exc: DiskFull) -> None:
        """Nothing more can be written: end the crawl as `failed`, saying where. What was saved
        is kept and the journal is whole, so it can be resumed once there is room
        (crawler/engine/resume.py `can_resume`)."""
        self.tracker.log("error", f"{exc.reason}: stopping the crawl; pages saved so far are kept")
        self._stop(exc.reason, State.FAILED)

    # ---- the end ----

    def _finish(self, state: State) -> dict[str, Any]:
        """Close the store first (nothing is written after this), then summarise and announce."""
        with self._finish_lock:
            if self.summary is not None:
                return self.summary
            self.store.close()
            if state == State.STOPPED:
                state = self._stop_state
                self.stop_reason = self.stop_reason or "stopped by user"
            self.tracker.stop_clock()
            self.tracker.flush_refusals(force=True)
            summary = self._summary(state)
            try:
                self.store.write_meta("summary.json", summary)
            except DiskFull as exc:  # even the summary does not fit: the crawl failed for that
                log.error("could not write the summary of %s: %s", self.crawl_id, exc.reason)
                if state != State.FAILED:
                    state, self.stop_reason = State.FAILED, exc.reason
                    summary = self._summary(state)
            except OSError:
                log.exception("could not write the summary of %s", self.crawl_id)
            # The summary exists before the state turns final, so whoever sees the final state
            # also finds the summary.
            self.summary = summary
            message = self._final_message(state)
            self.tracker.log("error" if state == State.FAILED else "info", message)
            self.tracker.settle_log_seq()
            self.tracker.set_state(state, message)
            self.sender.finish(state, summary)
            return summary

    def _final_message(self, state: State) -> str:
        counts = self.tracker.counts
        saved = counts[PageStatus.OK]
        noun = "page" if saved == 1 else "pages"
        done = f"{saved} {noun} {'fetched' if self.discover_only else 'saved'}"
        return {
            State.COMPLETED: (f"discovery completed: {self._admitted()[0]} pages found"
                              if self.discover_only else f"completed: {done}"),
            State.STOPPED: f"stopped: {saved} {noun} kept",
            State.INTERRUPTED: f"interrupted ({self.stop_reason}): {saved} {noun} kept; resume to continue",
            State.FAILED: f"failed: {self.stop_reason}",
        }[state]

    def _admitted(self) -> tuple[int, int]:
        """URLs admitted to the frontier, and of them listed in a sitemap (in all runs)."""
        if self._scheduler is not None:
            return self._scheduler.discovered, self._scheduler.sitemap_pages
        resume = self._resume
        return (resume.discovered, resume.from_sitemaps) if resume else (0, 0)

    def _summary(self, state: State) -> dict[str, Any]:
        discovered, from_sitemaps = self._admitted()
        counts = dict(self.tracker.counts)
        snapshot = self.tracker.snapshot()
        return {
            "crawl_id": self.crawl_id,
            "kind": CrawlKind.DISCOVERY if self.discover_only else CrawlKind.CRAWL,
            "state": state.value,
            "url": self._start_url,
            **counts,
            "pages_handled": sum(counts.values()),
            "discovered": discovered,
            "from_sitemaps": from_sitemaps,
            "skip_reasons": snapshot["skip_reasons"],
            "refused": snapshot["refused"],
            "reused": self.tracker.reused,
            "from_cache": self.tracker.from_cache,
            "started_at": self._started_at,
            "finished_at": iso_timestamp(),
            "duration": snapshot["elapsed"],
            "stop_reason": self.stop_reason,
            "stage_seconds": snapshot["stage_seconds"],
            "rendered": snapshot["rendered"],
            "downloads": self.downloads,
            "site_files": {name: {key: info[key] for key in ("url", "bytes", "truncated")}
                           for name, info in site_files(self.store.crawl_dir).items()},
        }
