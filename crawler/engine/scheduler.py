"""The scheduler: which URL is fetched next, and what happens to a page's outcome.

It owns the frontier. Its loop (`run`, in the crawl's own thread) starts fetchers as politeness
and the free slots allow; a fetcher whose page is downloaded passes it to the processing pool and
takes its next request itself. The loop waits for any page to finish in slices of 50 ms and acts
on the outcome: links to offer, a retry to schedule, a host to back off. It is done when the frontier has nothing it may hand out and nothing is in flight.
Links refused at admission (robots, out of scope, filtered) are journaled and counted apart.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from crawler.engine.context import CrawlContext
from crawler.engine.events import PageStatus, State, iso_timestamp
from crawler.engine.frontier import (
    ADMISSION_TEXT,
    REFUSALS,
    Admission,
    Frontier,
)
from crawler.engine.heap import trim_heap
from crawler.engine.outcome import CrawlRequest, PageOutcome, Unrecorded
from crawler.engine.signals import PauseSignal
from crawler.engine.threads import DaemonThreadPool
from crawler.engine.urls import host_of
from crawler.folder.writer import DiskFull, StoreClosed

TRIM_EVERY = 5.0  # seconds between giving the heap the crawl's threads freed back (crawler/engine/heap.py)
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
RETRY_AFTER_CAP = 120.0


def backoff_seconds(tries: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """Retry-After when the server gave one (capped), else exponential with jitter (capped)."""
    if retry_after is not None:
        return min(retry_after, RETRY_AFTER_CAP)
    base = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** tries))
    return round(base * (0.5 + (rng or random).random()), 2)


class _Slots:
    """The pages in flight: fetching (counted from a request's hand-out until its page goes to
    processing, or until the loop handles a fetch that gave none) and processing."""

    def __init__(self, concurrency: int, backlog: int) -> None:
        self.lock = threading.Lock()
        self.concurrency = concurrency
        self.backlog = backlog
        self.fetching = 0
        self.processing = 0

    def fetch_free(self) -> bool:
        return self.fetching < self.concurrency and self.fetching + self.processing < self.backlog

    def in_flight(self) -> int:
        with self.lock:
            return self.fetching + self.processing


@dataclass(slots=True)
class _Ended:
    outcome: PageOutcome | None
    fetched: bool  # the fetch stage's outcome (else the processing stage's)
    error: BaseException | None = None


class Scheduler:
    POLL = 0.05

    def __init__(self, ctx: CrawlContext, frontier: Frontier, *, pause_signal: PauseSignal | None = None,
                 discovered: int = 0, sitemap_pages: int = 0) -> None:
        self.ctx = ctx
        self.frontier = frontier
        self.pause_signal = pause_signal
        self.discovered = discovered  # URLs admitted to the frontier (resumed crawls: in all runs)
        self.sitemap_pages = sitemap_pages  # of which listed in a sitemap
        self._paused = False
        self._offer_lock = threading.Lock()

    # ---- admission ----

    def offer(self, url: str, depth: int, referrer: str | None, source: str, forced: bool = False,
              record: Iterable[Admission] = REFUSALS) -> Admission:
        """Admit a URL to the frontier (journaled as discovered) or journal why not."""
        admission, canonical = self.frontier.offer(url, depth, referrer, source, forced=forced)
        self.ctx.tracker.link_offered(depth, source, admission.value, canonical)
        if admission == Admission.QUEUED:
            with self._offer_lock:
                self.discovered += 1
            self.ctx.store.record_discovered(canonical or url, source, depth)
        elif admission in record:
            self._record_refusal(canonical or url, depth, source, admission)
        return admission

    def offer_links(self, request: CrawlRequest, links: list[str]) -> None:
        if not self.ctx.config.is_selection:
            for link in links:
                self.offer(link, request.depth + 1, request.url, "link")

    def _record_refusal(self, url: str, depth: int, source: str, admission: Admission) -> None:
        """A link this crawl knows of but will not fetch: a `skipped` manifest line with the reason
        (so a resumed crawl does not judge it again), counted apart as `refused`, not as a page
        handled, and summarised in the log rather than a line each."""
        ctx = self.ctx
        text = ADMISSION_TEXT[admission]
        try:
            ctx.store.record(url=url, status=PageStatus.SKIPPED, error=text, depth=depth, http_status=None,
                             fetched_at=iso_timestamp(), reason=admission.value, source=source)
        except StoreClosed:
            return
        except DiskFull as exc:
            ctx.on_disk_full(exc)
            return
        ctx.note_failure(source, text)
        ctx.tracker.page_refused(url, admission.value, text, depth, source)

    def redirect_refusal(self, target: str) -> str | None:
        """Why a redirect to `target` may not be followed, or None (then it is claimed)."""
        admission = self.frontier.accepts(target)
        if admission != Admission.QUEUED:
            return ADMISSION_TEXT[admission]
        if not self.frontier.claim(target):
            return "already part of this crawl"
        return None

    def fetch_refusal(self, url: str) -> str | None:
        """Why a file a page names for itself (its Markdown version) may not be fetched: scope,
        filters and robots, as for a redirect, but nothing is claimed (it is not a page)."""
        admission = self.frontier.accepts(url)
        return None if admission == Admission.QUEUED else ADMISSION_TEXT[admission]

    # The frontier's page identities, for the page pipeline (crawler/engine/pipeline.py's PageAdmission).

    def keeps_routes(self, url: str) -> bool:
        return self.frontier.keeps_routes(url)

    def canonical(self, url: str) -> str | None:
        return self.frontier.canonical(url)

    def claim_page(self, key: str) -> bool:
        return self.frontier.claim_page(key)

    def sending(self, url: str) -> None:
        self.frontier.sending(url)

    # ---- the loop ----

    def run(self, fetchers: DaemonThreadPool, processors: DaemonThreadPool, backlog: int,
            fetch_stage: Callable[[CrawlRequest], PageOutcome],
            process_stage: Callable[[PageOutcome], PageOutcome]) -> None:
        """Until the frontier is done or the stop signal is set; `backlog` bounds the pages fetched
        and waiting for processing.

        A fetcher whose fetch ends hands the page to the processors and takes its next request
        itself (`_fetch_loop`), so a fetch slot is never empty while this loop waits for the GIL or
        for an outcome. This loop starts fetchers when slots are free and acts on what ends:
        processed pages, and fetches that did not give a page (a failure, a retry, a stop)."""
        frontier, stop = self.frontier, self.ctx.stop_signal
        slots = _Slots(self.ctx.config.concurrency, backlog)
        # Each ending puts itself here; the loop wakes on the first one.
        finished: queue.SimpleQueue[_Ended] = queue.SimpleQueue()

        def take() -> CrawlRequest | None:
            """The next request, when a fetch slot is free, the backlog allows it, and the crawl
            is neither stopped nor paused."""
            if stop.is_set() or (self.pause_signal is not None and self.pause_signal.is_set()):
                return None
            with slots.lock:
                if not slots.fetch_free():
                    return None
                request = frontier.next_request()
                if request is not None:
                    slots.fetching += 1
                return request

        def process(outcome: PageOutcome) -> None:
            try:
                finished.put(_Ended(process_stage(outcome), fetched=False))
            except BaseException as exc:  # noqa: BLE001 - a bug: the loop raises it (the stages never raise)
                finished.put(_Ended(None, fetched=False, error=exc))

        def fetch_loop(request: CrawlRequest | None) -> None:
            try:
                while request is not None:
                    outcome = fetch_stage(request)
                    if outcome.status != Unrecorded.FETCHED:
                        finished.put(_Ended(outcome, fetched=True))  # still counted as fetching until handled
                    else:
                        frontier.fetch_ended(request)  # the host's slot is free while the page is processed
                        with slots.lock:
                            slots.fetching -= 1
                            slots.processing += 1
                        processors.submit(process, outcome)
                    request = take()
            except BaseException as exc:  # noqa: BLE001 - as above
                finished.put(_Ended(None, fetched=True, error=exc))

        next_trim = time.monotonic() + TRIM_EVERY
        while not stop.is_set():
            if time.monotonic() >= next_trim:  # the fetchers' and processors' arenas hold what they freed
                trim_heap()
                next_trim = time.monotonic() + TRIM_EVERY
            if not self._pause_check():
                while (request := take()) is not None:
                    fetchers.submit(fetch_loop, request)
            in_flight = slots.in_flight()
            self.report(in_flight)
            if not in_flight:
                if frontier.is_done():
                    return
                stop.wait(self.POLL)  # waiting for a delay or a back-off to pass
                continue
            try:
                done = [finished.get(timeout=self.POLL)]
            except queue.Empty:
                continue
            while True:
                try:
                    done.append(finished.get_nowait())
                except queue.Empty:
                    break
            for ended in done:
                if ended.error is not None:
                    raise ended.error
                with slots.lock:
                    if ended.fetched:
                        slots.fetching -= 1
                    else:
                        slots.processing -= 1
                assert ended.outcome is not None
                self._handle(ended.outcome, fetch_ended=not ended.fetched)

    def _pause_check(self) -> bool:
        """True while the host's pause signal is set: no new page is handed out (pages in flight
        go on). Each change is said once, in the log and as the status message."""
        paused = self.pause_signal is not None and self.pause_signal.is_set()
        if paused != self._paused:
            self._paused = paused
            tracker = self.ctx.tracker
            reason = getattr(self.pause_signal, "reason", "") or ("paused" if paused else "resumed")
            tracker.log("warning" if paused else "info", reason)
            if tracker.state == State.RUNNING:
                tracker.set_state(State.RUNNING, reason if paused else f"crawling {self.ctx.start_url}")
        return paused

    def _handle(self, outcome: PageOutcome, fetch_ended: bool) -> None:
        """`fetch_ended`: the outcome comes from processing, the host's slot was given back."""
        request = outcome.request
        if outcome.status == Unrecorded.RETRY and outcome.retry is not None:
            failure = outcome.retry
            delay = backoff_seconds(request.tries, failure.retry_after)
            self.ctx.stats.retry(failure.slow_down)
            if failure.slow_down:
                self.frontier.back_off(host_of(request.url), delay, failure.reason)
            self.frontier.retry_later(request, delay, fetch_ended=fetch_ended)
            self.ctx.tracker.log("warning", f"try {request.tries + 1} of {self.ctx.config.max_retries + 1} for "
                                            f"{request.url} failed ({failure.reason}); retrying in {delay:g} s")
            return
        self.frontier.finish(request, saved=outcome.status == PageStatus.OK, fetch_ended=fetch_ended)
        self.offer_links(request, outcome.links)

    def report(self, in_flight: int) -> None:
        """The frontier's figures to the progress tracker."""
        frontier = self.frontier
        queued = frontier.queued
        # Final when nothing can be discovered any more: the frontier is exhausted with nothing in
        # flight, or what is queued and in flight already fills the page budget.
        final = (self.ctx.config.is_selection or (queued == 0 and in_flight == 0)
                 or queued + in_flight >= frontier.budget_left)
        backoffs = frontier.backoffs()
        self.ctx.tracker.set_frontier(frontier.pending_total(), queued, final, discovered=self.discovered,
                                      backoff=backoffs, listed=self.sitemap_pages, budget_left=frontier.budget_left,
                                      paused=in_flight == 0 and queued > 0 and bool(backoffs))
