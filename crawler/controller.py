"""One crawl, start to end: a scheduler loop, a thread pool of page workers, one stop signal.

The controller owns no web object. It is given its configuration, an event sink and a stop
signal (anything with ``is_set()``/``wait()``), so the same class runs inside the web server
today and inside a worker process tomorrow, emitting through a message queue and stopped
through a shared flag.

Phases: *discovering* (robots.txt, sitemaps; the whole run for a discovery-only crawl) then
*running* (pages through fetching → parsing → extracting → storing, links found on the way
joining the frontier). Scheduling lives in one thread (``run``): it hands requests from the
frontier to the fetch pool as politeness allows, waits for any page to finish in slices of
50 ms, and acts on the outcome (links to offer, a retry to schedule, a host to back off). The
crawl is done when the frontier has nothing it may hand out and nothing is in flight.

Two thread pools: `concurrency` fetchers, which only wait on the network, and a few processors,
which hand pages to the CPU process pool and store the results. A fetcher is free for the next
URL as soon as its page is downloaded, so on a slow site `concurrency` requests are really in
flight all the time; the processors' queue is bounded, so on a fast site fetching waits for
extraction instead of piling pages up in memory.

On a stop the loop leaves at once: the store is closed first (nothing more is written), pages
still in flight are abandoned (their threads notice the stop at their next check and discard
their work), and `crawler_finished` goes out, without waiting for a slow server. The pools'
threads are daemon threads that nothing joins at exit (crawler/threads.py), so an abandoned
fetch does not hold the process open after a stop either.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from .config import CrawlConfig
from .cpu import CpuPool, WorkerCrashed
from .events import EventSink, SafeSink, Stage, State, iso_timestamp
from .extract import page_document
from .fetch import (FetchedPage, FetchFailed, PageSkipped, SessionPool, StopRequested, TransientFailure,
                    fetch_page, fetch_robots_txt)
from .frontier import ADMISSION_TEXT, REFUSALS, Admission, CrawlRequest, Frontier
from .netguard import AddressPolicy
from .progress import ProgressSender, ProgressTracker
from .resume import ResumeState
from .robots import MAX_ROBOTS_BYTES, RobotsCache, RobotsRules, robots_text
from .sitemaps import SitemapResult, discover_sitemap_urls
from .stats import CrawlStats, NoStats
from .store import CrawlStore, DiskFull, StoreClosed
from .threads import DaemonThreadPool
from .urls import canonical_url, host_of, in_scope

log = logging.getLogger(__name__)

BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
RETRY_AFTER_CAP = 120.0
CRAWL_DELAY_CAP = 60.0
SITEMAP_DEPTH = 1  # a page listed in a sitemap is one hop from the start, as if linked from it
RECORDED_REFUSALS = REFUSALS  # recorded in the manifest, counted as `refused`
ROBOTS_TRIES = 4  # a robots.txt that times out, resets or answers 5xx is asked up to 4 times...
ROBOTS_BACKOFF = 0.5  # ...waiting 0.5, 1 and 2 s in between
ROBOTS_TIMEOUT_CAP = 10.0  # seconds per read (the crawl's timeout, at most this); 3 × that in all


class StopSignal(Protocol):
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class PauseSignal(Protocol):
    """Set by the host (e.g. its memory guard) while no new page may be handed out; `reason`
    says why, for the status message and the log."""

    reason: str

    def is_set(self) -> bool: ...


@dataclass
class PageOutcome:
    request: CrawlRequest
    status: str  # ok | failed | skipped | abandoned | retry | fetched
    links: list[str] = field(default_factory=list)
    retry: TransientFailure | None = None
    page: FetchedPage | None = None
    fetched_at: str | None = None


def let_others_run(iteration: int, every: int = 500) -> None:
    """Yield now and then inside a long loop of pure Python (100,000 selected URLs): under the
    eventlet server the crawl thread is a green thread, and it would otherwise hold every
    socket of the server until the loop ends."""
    if iteration % every == every - 1:
        time.sleep(0)


def backoff_seconds(tries: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """Retry-After when the server gave one (capped), else exponential with jitter (capped)."""
    if retry_after is not None:
        return min(retry_after, RETRY_AFTER_CAP)
    base = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** tries))
    return round(base * (0.5 + (rng or random).random()), 2)


class CrawlController:
    """Runs one crawl to its end in the calling thread; `request_stop` may come from any thread."""

    POLL = 0.05

    def __init__(self, crawl_id: str, config: CrawlConfig, store: CrawlStore, sink: EventSink,
                 stop_signal: StopSignal, cpu: CpuPool, *, session_id: str = "",
                 downloads: dict[str, str] | None = None, discover_only: bool = False,
                 resume: ResumeState | None = None, address_policy: AddressPolicy | None = None,
                 pause_signal: PauseSignal | None = None, stats: CrawlStats | None = None) -> None:
        self.crawl_id = crawl_id
        self.config = config
        self.store = store
        self.stop_signal = stop_signal
        self.cpu = cpu
        self.discover_only = discover_only
        self.stats: CrawlStats = stats or NoStats()
        self.tracker = ProgressTracker(crawl_id, session_id, stats=self.stats)
        self.pause_signal = pause_signal
        self._paused = False
        self.sender = ProgressSender(self.tracker, SafeSink(sink))
        self.downloads = downloads or {}
        self.stop_reason: str | None = None
        self._stop_state = State.STOPPED
        self.summary: dict[str, Any] | None = None
        self._sessions = SessionPool(config.user_agent, address_policy)
        self._start_url = canonical_url(config.url) or config.url
        self._frontier: Frontier | None = None
        self._robots: RobotsCache | None = None
        self._started_at: str | None = None
        self._first_error: str | None = None
        self._resume = resume
        self._discovered = resume.discovered if resume else 0
        self._sitemap_pages = resume.from_sitemaps if resume else 0
        self._offer_lock = threading.Lock()
        if resume:
            self.tracker.restore_counts(resume.counts, resume.skip_reasons, resume.refused)
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
        if hasattr(self.stop_signal, "set"):
            self.stop_signal.set()  # type: ignore[attr-defined]

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
            self._discover()
            if not self.discover_only:
                self.tracker.set_state(State.RUNNING, f"crawling {self._start_url}")
            fetchers = DaemonThreadPool(self.config.concurrency, thread_name_prefix=f"fetch-{self.crawl_id}")
            processors = DaemonThreadPool(self.cpu.workers + 2, thread_name_prefix=f"process-{self.crawl_id}")
            self._schedule(fetchers, processors)
            if self.stop_signal.is_set():
                return self._finish(State.STOPPED)
            if self.tracker.counts["ok"] == 0 and self._first_error and not self.config.is_selection:
                self.stop_reason = f"the start page could not be crawled: {self._first_error}"
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

    # ---- discovery ----

    def _discover(self) -> None:
        """robots.txt and sitemaps, then the start URL(s): the frontier before the first fetch."""
        config = self.config
        what = "discovering pages of" if self.discover_only else "discovering"
        self.tracker.set_state(State.DISCOVERING, f"{what} {self._start_url}")
        self.tracker.log("info", f"{'discovery' if self.discover_only else 'crawl'} of {self._start_url} "
                                 f"(max {config.max_pages} pages, depth {config.max_depth}, {config.concurrency} "
                                 f"workers, {config.per_host_concurrency} per host)")
        if config.respect_robots:
            self._robots = RobotsCache(self._fetch_robots, config.user_agent, self._robots_loaded)
        self._frontier = Frontier(
            self._start_url, scope=config.scope, max_depth=config.max_depth, max_pages=config.max_pages,
            include=config.include, exclude=config.exclude,
            allowed_by_robots=self._robots.allows if self._robots else None,
            per_host_concurrency=config.per_host_concurrency, delay=config.delay)
        if self._robots is not None:
            # The start origin's robots.txt first (its Crawl-delay goes to the frontier), before
            # anything is admitted: if it cannot be fetched the crawl ends here with nothing
            # half-admitted, and a resume starts afresh.
            self._robots.rules_for(self._start_url)
        resume = self._resume
        if resume is not None and (resume.discovered or resume.handled):
            self._continue_from(resume)
            return
        # A fresh crawl, or a resumed one whose first run ended before it admitted anything
        # (robots.txt unreachable, disk full): discovery from the start.
        if config.is_selection:
            for number, url in enumerate(config.urls):
                self._offer(url, 0, None, "selection", forced=True)
                let_others_run(number)
            self._report_frontier(0)
            return
        self._offer(self._start_url, 0, None, "start")
        if config.use_sitemaps:
            self._read_sitemaps()
        self._report_frontier(0)

    def _continue_from(self, resume: ResumeState) -> None:
        """A resumed crawl: sitemaps and links were read before; queue only what was left."""
        assert self._frontier is not None
        self._frontier.restore(resume.seen, resume.stored_keys, resume.saved, resume.pending)
        if self.config.is_selection:
            # A first run cut off while admitting its selection (robots.txt of a later host could
            # not be fetched) left part of it unjournaled; URLs already judged are SEEN here.
            for number, url in enumerate(self.config.urls):
                self._offer(url, 0, None, "selection", forced=True)
                let_others_run(number)
        self.tracker.log("info", f"resuming: {resume.saved} pages already saved, {len(resume.handled)} URLs "
                                 f"handled, {len(resume.pending)} left in the queue")
        self._report_frontier(0)

    def _read_sitemaps(self) -> None:
        listed = self._robots.rules_for(self._start_url).sitemaps if self._robots else []

        def progress(result: SitemapResult) -> None:
            self.tracker.set_frontier(0, 0, False, discovered=self._discovered + len(result.page_urls))

        result = discover_sitemap_urls(self._sessions.get(), self._start_url, listed,
                                       timeout=min(self.config.timeout, 30),
                                       stop=self.stop_signal, on_progress=progress)  # type: ignore[arg-type]
        for level, note in result.notes:
            self.tracker.log(level, note)
        before = self._discovered
        for number, url in enumerate(result.page_urls):
            let_others_run(number)
            admission, _ = self._frontier.offer(url, SITEMAP_DEPTH, None, "sitemap")  # type: ignore[union-attr]
            if admission == Admission.QUEUED:
                self._discovered += 1
                self.store.record_discovered(canonical_url(url) or url, "sitemap", SITEMAP_DEPTH)
            elif admission == Admission.ROBOTS:
                self._record_refusal(url, SITEMAP_DEPTH, "sitemap", admission)
        self._sitemap_pages = self._discovered - before
        if result.sitemaps_read:
            self.tracker.log("info", f"sitemaps: {len(result.page_urls)} URLs listed, "
                                     f"{self._sitemap_pages} new pages in scope")
        else:
            self.tracker.log("info", "no sitemap found; discovering pages by following links")

    def _fetch_robots(self, robots_url: str) -> tuple[int | None, str | None]:
        """robots.txt like a page (time limit, capped read, stop-aware), transient failures retried.

        If it stays unreachable, the crawl ends as `interrupted` with the reason (resumable: the
        site may be back later) instead of guessing: StopRequested is raised in the asking thread.
        """
        origin_url = robots_url.removesuffix("/robots.txt")
        timeout = min(self.config.timeout, ROBOTS_TIMEOUT_CAP)
        delay = ROBOTS_BACKOFF
        failure: FetchFailed | None = None
        for attempt in range(1, ROBOTS_TRIES + 1):
            self._check_stop()
            try:
                status, body, truncated = self._stop_aware(lambda: fetch_robots_txt(
                    self._sessions.get(), robots_url, timeout=timeout, stop=self.stop_signal,  # type: ignore[arg-type]
                    max_bytes=MAX_ROBOTS_BYTES))
            except TransientFailure as exc:
                failure = exc
            except FetchFailed as exc:  # DNS, TLS, a refused address, a redirect loop: no retry helps
                failure = exc
                break
            else:
                if truncated:
                    self.tracker.log("warning", f"{robots_url} is larger than {MAX_ROBOTS_BYTES // 1024} KiB: "
                                                f"its first {MAX_ROBOTS_BYTES // 1024} KiB are used, the rest ignored")
                return status, robots_text(body, truncated)
            if attempt < ROBOTS_TRIES:
                self.tracker.log("warning", f"{robots_url}: try {attempt} of {ROBOTS_TRIES} failed "
                                            f"({failure.reason}); retrying in {delay:g} s")
                if self.stop_signal.wait(delay):
                    raise StopRequested()
                delay *= 2
        assert failure is not None
        reason = f"robots.txt of {origin_url} could not be fetched ({failure.reason}); resume to try again"
        self.tracker.log("error", reason)
        self.request_stop(reason, interrupted=True)
        raise StopRequested()

    def _stop_aware(self, work: Callable[[], Any]) -> Any:
        """Run blocking network work in a helper thread and wait for it, but no longer than the
        stop signal allows: on a stop, StopRequested at once (the helper is abandoned and ends
        by its own time limit). Waiting for response headers cannot be interrupted otherwise."""
        done = threading.Event()
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["result"] = work()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                outcome["error"] = exc
            finally:
                done.set()

        threading.Thread(target=target, name=f"robots-{self.crawl_id}", daemon=True).start()
        while not done.wait(self.POLL):
            if self.stop_signal.is_set():
                raise StopRequested()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    def _robots_loaded(self, origin_url: str, rules: RobotsRules) -> None:
        self.tracker.log("info" if rules.parser is None or "loaded" in rules.note else "warning",
                         f"{origin_url}: {rules.note}")
        delay = rules.crawl_delay
        if delay and self._frontier is not None:
            applied = min(delay, CRAWL_DELAY_CAP)
            self._frontier.set_host_delay(host_of(origin_url + "/"), max(applied, self.config.delay))
            self.tracker.log("info", f"{origin_url}: Crawl-delay {delay:g} s"
                                     + (f" (capped at {CRAWL_DELAY_CAP:g} s)" if delay > CRAWL_DELAY_CAP else ""))

    # ---- scheduling ----

    def _schedule(self, fetchers: DaemonThreadPool, processors: DaemonThreadPool) -> None:
        frontier = self._frontier
        assert frontier is not None
        fetching: set[Future[PageOutcome]] = set()
        processing: set[Future[PageOutcome]] = set()
        backlog = self.config.concurrency + 2 * self.cpu.workers  # fetched pages waiting for the CPU, at most
        while not self.stop_signal.is_set():
            while (not self._pause_check() and len(fetching) < self.config.concurrency
                   and len(fetching) + len(processing) < backlog):
                request = frontier.next_request()
                if request is None:
                    break
                fetching.add(fetchers.submit(self._fetch_stage, request))
            self._report_frontier(len(fetching) + len(processing))
            if not fetching and not processing:
                if frontier.is_done():
                    return
                self.stop_signal.wait(self.POLL)  # waiting for a delay or a back-off to pass
                continue
            done, _ = wait(fetching | processing, timeout=self.POLL, return_when=FIRST_COMPLETED)
            for future in done:
                fetching.discard(future)
                processing.discard(future)
                outcome = future.result()  # the stages never raise
                if outcome.status == "fetched":
                    processing.add(processors.submit(self._process_stage, outcome))
                else:
                    self._handle(outcome)

    def _pause_check(self) -> bool:
        """True while the host's pause signal is set: no new page is handed out (pages in flight
        go on). Each change is said once, in the log and as the status message."""
        paused = self.pause_signal is not None and self.pause_signal.is_set()
        if paused != self._paused:
            self._paused = paused
            reason = getattr(self.pause_signal, "reason", "") or ("paused" if paused else "resumed")
            self.tracker.log("warning" if paused else "info", reason)
            if self.tracker.state == State.RUNNING:
                self.tracker.set_state(State.RUNNING, reason if paused else f"crawling {self._start_url}")
        return paused

    def _handle(self, outcome: PageOutcome) -> None:
        frontier = self._frontier
        assert frontier is not None
        request = outcome.request
        if outcome.status == "retry" and outcome.retry is not None:
            failure = outcome.retry
            delay = backoff_seconds(request.tries, failure.retry_after)
            self.stats.retry(failure.slow_down)
            if failure.slow_down:
                frontier.back_off(host_of(request.url), delay, failure.reason)
            frontier.retry_later(request, delay)
            self.tracker.log("warning", f"try {request.tries + 1} of {self.config.max_retries + 1} for {request.url} "
                                        f"failed ({failure.reason}); retrying in {delay:g} s")
            return
        frontier.finish(request, saved=outcome.status == "ok")
        self._offer_links(request, outcome.links)

    def _offer_links(self, request: CrawlRequest, links: list[str]) -> None:
        if not self.config.is_selection:
            for link in links:
                self._offer(link, request.depth + 1, request.url, "link")

    def _report_frontier(self, in_flight: int) -> None:
        frontier = self._frontier
        assert frontier is not None
        queued = frontier.queued
        # Final when nothing can be discovered any more: the frontier is exhausted with nothing in
        # flight, or what is queued and in flight already fills the page budget.
        final = (self.config.is_selection or (queued == 0 and in_flight == 0)
                 or queued + in_flight >= frontier.budget_left)
        backoffs = frontier.backoffs()
        self.tracker.set_frontier(frontier.pending_total(), queued, final, discovered=self._discovered,
                                  backoff=backoffs, listed=self._sitemap_pages, budget_left=frontier.budget_left,
                                  paused=in_flight == 0 and queued > 0 and bool(backoffs))

    def _offer(self, url: str, depth: int, referrer: str | None, source: str, forced: bool = False) -> None:
        assert self._frontier is not None
        admission, canonical = self._frontier.offer(url, depth, referrer, source, forced=forced)
        if admission == Admission.QUEUED:
            with self._offer_lock:
                self._discovered += 1
            self.store.record_discovered(canonical or url, source, depth)
        elif admission in RECORDED_REFUSALS:
            self._record_refusal(canonical or url, depth, source, admission)

    def _record_refusal(self, url: str, depth: int, source: str, admission: Admission) -> None:
        """A link this crawl knows of but will not fetch: a `skipped` manifest line with the reason
        (so a resumed crawl does not judge it again), counted apart as `refused`, not as a page
        handled, and summarised in the log rather than a line each."""
        text = ADMISSION_TEXT[admission]
        try:
            self.store.record(url=url, status="skipped", error=text, depth=depth, http_status=None,
                              fetched_at=iso_timestamp(), reason=admission.value, source=source)
        except StoreClosed:
            return
        except DiskFull as exc:
            self._disk_full(exc)
            return
        if source in ("start", "selection") and self._first_error is None:
            self._first_error = text  # the start page itself: if nothing is saved, say why
        self.tracker.page_refused(url, admission.value, text, depth, source)

    # ---- one page, in a worker thread ----

    def _fetch_stage(self, request: CrawlRequest) -> PageOutcome:
        """fetching, in a fetcher thread; never raises."""
        return self._guarded(request, "fetch", self._fetch)

    def _fetch(self, request: CrawlRequest) -> PageOutcome:
        self._check_stop()
        self.tracker.page_stage(request.url, Stage.FETCHING, request.depth, request.source)
        started = time.perf_counter()
        page = fetch_page(self._sessions.get(), request.url, timeout=self.config.timeout,
                          stop=self.stop_signal, check_redirect=self._redirect_refusal)  # type: ignore[arg-type]
        self.tracker.add_stage_time("fetch", time.perf_counter() - started)
        self.stats.downloaded_bytes(len(page.body))
        return PageOutcome(request, "fetched", page=page, fetched_at=iso_timestamp())

    def _process_stage(self, fetched: PageOutcome) -> PageOutcome:
        """parsing + extracting (process pool) → storing, in a processor thread; never raises."""
        return self._guarded(fetched.request, "parse", lambda request: self._process(fetched))

    def _process(self, fetched: PageOutcome) -> PageOutcome:
        request, page, fetched_at = fetched.request, fetched.page, fetched.fetched_at
        assert page is not None and fetched_at is not None and self._frontier is not None
        url, depth, source = request.url, request.depth, request.source
        self._check_stop()
        self.tracker.page_stage(url, Stage.PARSING, depth)
        analysis = self.cpu.analyze(
            page.body, page.encoding, page.url, stop=self.stop_signal,  # type: ignore[arg-type]
            extract=not self.discover_only,
            on_extracting=lambda: self.tracker.page_stage(url, Stage.EXTRACTING, depth))
        self.tracker.add_stage_time("parse", analysis.parse_seconds)
        self.tracker.add_stage_time("extract", analysis.extract_seconds)

        page_key = self._page_key(page.url, analysis.canonical)
        if not self._frontier.claim_page(page_key):
            return self._record_unsaved(request, "skipped", f"same page as {page_key} (already in this crawl)",
                                        page.http_status, "duplicate", links=analysis.links)
        # Links are admitted (and journaled) before the page's own record: a crash between the two
        # then costs a refetch of this page on resume, never the links found on it.
        self._offer_links(request, analysis.links)
        if self.discover_only:  # a line per page handled, with its title, but no file
            self.store.record(url=url, status="ok", error=None, depth=depth, http_status=page.http_status,
                              fetched_at=fetched_at, title=analysis.title, source=source)
            self.tracker.page_done(url, "ok", depth, title=analysis.title, source=source)
            return PageOutcome(request, "ok")

        self._check_stop()
        self.tracker.page_stage(url, Stage.STORING, depth)
        started = time.perf_counter()
        self.store.save_page(url=url, document=page_document(analysis.title, page_key, analysis.markdown),
                             title=analysis.title, depth=depth, http_status=page.http_status,
                             words=analysis.words, fetched_at=fetched_at, source=source,
                             canonical=page_key if page_key != url else None,
                             site_name=analysis.site_name, description=analysis.description)
        self.tracker.add_stage_time("store", time.perf_counter() - started)
        self.tracker.page_done(url, "ok", depth, title=analysis.title, source=source)
        note = "" if analysis.words else " — no main content found"
        self.tracker.log("info", f"saved {url} ({analysis.words:,} words){note}")
        return PageOutcome(request, "ok")

    def _guarded(self, request: CrawlRequest, stage: str,
                 work: Callable[[CrawlRequest], PageOutcome]) -> PageOutcome:
        """Run a stage; turn every way it can end into an outcome (and a manifest line)."""
        try:
            return work(request)
        except (StopRequested, StoreClosed):
            return PageOutcome(request, "abandoned")
        except DiskFull as exc:  # no page of this crawl can be saved any more: the crawl ends
            self._disk_full(exc)
            return PageOutcome(request, "abandoned")
        except PageSkipped as exc:
            return self._record_unsaved(request, "skipped", exc.reason, exc.http_status, exc.code)
        except TransientFailure as exc:
            if request.tries < self.config.max_retries and not self.stop_signal.is_set():
                return PageOutcome(request, "retry", retry=exc)
            tries = request.tries + 1
            reason = f"{exc.reason} (after {tries} {'try' if tries == 1 else 'tries'})"
            return self._record_unsaved(request, "failed", reason, exc.http_status, exc.code)
        except FetchFailed as exc:
            return self._record_unsaved(request, "failed", exc.reason, exc.http_status, exc.code)
        except WorkerCrashed as exc:
            return self._record_unsaved(request, "failed", str(exc), None, "crashed")
        except Exception as exc:  # a bug in one stage fails one page, named by its stage
            log.exception("%s stage failed for %s", stage, request.url)
            return self._record_unsaved(request, "failed", f"{stage} error: {exc.__class__.__name__}: {exc}", None,
                                        f"{stage}_error")

    def _page_key(self, fetched_url: str, declared: str | None) -> str:
        """The page's identity: its rel=canonical URL when that stays in scope, else its own URL."""
        own = canonical_url(fetched_url) or fetched_url
        if declared:
            target = canonical_url(declared)
            if target and in_scope(target, self._start_url, self.config.scope):
                return target
        return own

    def _record_unsaved(self, request: CrawlRequest, status: str, reason: str, http_status: int | None,
                        code: str | None, links: list[str] | None = None) -> PageOutcome:
        try:
            self.store.record(url=request.url, status=status, error=reason, depth=request.depth,
                              http_status=http_status, fetched_at=iso_timestamp(), reason=code,
                              source=request.source)
        except StoreClosed:
            return PageOutcome(request, "abandoned")
        except DiskFull as exc:
            self._disk_full(exc)
            return PageOutcome(request, "abandoned")
        if request.source in ("start", "selection") and self._first_error is None:
            self._first_error = reason  # the start page itself: if nothing is saved, say why
        self.tracker.page_done(request.url, status, request.depth, error=reason, reason=code, source=request.source)
        if code not in ("out_of_scope", "filtered"):  # a redirect out of the crawl: counted, not logged
            self.tracker.log("warning" if status == "failed" else "info", f"{status} {request.url}: {reason}")
        return PageOutcome(request, status, links or [])

    def _redirect_refusal(self, target: str) -> str | None:
        assert self._frontier is not None
        admission = self._frontier.accepts(target)
        if admission != Admission.QUEUED:
            return ADMISSION_TEXT[admission]
        if not self._frontier.claim(target):
            return "already part of this crawl"
        return None

    def _disk_full(self, exc: DiskFull) -> None:
        """Nothing more can be written: end the crawl as `failed`, saying where. What was saved
        is kept and the journal is whole, so it can be resumed once there is room
        (crawler/resume.py `can_resume`)."""
        self.tracker.log("error", f"{exc.reason}: stopping the crawl; pages saved so far are kept")
        self._stop(exc.reason, State.FAILED)

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
            self.tracker.set_state(state, message)
            self.sender.finish(state, summary)
            return summary

    def _final_message(self, state: State) -> str:
        counts = self.tracker.counts
        noun = "page" if counts["ok"] == 1 else "pages"
        done = f"{counts['ok']} {noun} {'fetched' if self.discover_only else 'saved'}"
        return {
            State.COMPLETED: (f"discovery completed: {self._discovered} pages found"
                              if self.discover_only else f"completed: {done}"),
            State.STOPPED: f"stopped: {counts['ok']} {noun} kept",
            State.INTERRUPTED: f"interrupted ({self.stop_reason}): {counts['ok']} {noun} kept; resume to continue",
            State.FAILED: f"failed: {self.stop_reason}",
        }[state]

    def _summary(self, state: State) -> dict[str, Any]:
        counts = dict(self.tracker.counts)
        snapshot = self.tracker.snapshot()
        return {
            "crawl_id": self.crawl_id,
            "kind": "discovery" if self.discover_only else "crawl",
            "state": state.value,
            "url": self._start_url,
            **counts,
            "pages_handled": sum(counts.values()),
            "discovered": self._discovered,
            "from_sitemaps": self._sitemap_pages,
            "skip_reasons": snapshot["skip_reasons"],
            "refused": snapshot["refused"],
            "started_at": self._started_at,
            "finished_at": iso_timestamp(),
            "duration": snapshot["elapsed"],
            "stop_reason": self.stop_reason,
            "stage_seconds": snapshot["stage_seconds"],
            "downloads": self.downloads,
        }
