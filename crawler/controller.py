"""One crawl, start to end: a scheduler loop, a thread pool of page workers, one stop signal.

The controller owns no web object. It is given its configuration, an event sink and a stop
signal (anything with ``is_set()``/``wait()``), so the same class runs inside the web server
today and inside a worker process tomorrow, emitting through a message queue and stopped
through a shared flag.

Scheduling lives in one thread (``run``): it hands requests from the frontier to the pool, waits
for any page to finish in slices of 50 ms, and adds the links that page found. The crawl is
done when the frontier has nothing to hand out and nothing is in flight. On a stop the loop
leaves at once: the store is closed first (nothing more is written), pages still in flight are
abandoned (their threads notice the stop at their next check and discard their work), and
`crawler_finished` goes out — without waiting for a slow server to finish sending a page.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from .config import CrawlConfig
from .cpu import CpuPool, WorkerCrashed
from .events import EventSink, SafeSink, Stage, State, iso_timestamp
from .extract import page_document
from .fetch import FetchFailed, PageSkipped, SessionPool, StopRequested, fetch_page
from .frontier import Admission, CrawlRequest, Frontier
from .progress import ProgressSender, ProgressTracker
from .robots import MAX_ROBOTS_BYTES, RobotsRules, rules_from_response
from .store import CrawlStore, StoreClosed
from .urls import canonical_url, origin

log = logging.getLogger(__name__)


class StopSignal(Protocol):
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


@dataclass
class PageOutcome:
    request: CrawlRequest
    status: str  # ok | failed | skipped | abandoned
    links: list[str] = field(default_factory=list)


class CrawlController:
    """Runs one crawl to its end in the calling thread; `request_stop` may come from any thread."""

    POLL = 0.05

    def __init__(self, crawl_id: str, config: CrawlConfig, store: CrawlStore, sink: EventSink,
                 stop_signal: StopSignal, cpu: CpuPool, *, session_id: str = "",
                 downloads: dict[str, str] | None = None) -> None:
        self.crawl_id = crawl_id
        self.config = config
        self.store = store
        self.stop_signal = stop_signal
        self.cpu = cpu
        self.tracker = ProgressTracker(crawl_id, session_id)
        self.sender = ProgressSender(self.tracker, SafeSink(sink))
        self.downloads = downloads or {}
        self.stop_reason: str | None = None
        self.summary: dict[str, Any] | None = None
        self._sessions = SessionPool(config.user_agent)
        self._start_url = canonical_url(config.url) or config.url
        self._frontier: Frontier | None = None
        self._started_at: str | None = None
        self._first_error: str | None = None
        self._finish_lock = threading.Lock()

    # ---- control ----

    def request_stop(self, reason: str = "stopped by user") -> None:
        """The one stop path: record why, show 'stopping' at once, set the signal."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if not self.tracker.state.is_final and self.tracker.state != State.STOPPING:
            self.tracker.set_state(State.STOPPING, "stopping: pages saved so far are kept")
            self.sender.nudge()
        if hasattr(self.stop_signal, "set"):
            self.stop_signal.set()  # type: ignore[attr-defined]

    @property
    def state(self) -> State:
        return self.tracker.state

    # ---- the crawl ----

    def run(self) -> dict[str, Any]:
        """Crawl until done or stopped; always ends with a summary and `crawler_finished`."""
        self.sender.start()
        executor: ThreadPoolExecutor | None = None
        try:
            if self.stop_signal.is_set():
                return self._finish(State.STOPPED)
            self._started_at = iso_timestamp()
            self.tracker.set_state(State.RUNNING, f"crawling {self._start_url}")
            self.tracker.log("info", f"crawl started at {self._start_url} "
                                     f"(max {self.config.max_pages} pages, depth {self.config.max_depth}, "
                                     f"{self.config.concurrency} workers)")
            self.store.open()
            self._frontier = self._build_frontier()
            self._offer(self._start_url, 0, None)
            executor = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix=f"crawl-{self.crawl_id}")
            self._schedule(executor)
            if self.stop_signal.is_set():
                return self._finish(State.STOPPED)
            if self.tracker.counts["ok"] == 0 and self._first_error:
                self.stop_reason = f"the start page could not be crawled: {self._first_error}"
                return self._finish(State.FAILED)
            return self._finish(State.COMPLETED)
        except Exception as exc:  # the crawl itself broke: say so, keep what was saved
            log.exception("crawl %s failed", self.crawl_id)
            self.stop_reason = f"internal error: {exc}"
            return self._finish(State.FAILED)
        finally:
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
            self._sessions.close()

    def _build_frontier(self) -> Frontier:
        robots = self._load_robots() if self.config.respect_robots else None
        return Frontier(self._start_url, scope=self.config.scope, max_depth=self.config.max_depth,
                        max_pages=self.config.max_pages, include=self.config.include,
                        exclude=self.config.exclude, allowed_by_robots=robots.allows if robots else None)

    def _load_robots(self) -> RobotsRules:
        robots_url = origin(self._start_url) + "/robots.txt"
        try:
            response = self._sessions.get().get(robots_url, timeout=min(self.config.timeout, 10))
            text = response.content[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
            rules = rules_from_response(response.status_code, text, self.config.user_agent)
        except requests.RequestException as exc:
            rules = rules_from_response(None, None, self.config.user_agent)
            rules.note = f"robots.txt could not be fetched ({exc.__class__.__name__}): treating the site as disallowed"
        self.tracker.log("info" if rules.parser is None or "loaded" in rules.note else "warning", rules.note)
        return rules

    def _schedule(self, executor: ThreadPoolExecutor) -> None:
        assert self._frontier is not None
        in_flight: dict[Future[PageOutcome], CrawlRequest] = {}
        while not self.stop_signal.is_set():
            while len(in_flight) < self.config.concurrency:
                request = self._frontier.next_request()
                if request is None:
                    break
                in_flight[executor.submit(self._process_page, request)] = request
            self._report_frontier(len(in_flight))
            if not in_flight:
                return
            done, _ = wait(in_flight, timeout=self.POLL, return_when=FIRST_COMPLETED)
            for future in done:
                request = in_flight.pop(future)
                outcome = future.result()  # _process_page never raises
                self._frontier.finish(saved=outcome.status == "ok")
                for link in outcome.links:
                    self._offer(link, request.depth + 1, request.url)

    def _report_frontier(self, in_flight: int) -> None:
        frontier = self._frontier
        assert frontier is not None
        # Final when nothing can be discovered any more: the frontier is exhausted with nothing in
        # flight, or what is queued and in flight already fills the page budget.
        final = (frontier.queued == 0 and in_flight == 0) or frontier.queued + in_flight >= frontier.budget_left
        self.tracker.set_frontier(frontier.pending_total(), frontier.queued, final)

    def _offer(self, url: str, depth: int, referrer: str | None) -> None:
        assert self._frontier is not None
        if self._frontier.offer(url, depth, referrer) == Admission.ROBOTS:
            canonical = canonical_url(url) or url
            self._record_unsaved(CrawlRequest(canonical, depth, referrer), "skipped", "disallowed by robots.txt", None)

    # ---- one page, in a worker thread ----

    def _process_page(self, request: CrawlRequest) -> PageOutcome:
        """fetching → parsing + extracting (process pool) → storing; never raises."""
        stage = "fetch"
        try:
            self._check_stop()
            self.tracker.page_stage(request.url, Stage.FETCHING, request.depth)
            started = time.perf_counter()
            page = fetch_page(self._sessions.get(), request.url, timeout=self.config.timeout,
                              stop=self.stop_signal, check_redirect=self._redirect_refusal)  # type: ignore[arg-type]
            self.tracker.add_stage_time("fetch", time.perf_counter() - started)
            fetched_at = iso_timestamp()

            stage = "parse"
            self._check_stop()
            self.tracker.page_stage(request.url, Stage.PARSING, request.depth)
            analysis = self.cpu.analyze(
                page.body, page.encoding, page.url, stop=self.stop_signal,  # type: ignore[arg-type]
                on_extracting=lambda: self.tracker.page_stage(request.url, Stage.EXTRACTING, request.depth))
            self.tracker.add_stage_time("parse", analysis.parse_seconds)
            self.tracker.add_stage_time("extract", analysis.extract_seconds)

            stage = "store"
            self._check_stop()
            self.tracker.page_stage(request.url, Stage.STORING, request.depth)
            started = time.perf_counter()
            entry = self.store.save_page(url=request.url, document=page_document(analysis.title, request.url, analysis.markdown),
                                         title=analysis.title, depth=request.depth, http_status=page.http_status,
                                         words=analysis.words, fetched_at=fetched_at)
            self.tracker.add_stage_time("store", time.perf_counter() - started)
            self.tracker.page_done(request.url, "ok", request.depth, title=analysis.title)
            note = "" if analysis.words else " — no main content found"
            self.tracker.log("info", f"saved {request.url} ({analysis.words:,} words){note}")
            del entry
            return PageOutcome(request, "ok", analysis.links)
        except (StopRequested, StoreClosed):
            return PageOutcome(request, "abandoned")
        except PageSkipped as exc:
            return self._record_unsaved(request, "skipped", exc.reason, exc.http_status)
        except FetchFailed as exc:
            return self._record_unsaved(request, "failed", exc.reason, exc.http_status)
        except WorkerCrashed as exc:
            return self._record_unsaved(request, "failed", str(exc), None)
        except Exception as exc:  # a bug in one stage fails one page, named by its stage
            log.exception("%s stage failed for %s", stage, request.url)
            return self._record_unsaved(request, "failed", f"{stage} error: {exc.__class__.__name__}: {exc}", None)

    def _record_unsaved(self, request: CrawlRequest, status: str, reason: str, http_status: int | None) -> PageOutcome:
        try:
            self.store.record(url=request.url, status=status, error=reason, depth=request.depth,
                              http_status=http_status, fetched_at=iso_timestamp())
        except StoreClosed:
            return PageOutcome(request, "abandoned")
        if request.depth == 0 and self._first_error is None:
            self._first_error = reason  # the start page itself: if nothing is saved, say why
        self.tracker.page_done(request.url, status, request.depth, error=reason)
        self.tracker.log("warning" if status == "failed" else "info", f"{status} {request.url}: {reason}")
        return PageOutcome(request, status)

    def _redirect_refusal(self, target: str) -> str | None:
        assert self._frontier is not None
        admission = self._frontier.accepts(target)
        if admission != Admission.QUEUED:
            return admission.value
        if not self._frontier.claim(target):
            return "duplicate (that page is already part of this crawl)"
        return None

    def _check_stop(self) -> None:
        if self.stop_signal.is_set():
            raise StopRequested()

    # ---- the end ----

    def _finish(self, state: State) -> dict[str, Any]:
        """Close the store first (nothing is written after this), then summarise and announce."""
        with self._finish_lock:
            if self.summary is not None:
                return self.summary
            self.store.close()
            counts = dict(self.tracker.counts)
            if state == State.STOPPED and not self.stop_reason:
                self.stop_reason = "stopped by user"
            pages = f"{counts['ok']} page{'' if counts['ok'] == 1 else 's'}"
            message = {
                State.COMPLETED: f"completed: {pages} saved",
                State.STOPPED: f"stopped: {pages} kept",
                State.FAILED: f"failed: {self.stop_reason}",
            }[state]
            self.tracker.stop_clock()
            snapshot = self.tracker.snapshot()
            summary = {
                "crawl_id": self.crawl_id,
                "state": state.value,
                "url": self._start_url,
                **counts,
                "pages_handled": sum(counts.values()),
                "started_at": self._started_at,
                "finished_at": iso_timestamp(),
                "duration": snapshot["elapsed"],
                "stop_reason": self.stop_reason,
                "stage_seconds": snapshot["stage_seconds"],
                "downloads": self.downloads,
            }
            try:
                self.store.write_meta("summary.json", summary)
            except OSError:
                log.exception("could not write the summary of %s", self.crawl_id)
            # The summary exists before the state turns final, so whoever sees the final state
            # also finds the summary.
            self.summary = summary
            self.tracker.log("error" if state == State.FAILED else "info", message)
            self.tracker.set_state(state, message)
            self.sender.finish(state, summary)
            return summary
