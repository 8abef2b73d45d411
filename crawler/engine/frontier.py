"""The URL frontier: what to crawl next, what was already seen, and when each host may be asked.

Breadth first per host, round robin across hosts. The frontier owns three kinds of limits:

* the page budget: a request is *reserved* when handed out and *finished* as saved or not, so the
  crawl never saves more than `max_pages` pages however many workers run;
* politeness per host: at most `per_host_concurrency` requests in flight (a page being processed
  after its fetch is not one), at least `delay`
  seconds between request starts (robots.txt `Crawl-delay` raises it), and a back-off window
  after a 429/503 during which the host is not asked at all;
* retries: a request that failed transiently comes back after its own back-off, ahead of new
  work for its host.

It also remembers which *pages* (not just URLs) were stored, so a page reached under a second
URL (rel=canonical, redirect) is stored once. All methods are thread-safe. Each host's queue keeps
its oldest few thousand requests in memory and the rest in a file in the crawl's folder (requestqueue.py), so a
site's size shows in the crawl's memory only through the fingerprints of the URLs it has seen.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from crawler.engine.fingerprints import Fingerprints
from crawler.engine.outcome import CrawlRequest
from crawler.engine.requestqueue import RequestQueue
from crawler.engine.urls import canonical_url, host_of, in_scope, passes_filters

# A docs site repeats its navigation's links on every page: their canonical forms are remembered
# (per crawl, the most recent ones, URLs up to a length) instead of made again for each page.
CANONICAL_CACHE = 4096
CACHED_URL_CHARS = 400


class Admission(StrEnum):
    """What happened to a URL offered to the frontier (the value is the skip reason code)."""

    QUEUED = "queued"
    SEEN = "seen"
    INVALID = "invalid"
    OUT_OF_SCOPE = "out_of_scope"
    FILTERED = "filtered"
    TOO_DEEP = "too_deep"
    ROBOTS = "robots"


# Admissions a crawl records (a manifest line, the `refused` counts): links it knows of and will not
# fetch. TOO_DEEP is not among them (a shorter path may still come), nor SEEN or INVALID.
REFUSALS = (Admission.OUT_OF_SCOPE, Admission.FILTERED, Admission.ROBOTS)
REFUSAL_REASONS = frozenset(admission.value for admission in REFUSALS)

ADMISSION_TEXT = {
    Admission.OUT_OF_SCOPE: "outside the crawl's scope",
    Admission.FILTERED: "excluded by the include/exclude patterns",
    Admission.TOO_DEEP: "deeper than max_depth",
    Admission.ROBOTS: "disallowed by robots.txt",
    Admission.INVALID: "not a crawlable http(s) URL",
    Admission.SEEN: "already part of this crawl",
}


@dataclass
class HostState:
    delay: float = 0.0
    in_flight: int = 0
    next_start: float = 0.0
    backoff_until: float = 0.0
    backoff_reason: str | None = None
    queue: RequestQueue = field(default_factory=RequestQueue)  # past a few thousand, on disk


class Frontier:
    def __init__(self, start_url: str, *, scope: str, max_depth: int, max_pages: int,
                 include: tuple[str, ...] = (), exclude: tuple[str, ...] = (),
                 allowed_by_robots: Callable[[str], bool] | None = None,
                 per_host_concurrency: int = 4, delay: float = 0.0,
                 clock: Callable[[], float] = time.monotonic, spill_dir: Path | None = None) -> None:
        self.start_url = canonical_url(start_url) or start_url
        self._spill_dir = spill_dir  # where hosts' long queues wait (the crawl's folder; None: the temp folder)
        self._scope = scope
        self._max_depth = max_depth
        self._max_pages = max_pages
        self._include = include
        self._exclude = exclude
        self._allowed_by_robots = allowed_by_robots or (lambda url: True)
        self._per_host = per_host_concurrency
        self._default_delay = delay
        self._clock = clock
        self._hosts: dict[str, HostState] = {}
        self._host_order: list[str] = []
        self._next_host = 0
        self._delayed: list[tuple[float, int, CrawlRequest]] = []
        self._sequence = itertools.count()
        self._seen = Fingerprints()  # every URL judged (queued or refused) or reached by redirect
        self._stored = Fingerprints()  # the pages stored (their canonical URLs)
        self._route_hosts: set[str] = set()  # hash-routed hosts: `#/path` names a page there
        self._lock = threading.RLock()
        self._canonical_of = lru_cache(maxsize=CANONICAL_CACHE)(canonical_url)
        self.saved = 0
        self.reserved = 0

    # ---- admission ----

    def keep_routes(self, host: str) -> None:
        """From now on `#/path` fragments of `host`'s URLs name distinct pages (a hash-routed site)."""
        with self._lock:
            self._route_hosts.add(host)

    def keeps_routes(self, url: str) -> bool:
        """Whether `url`'s host is hash-routed (its pages' `#/path` links are pages)."""
        with self._lock:
            return bool(self._route_hosts) and host_of(url) in self._route_hosts

    def canonical(self, url: str) -> str | None:
        """canonical_url, keeping the hash route on a hash-routed host."""
        canonical = self._canonical_of(url) if len(url) <= CACHED_URL_CHARS else canonical_url(url)
        if canonical is not None and self._route_hosts and host_of(canonical) in self._route_hosts:
            return canonical_url(url, keep_route=True)
        return canonical

    def check(self, canonical: str, depth: int | None = None) -> Admission:
        """Scope, filters, depth (if given) and robots for a canonical URL (the start URL always passes)."""
        if depth is not None and depth > self._max_depth:
            return Admission.TOO_DEEP
        if canonical != self.start_url:
            if not in_scope(canonical, self.start_url, self._scope):
                return Admission.OUT_OF_SCOPE
            if not passes_filters(canonical, self._include, self._exclude):
                return Admission.FILTERED
        if not self._allowed_by_robots(canonical):
            return Admission.ROBOTS
        return Admission.QUEUED

    def offer(self, url: str, depth: int, referrer: str | None = None, source: str = "link",
              forced: bool = False) -> tuple[Admission, str | None]:
        """Consider a discovered URL; queue it if it belongs to this crawl and is new.

        Returns the admission and the canonical URL. `forced` (an explicit selection) skips the
        scope, filter and depth checks, never robots. Each URL is judged once: a second offer of
        a refused URL answers SEEN, so a refusal is reported once.
        """
        canonical = self.canonical(url)
        if canonical is None:
            return Admission.INVALID, None
        with self._lock:
            if canonical in self._seen:
                return Admission.SEEN, canonical
            if depth > self._max_depth and not forced:
                return Admission.TOO_DEEP, canonical  # not remembered: a shorter path may come
            self._seen.add(canonical)
        admission = Admission.QUEUED
        if forced:
            if not self._allowed_by_robots(canonical):
                admission = Admission.ROBOTS
        else:
            admission = self.check(canonical, depth)
        if admission == Admission.QUEUED:
            with self._lock:
                self._host(host_of(canonical)).queue.append(CrawlRequest(canonical, depth, referrer, source))
        return admission, canonical

    def claim(self, url: str) -> bool:
        """Mark a URL reached by redirect as seen; False if some other request already has it."""
        canonical = self.canonical(url)
        if canonical is None:
            return False
        with self._lock:
            if canonical in self._seen:
                return False
            self._seen.add(canonical)
            return True

    def claim_page(self, key: str) -> bool:
        """Reserve the right to store the page identified by `key` (its canonical URL): once."""
        with self._lock:
            if key in self._stored:
                return False
            self._stored.add(key)
            self._seen.add(key)
            return True

    def accepts(self, url: str) -> Admission:
        """Would a redirect to `url` stay inside this crawl's scope, filters and robots rules?"""
        canonical = self.canonical(url)
        return Admission.INVALID if canonical is None else self.check(canonical)

    def restore(self, seen: set[str], stored: set[str], saved: int, pending: list[CrawlRequest]) -> None:
        """Continue an interrupted crawl: what it judged, stored and left queued, and its budget used."""
        with self._lock:
            self._seen.update(seen)
            self._seen.update(stored)
            self._stored.update(stored)
            self.saved += saved
            for request in pending:
                self._host(host_of(request.url)).queue.append(request)

    # ---- hosts ----

    def _host(self, host: str) -> HostState:
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = HostState(delay=self._default_delay, queue=RequestQueue(folder=self._spill_dir))
            self._host_order.append(host)
        return state

    def set_host_delay(self, host: str, delay: float) -> None:
        with self._lock:
            state = self._host(host)
            state.delay = max(state.delay, delay)

    def sending(self, url: str) -> None:
        """A request taken from the queue is being sent now: its host's next request waits `delay`
        from this moment, not from when it was taken. A request may wait a while between the two
        (a fetcher thread to wake, a session to open), and the site counts from its arrival.
        Called again when the answer begins: the request may also wait after this call (a
        connection to open, a busy machine), and the site must not see the next one sooner than
        `delay` after it; the later moment counts."""
        with self._lock:
            state = self._hosts.get(host_of(url))
            if state is not None and state.delay:
                state.next_start = max(state.next_start, self._clock() + state.delay)

    def take_turn(self, host: str) -> float:
        """A request made beside the queue (the site's own llms files) takes its host's next start
        like a page would: returns the seconds to wait before sending it, so `delay` and
        `Crawl-delay` space it from the pages' requests."""
        with self._lock:
            now = self._clock()
            state = self._host(host)
            start = max(now, state.next_start, state.backoff_until)
            state.next_start = start + state.delay
            return start - now

    def back_off(self, host: str, seconds: float, reason: str) -> None:
        """Ask nothing of `host` for `seconds` (a 429/503 told us to slow down)."""
        with self._lock:
            state = self._host(host)
            until = self._clock() + seconds
            if until > state.backoff_until:
                state.backoff_until, state.backoff_reason = until, reason

    def backoffs(self) -> list[dict[str, object]]:
        """Hosts currently backing off, for the dashboard."""
        now = self._clock()
        with self._lock:
            return [{"host": host, "seconds_left": round(state.backoff_until - now, 1), "reason": state.backoff_reason}
                    for host, state in self._hosts.items() if state.backoff_until > now]

    # ---- handing out work ----

    def next_request(self) -> CrawlRequest | None:
        """The next request that the budget and its host's politeness limits allow right now."""
        with self._lock:
            now = self._clock()
            self._release_due_retries(now)
            if self.saved + self.reserved >= self._max_pages or not self._host_order:
                return None
            count = len(self._host_order)
            for step in range(count):
                host = self._host_order[(self._next_host + step) % count]
                state = self._hosts[host]
                if not state.queue or state.in_flight >= self._per_host:
                    continue
                if now < state.next_start or now < state.backoff_until:
                    continue
                request = state.queue.popleft()
                if request.url in self._stored and request.tries == 0:
                    continue  # its page was already stored under this URL (rel=canonical)
                state.in_flight += 1
                state.next_start = now + state.delay
                self.reserved += 1
                self._next_host = (self._next_host + step + 1) % count
                return request
            return None

    def _release_due_retries(self, now: float) -> None:
        while self._delayed and self._delayed[0][0] <= now:
            _, _, request = heapq.heappop(self._delayed)
            self._host(host_of(request.url)).queue.appendleft(request)

    def fetch_ended(self, request: CrawlRequest) -> None:
        """The request's fetch is over (its page goes on to be processed): its host may be asked
        again. Politeness counts requests in flight, not pages being processed, so a processing
        backlog never keeps a host's fetch slots empty."""
        with self._lock:
            self._hosts[host_of(request.url)].in_flight -= 1

    def finish(self, request: CrawlRequest, saved: bool, fetch_ended: bool = False) -> None:
        """A handed-out request ended; a saved page consumes budget, anything else frees it.
        `fetch_ended`: its host's slot was already given back by fetch_ended()."""
        with self._lock:
            self.reserved -= 1
            if not fetch_ended:
                self._hosts[host_of(request.url)].in_flight -= 1
            if saved:
                self.saved += 1

    def retry_later(self, request: CrawlRequest, seconds: float, fetch_ended: bool = False) -> CrawlRequest:
        """Finish this try and queue the next one after `seconds`."""
        self.finish(request, saved=False, fetch_ended=fetch_ended)
        again = replace(request, tries=request.tries + 1)
        with self._lock:
            heapq.heappush(self._delayed, (self._clock() + seconds, next(self._sequence), again))
        return again

    # ---- state ----

    def close(self) -> None:
        """The crawl is over: what is still queued (and its file) and the remembered canonical forms go."""
        with self._lock:
            for state in self._hosts.values():
                state.queue.close()
        self._canonical_of.cache_clear()

    @property
    def queued(self) -> int:
        with self._lock:
            return sum(len(state.queue) for state in self._hosts.values()) + len(self._delayed)

    @property
    def budget_left(self) -> int:
        return max(0, self._max_pages - self.saved)

    @property
    def budget_exhausted(self) -> bool:
        return self.saved >= self._max_pages

    def pending_total(self) -> int:
        """Pages that can still be handled: in flight plus queued, within the budget."""
        queued = self.queued
        with self._lock:
            return min(self.reserved + queued, max(0, self._max_pages - self.saved))

    def is_done(self) -> bool:
        """Nothing in flight, and nothing queued that the budget would still allow."""
        with self._lock:
            if self.reserved:
                return False
            return self.budget_exhausted or self.queued == 0
