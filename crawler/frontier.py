"""The URL frontier: what to crawl next, what was already seen, what is out of bounds.

Breadth first: a FIFO queue gives pages in order of link distance from the start. The frontier
also owns the `max_pages` budget: a page is *reserved* when it is handed out and either *saved*
or *released* when it ends, so the crawl never saves more than `max_pages` pages, however many
workers run. Sitemaps, per-host politeness and retries plug in here later as more sources of
requests and as conditions on `next_request`.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Callable

from .urls import canonical_url, in_scope, passes_filters


@dataclass(frozen=True)
class CrawlRequest:
    url: str
    depth: int
    referrer: str | None = None


class Admission(str, Enum):
    """What happened to a URL offered to the frontier."""

    QUEUED = "queued"
    SEEN = "duplicate"
    INVALID = "invalid"
    OUT_OF_SCOPE = "out of scope"
    FILTERED = "excluded by include/exclude patterns"
    TOO_DEEP = "deeper than max_depth"
    ROBOTS = "disallowed by robots.txt"


class Frontier:
    """Queue + seen-set + budget. Thread-safe: workers may claim redirect targets concurrently."""

    def __init__(self, start_url: str, *, scope: str, max_depth: int, max_pages: int,
                 include: tuple[str, ...] = (), exclude: tuple[str, ...] = (),
                 allowed_by_robots: Callable[[str], bool] | None = None) -> None:
        self.start_url = canonical_url(start_url) or start_url
        self._scope = scope
        self._max_depth = max_depth
        self._max_pages = max_pages
        self._include = include
        self._exclude = exclude
        self._allowed_by_robots = allowed_by_robots or (lambda url: True)
        self._queue: deque[CrawlRequest] = deque()
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self.saved = 0
        self.reserved = 0

    def offer(self, url: str, depth: int, referrer: str | None = None) -> Admission:
        """Consider one discovered URL; queue it if it belongs to this crawl and is new."""
        canonical = canonical_url(url)
        if canonical is None:
            return Admission.INVALID
        if depth > self._max_depth:
            return Admission.TOO_DEEP
        # The start URL is always crawlable, even when it sits outside its own filters.
        if canonical != self.start_url:
            if not in_scope(canonical, self.start_url, self._scope):
                return Admission.OUT_OF_SCOPE
            if not passes_filters(canonical, self._include, self._exclude):
                return Admission.FILTERED
        with self._lock:
            if canonical in self._seen:
                return Admission.SEEN
            self._seen.add(canonical)
        if not self._allowed_by_robots(canonical):
            return Admission.ROBOTS
        with self._lock:
            self._queue.append(CrawlRequest(canonical, depth, referrer))
        return Admission.QUEUED

    def claim(self, url: str) -> bool:
        """Mark a URL reached by redirect as seen; False if some other request already has it."""
        canonical = canonical_url(url)
        if canonical is None:
            return False
        with self._lock:
            if canonical in self._seen:
                return False
            self._seen.add(canonical)
            return True

    def accepts(self, url: str) -> Admission:
        """Would a redirect to `url` stay inside this crawl's scope, filters and robots rules?"""
        canonical = canonical_url(url)
        if canonical is None:
            return Admission.INVALID
        if not in_scope(canonical, self.start_url, self._scope):
            return Admission.OUT_OF_SCOPE
        if not passes_filters(canonical, self._include, self._exclude):
            return Admission.FILTERED
        if not self._allowed_by_robots(canonical):
            return Admission.ROBOTS
        return Admission.QUEUED

    def next_request(self) -> CrawlRequest | None:
        """Hand out the next URL if the page budget still has room for it."""
        with self._lock:
            if not self._queue or self.saved + self.reserved >= self._max_pages:
                return None
            self.reserved += 1
            return self._queue.popleft()

    def finish(self, saved: bool) -> None:
        """A handed-out request ended; a saved page consumes budget, anything else frees it."""
        with self._lock:
            self.reserved -= 1
            if saved:
                self.saved += 1

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def budget_left(self) -> int:
        return max(0, self._max_pages - self.saved)

    @property
    def budget_exhausted(self) -> bool:
        return self.saved >= self._max_pages

    def pending_total(self) -> int:
        """Pages that can still be handled: in flight plus queued, within the budget."""
        with self._lock:
            return min(self.reserved + len(self._queue), max(0, self._max_pages - self.saved))
