"""Progress: a locked stats collector that workers write to (counts, stages, the frontier's
figures, pending page and log events); the sender (crawler/engine/sender.py) reads it and emits.

Workers never emit. They update the :class:`ProgressTracker` (cheap, under a lock); snapshots
carry the speed, the estimated final total and the ETA (crawler/engine/estimate.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from crawler.engine.estimate import CrawlEstimator, Estimate, Observation, percent_of, windowed_speed
from crawler.engine.events import STAGE_ORDER, STAGE_TIMERS, PageStatus, Stage, State, iso_timestamp
from crawler.engine.fingerprints import Fingerprints
from crawler.engine.stats import CrawlStats, NoStats

log = logging.getLogger(__name__)

MAX_PENDING_PAGE_EVENTS = 2000
MAX_PENDING_LOG_LINES = 1000
RECENT_LOG_LINES = 200
RECENT_PAGES = 200
REFUSAL_LOG_INTERVAL = 5.0  # seconds between two summaries of the links not followed
REFUSAL_LOG_EXAMPLES = 3  # URLs named in each summary line
LOG_SEQ_BLOCK = 1000  # log seqs reserved in the crawl folder at a time (crawler/resume.py: log.json)


class RefusalSummary:
    """Links refused at admission (robots, out of scope, filtered), summarised for the log.

    A site whose every page links a disallowed page would otherwise fill the log with one line per
    link. Refusals are collected per reason, and every `interval` seconds one line per reason
    says how many there were since the last summary and names the first few.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, interval: float = REFUSAL_LOG_INTERVAL,
                 examples: int = REFUSAL_LOG_EXAMPLES) -> None:
        self._clock = clock
        self._interval = interval
        self._examples = examples
        self._counts: dict[str, int] = {}
        self._urls: dict[str, list[str]] = {}
        self._texts: dict[str, str] = {}
        self._last = clock()

    def add(self, reason: str, url: str, text: str) -> None:
        self._counts[reason] = self._counts.get(reason, 0) + 1
        self._texts.setdefault(reason, text)
        urls = self._urls.setdefault(reason, [])
        if len(urls) < self._examples:
            urls.append(url)

    def due(self, force: bool = False) -> list[str]:
        """The summary lines, if `interval` has passed since the last ones (or `force`)."""
        now = self._clock()
        if not self._counts or (not force and now - self._last < self._interval):
            return []
        self._last = now
        lines = []
        for reason, count in self._counts.items():
            urls = self._urls[reason]
            more = count - len(urls)
            named = ", ".join(urls) + (f" and {more:,} more" if more else "")
            noun = "link" if count == 1 else "links"
            lines.append(f"not followed: {count:,} {noun} {self._texts[reason]} ({reason}): {named}")
        self._counts, self._urls, self._texts = {}, {}, {}
        return lines


def trim_page_events(events: list[dict[str, Any]], keep: int = MAX_PENDING_PAGE_EVENTS // 2) -> list[dict[str, Any]]:
    """Make room when the sender falls behind: drop intermediate stages first, then the oldest
    finished pages, down to `keep` events, so trimming happens once per `keep` appends.

    Only the live page list loses rows; counts come from the progress snapshot, and every
    finished page is in the manifest.
    """
    done = [event for event in events if event["stage"] == Stage.DONE.value]
    return done[-keep:]


class ProgressTracker:
    """Thread-safe counters and stage map for one crawl, plus the events waiting to be sent."""

    def __init__(self, crawl_id: str, session_id: str, clock: Callable[[], float] = time.monotonic,
                 stats: CrawlStats | None = None) -> None:
        self.crawl_id = crawl_id
        self.stats: CrawlStats = stats or NoStats()
        self.session_id = session_id
        self._clock = clock
        self._lock = threading.Lock()
        self.state = State.QUEUED
        self.counts: dict[str, int] = {status: 0 for status in PageStatus}
        self.stage_seconds = {name: 0.0 for name in STAGE_TIMERS}
        self.rendered = 0  # pages processed from their DOM rendered in a browser
        self.skip_reasons: dict[str, int] = {}
        self.refused: dict[str, int] = {}  # links refused at admission, per reason: never fetched
        self.reused = 0  # pages a refresh took from the crawl it refreshes, without extracting them
        self.from_cache = 0  # pages whose body came from the page cache (crawler/engine/pagecache.py)
        self._refusals = RefusalSummary(clock)
        # Per depth, for the estimate (crawler/engine/estimate.py): pages handled in this run, URLs
        # admitted (any source), admitted from links, links to known URLs, links refused.
        self._handled_at: dict[int, int] = {}
        self._admitted_at: dict[int, int] = {}
        self._found_at: dict[int, int] = {}
        self._seen_at: dict[int, int] = {}
        self._refused_at: dict[int, int] = {}
        # Times each URL was linked (admitted or already known), and how many URLs were linked
        # exactly once and exactly twice: the capture–recapture figures of the estimate.
        self._linked = Fingerprints()  # how many times each URL was linked
        self._linked_once = 0
        self._linked_twice = 0
        self._estimator = CrawlEstimator()
        self._budget_left: int | None = None
        self._paused_total = 0.0  # seconds the crawl only waited for hosts backing off
        self._paused_since: float | None = None
        self._discovered = 0
        self._backoff: list[dict[str, Any]] = []
        self._stage_of: dict[str, Stage] = {}
        self._current_url: str | None = None
        self._current_stage: str | None = None
        self._finish_times: deque[float] = deque()
        self._started: float | None = None
        self._ended: float | None = None
        self._frontier_pending = 0
        self._frontier_queued = 0
        self._total_final = False
        self._pending_pages: list[dict[str, Any]] = []
        self._pending_status: list[dict[str, Any]] = []
        self._pending_logs: deque[dict[str, Any]] = deque()
        self._dropped_logs = 0
        self._log_seq = 0
        self._seq_reserved = 0  # no line may be numbered above this before it is recorded
        self._record_seq: Callable[[int], None] | None = None
        self.recent_log: deque[dict[str, Any]] = deque(maxlen=RECENT_LOG_LINES)
        self.recent_pages: deque[dict[str, Any]] = deque(maxlen=RECENT_PAGES)

    # ---- written by the controller and the workers ----

    def set_state(self, state: State, message: str) -> None:
        with self._lock:
            self.state = state
            now = self._clock()
            if state in (State.DISCOVERING, State.RUNNING) and self._started is None:
                self._started = now
            if state.is_final and self._ended is None:
                self._ended = now
            self._pending_status.append({"crawl_id": self.crawl_id, "state": state.value,
                                         "message": message, "timestamp": iso_timestamp()})

    def restore_counts(self, counts: dict[str, int], skip_reasons: dict[str, int],
                       refused: dict[str, int] | None = None) -> None:
        """Start a resumed crawl from the totals of its earlier runs."""
        with self._lock:
            for status, number in counts.items():
                self.counts[status] = self.counts.get(status, 0) + number
            for reason, number in skip_reasons.items():
                self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + number
            for reason, number in (refused or {}).items():
                self.refused[reason] = self.refused.get(reason, 0) + number

    def count_reuse(self, *, reused: int = 0, from_cache: int = 0) -> None:
        with self._lock:
            self.reused += reused
            self.from_cache += from_cache

    def stop_clock(self) -> None:
        """Freeze elapsed time and speed at the end, before the final state is announced."""
        with self._lock:
            if self._ended is None:
                self._ended = self._clock()

    def page_stage(self, url: str, stage: Stage, depth: int, source: str | None = None) -> None:
        """A page entered a stage. Stages only move forward (late relayed updates are ignored)."""
        with self._lock:
            previous = self._stage_of.get(url)
            if previous is not None and STAGE_ORDER[previous] >= STAGE_ORDER[stage]:
                return
            if previous is None and stage != Stage.FETCHING:
                return  # the page already finished
            self._stage_of[url] = stage
            self._current_url, self._current_stage = url, stage.value
            self._queue_page({"url": url, "stage": stage.value, "status": "active", "title": None,
                              "depth": depth, "source": source, "reason": None, "error": None,
                              "timestamp": iso_timestamp()})

    def page_done(self, url: str, status: PageStatus, depth: int, title: str | None = None, error: str | None = None,
                  reason: str | None = None, source: str | None = None) -> None:
        with self._lock:
            self._stage_of.pop(url, None)
            self.counts[status] += 1
            self._handled_at[depth] = self._handled_at.get(depth, 0) + 1
            if status == PageStatus.SKIPPED and reason:
                self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + 1
            self._finish_times.append(self._active(self._clock()))
            self._current_url, self._current_stage = url, Stage.DONE.value
            self._queue_page({"url": url, "stage": Stage.DONE.value, "status": status, "title": title,
                              "depth": depth, "source": source, "reason": reason, "error": error,
                              "timestamp": iso_timestamp()})
        self.stats.page_done(status, reason)

    def link_offered(self, depth: int, source: str, admission: str, url: str | None = None) -> None:
        """A URL offered to the frontier at `depth` (from a link, a sitemap, the start), and what
        became of it: "queued" (admitted), "seen" (already known) or a refusal."""
        with self._lock:
            if admission == "queued":
                self._admitted_at[depth] = self._admitted_at.get(depth, 0) + 1
                if source == "link":
                    self._found_at[depth] = self._found_at.get(depth, 0) + 1
            elif source == "link":
                counts = self._seen_at if admission == "seen" else self._refused_at
                counts[depth] = counts.get(depth, 0) + 1
            if source == "link" and url is not None and admission in ("queued", "seen"):
                times = self._linked.add(url)
                if times <= 3:
                    self._linked_once += (times == 1) - (times == 2)
                    self._linked_twice += (times == 2) - (times == 3)

    def page_refused(self, url: str, reason: str, text: str, depth: int, source: str | None = None) -> None:
        """A link refused at admission (robots, out of scope, filtered): counted apart from the
        pages handled, shown in the page list, and summarised in the log (RefusalSummary)."""
        with self._lock:
            self.refused[reason] = self.refused.get(reason, 0) + 1
            self._refusals.add(reason, url, text)
            self._queue_page({"url": url, "stage": Stage.DONE.value, "status": PageStatus.SKIPPED, "title": None,
                              "depth": depth, "source": source, "reason": reason, "error": text,
                              "timestamp": iso_timestamp()})

    def flush_refusals(self, force: bool = False) -> None:
        """Log the refusal summary when it is due (the sender calls this; `force` at the end)."""
        with self._lock:
            lines = self._refusals.due(force)
        for line in lines:
            self.log("info", line)

    def page_rendered(self) -> None:
        with self._lock:
            self.rendered += 1

    def add_stage_time(self, timer: str, seconds: float) -> None:
        with self._lock:
            self.stage_seconds[timer] += seconds
        self.stats.stage_time(timer, seconds)

    def set_frontier(self, pending: int, queued: int, final: bool, discovered: int | None = None,
                     backoff: list[dict[str, Any]] | None = None, listed: int | None = None,
                     budget_left: int | None = None, paused: bool | None = None) -> None:
        """What the frontier holds. `listed`: pages admitted from sitemaps; `budget_left`: pages
        that may still be handled within the budget (both for the estimate of the final total);
        `paused`: nothing in flight, and the work left waits for hosts backing off."""
        with self._lock:
            if paused is not None:
                now = self._clock()
                if paused and self._paused_since is None:
                    self._paused_since = now
                elif not paused and self._paused_since is not None:
                    self._paused_total += now - self._paused_since
                    self._paused_since = None
            self._frontier_pending, self._frontier_queued, self._total_final = pending, queued, final
            if discovered is not None:
                self._discovered = discovered
            if backoff is not None:
                self._backoff = backoff
            if budget_left is not None:
                self._budget_left = budget_left

    def _active(self, moment: float) -> float:
        """`moment` on the clock of the time the crawl was not only waiting for a back-off: the
        speed is measured on it, so a pause does not pass for a slow site (the pause's own time
        left is added to the ETA instead)."""
        paused = self._paused_total
        if self._paused_since is not None:
            paused += max(0.0, moment - self._paused_since)
        return moment - paused

    def number_log_after(self, last_seq: int, record: Callable[[int], None]) -> None:
        """Number log lines after `last_seq` (the last seq of the crawl's earlier runs), and call
        `record(n)` before any line is numbered above n: the crawl folder keeps the mark, so a
        resumed run, even after a crash, continues above every seq this one handed out."""
        with self._lock:
            self._log_seq = max(self._log_seq, last_seq)
            self._seq_reserved = self._log_seq
            self._record_seq = record

    def settle_log_seq(self) -> None:
        """Record the exact last seq (the run is ending): a resume then continues without a gap."""
        with self._lock:
            if self._record_seq is not None and self._seq_reserved != self._log_seq:
                self._reserve(self._log_seq)

    def _reserve(self, upto: int) -> None:
        assert self._record_seq is not None
        try:
            self._record_seq(upto)
        except Exception as exc:  # noqa: BLE001 - the line matters more; a full disk stops the crawl anyway
            log.warning("could not record log seq %d of crawl %s: %s", upto, self.crawl_id, exc)
        self._seq_reserved = upto

    def log(self, level: str, message: str) -> None:
        with self._lock:
            self._log_seq += 1
            if self._record_seq is not None and self._log_seq > self._seq_reserved:
                self._reserve(self._log_seq + LOG_SEQ_BLOCK - 1)
            line = {"crawl_id": self.crawl_id, "seq": self._log_seq, "level": level, "message": message,
                    "timestamp": iso_timestamp()}
            self.recent_log.append(line)
            if len(self._pending_logs) >= MAX_PENDING_LOG_LINES:
                self._pending_logs.popleft()
                self._dropped_logs += 1
            self._pending_logs.append(line)

    def _queue_page(self, event: dict[str, Any]) -> None:
        self.recent_pages.append(event)
        if len(self._pending_pages) >= MAX_PENDING_PAGE_EVENTS:
            self._pending_pages = trim_page_events(self._pending_pages)
        self._pending_pages.append(event)

    # ---- read by the sender and the API ----

    @property
    def discovered(self) -> int:
        with self._lock:
            return self._discovered

    def recent(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Copies of the last log lines and page transitions, for a client that (re)attaches."""
        with self._lock:
            return list(self.recent_log), list(self.recent_pages)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            end = self._ended if self._ended is not None else now
            started = self._started if self._started is not None else now
            current = sum(self.counts.values())
            total = current + self._frontier_pending
            speed = windowed_speed(self._finish_times, self._active(end), started)
            guess = self._estimate(now, started, current, total)
            running = self.state in (State.RUNNING, State.DISCOVERING)
            stages = {stage.value: 0 for stage in (Stage.FETCHING, Stage.RENDERING, Stage.PARSING, Stage.EXTRACTING,
                                                    Stage.STORING)}
            for stage in self._stage_of.values():
                stages[stage.value] += 1
            return {
                "session_id": self.session_id,
                "crawl_id": self.crawl_id,
                "state": self.state.value,
                "current": current,
                "total": total,
                "total_final": self._total_final,
                "total_estimate": guess.total,
                "total_range": list(guess.total_range) if guess.total_range else None,
                "percent": percent_of(current, total),
                "current_url": self._current_url,
                "stage": self._current_stage,
                "speed": round(speed, 2),
                "eta": guess.eta if running else None,
                "eta_range": list(guess.eta_range) if running and guess.eta_range else None,
                "elapsed": round(end - started, 1) if self._started is not None else 0.0,
                "ok": self.counts[PageStatus.OK],
                "failed": self.counts[PageStatus.FAILED],
                "skipped": self.counts[PageStatus.SKIPPED],
                "in_flight": len(self._stage_of),
                "queued": self._frontier_queued,
                "discovered": self._discovered,
                "stages": stages,
                "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
                "skip_reasons": dict(self.skip_reasons),
                "refused": dict(self.refused),
                "reused": self.reused,
                "backoff": list(self._backoff),
                "rendered": self.rendered,
                "timestamp": iso_timestamp(),
            }

    def observation(self, now: float, started: float, current: int, total: int) -> Observation:
        """The figures the estimator learns from, at `now` (this run's pages: a resumed crawl's
        earlier pages are left out, see _estimate)."""
        handled = dict(self._handled_at)
        waiting = 0.0
        if self._paused_since is not None and self._backoff:
            waiting = max(0.0, min(float(host.get("seconds_left") or 0.0) for host in self._backoff))
        return Observation(self._active(now) - started, handled, dict(self._admitted_at), dict(self._found_at),
                           max(0, total - current), self._total_final or self.state.is_final,
                           dict(self._seen_at), dict(self._refused_at),
                           self._budget_left,
                           waiting, self._linked_once, self._linked_twice)

    def _estimate(self, now: float, started: float, current: int, total: int) -> Estimate:
        """Feed the estimator what the crawl sees now; its answer, in the crawl's counts (pages of
        earlier runs added back)."""
        self._estimator.observe(self.observation(now if self._ended is None else self._ended, started,
                                                 current, total))
        guess = self._estimator.estimate()
        earlier = current - sum(self._handled_at.values())
        if earlier:
            guess.total += earlier
            if guess.total_range is not None:
                guess.total_range = (guess.total_range[0] + earlier, guess.total_range[1] + earlier)
        guess.total = max(guess.total, total)
        return guess

    def drain(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], int]:
        """Take the pending status changes, page transitions and log lines (and how many were dropped)."""
        with self._lock:
            statuses, self._pending_status = self._pending_status, []
            pages, self._pending_pages = self._pending_pages, []
            logs = list(self._pending_logs)
            self._pending_logs.clear()
            dropped, self._dropped_logs = self._dropped_logs, 0
            return statuses, pages, logs, dropped
