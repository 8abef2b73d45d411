"""Before the first fetch: robots.txt (fetched like a page, retried), the site's own llms.txt and
llms-full.txt (crawler/engine/published.py), sitemaps, the start URL(s).

`Seeds` fills the scheduler's frontier: the start page and what the sitemaps list for a new
crawl, the selected URLs for a crawl of a selection, or what a resumed crawl left in its queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from crawler.engine.context import CrawlContext
from crawler.engine.errors import FetchFailed, StopRequested, TransientFailure
from crawler.engine.fetch import fetch_robots_txt
from crawler.engine.frontier import Admission
from crawler.engine.greenio import yield_every
from crawler.engine.published import fetch_site_files
from crawler.engine.resume import ResumeState
from crawler.engine.robots import (
    MAX_ROBOTS_BYTES,
    RobotsCache,
    RobotsRules,
    robots_text,
)
from crawler.engine.scheduler import Scheduler
from crawler.engine.sitemaps import SitemapResult, discover_sitemap_urls
from crawler.engine.urls import host_of

log = logging.getLogger(__name__)

CRAWL_DELAY_CAP = 60.0
SITEMAP_DEPTH = 1  # a page listed in a sitemap is one hop from the start, as if linked from it
ROBOTS_TRIES = 4  # a robots.txt that times out, resets or answers 5xx is asked up to 4 times...
ROBOTS_BACKOFF = 0.5  # ...waiting 0.5, 1 and 2 s in between
ROBOTS_TIMEOUT_CAP = 10.0  # seconds per read (the crawl's timeout, at most this); 3 × that in all


class Seeds:
    POLL = 0.05

    def __init__(self, ctx: CrawlContext, on_unreachable: Callable[[str], None]) -> None:
        self.ctx = ctx
        self.on_unreachable = on_unreachable  # robots.txt stayed unreachable: the crawl ends, resumable
        self.robots: RobotsCache | None = None
        self._scheduler: Scheduler | None = None
        if ctx.config.respect_robots:
            self.robots = RobotsCache(self._fetch_robots, ctx.config.user_agent, self._robots_loaded)

    def seed(self, scheduler: Scheduler, resume: ResumeState | None) -> None:
        """The start origin's robots.txt, then the frontier's first URLs."""
        self._scheduler = scheduler
        config = self.ctx.config
        if self.robots is not None:
            # The start origin's robots.txt first (its Crawl-delay goes to the frontier), before
            # anything is admitted: if it cannot be fetched the crawl ends here with nothing
            # half-admitted, and a resume starts afresh.
            self.robots.rules_for(self.ctx.start_url)
        if resume is not None and (resume.discovered or resume.handled):
            self._continue_from(scheduler, resume)
            return
        # A fresh crawl, or a resumed one whose first run ended before it admitted anything
        # (robots.txt unreachable, disk full): discovery from the start.
        if config.is_selection:
            self._offer_selection(scheduler)
            scheduler.report(0)
            return
        scheduler.offer(self.ctx.start_url, 0, None, "start")
        if not self.ctx.discover_only:  # the site's own llms.txt and llms-full.txt, kept for the downloads
            fetch_site_files(self.ctx, self.robots.allows if self.robots else None,
                             scheduler.frontier.take_turn)
        if config.use_sitemaps:
            self._read_sitemaps(scheduler)
        scheduler.report(0)

    def _offer_selection(self, scheduler: Scheduler) -> None:
        for number, url in enumerate(self.ctx.config.urls):
            scheduler.offer(url, 0, None, "selection", forced=True)
            yield_every(number)

    def _continue_from(self, scheduler: Scheduler, resume: ResumeState) -> None:
        """A resumed crawl: sitemaps and links were read before; queue only what was left."""
        scheduler.frontier.restore(resume.seen, resume.stored_keys, resume.saved, resume.pending)
        if self.ctx.config.is_selection:
            # A first run cut off while admitting its selection (robots.txt of a later host could
            # not be fetched) left part of it unjournaled; URLs already judged are SEEN here.
            self._offer_selection(scheduler)
        self.ctx.tracker.log("info", f"resuming: {resume.saved} pages already saved, {len(resume.handled)} URLs "
                                     f"handled, {len(resume.pending)} left in the queue")
        scheduler.report(0)

    def _read_sitemaps(self, scheduler: Scheduler) -> None:
        ctx = self.ctx
        listed = self.robots.rules_for(ctx.start_url).sitemaps if self.robots else []

        def progress(result: SitemapResult) -> None:
            ctx.tracker.set_frontier(0, 0, False, discovered=scheduler.discovered + len(result.page_urls))

        result = discover_sitemap_urls(ctx.sessions.get(), ctx.start_url, listed,
                                       timeout=min(ctx.config.timeout, 30),
                                       stop=ctx.stop_signal, on_progress=progress)
        for level, note in result.notes:
            ctx.tracker.log(level, note)
        before = scheduler.discovered
        for number, url in enumerate(result.page_urls):
            yield_every(number)
            # Of a sitemap's refusals only robots is journaled: out-of-scope entries are not links.
            scheduler.offer(url, SITEMAP_DEPTH, None, "sitemap", record=(Admission.ROBOTS,))
        scheduler.sitemap_pages = scheduler.discovered - before
        if result.sitemaps_read:
            ctx.tracker.log("info", f"sitemaps: {len(result.page_urls)} URLs listed, "
                                    f"{scheduler.sitemap_pages} new pages in scope")
        else:
            ctx.tracker.log("info", "no sitemap found; discovering pages by following links")

    # ---- robots.txt ----

    def _fetch_robots(self, robots_url: str) -> tuple[int | None, str | None]:
        """robots.txt like a page (time limit, capped read, stop-aware), transient failures retried.

        If it stays unreachable, the crawl ends as `interrupted` with the reason (resumable: the
        site may be back later) instead of guessing: StopRequested is raised in the asking thread.
        """
        ctx = self.ctx
        origin_url = robots_url.removesuffix("/robots.txt")
        timeout = min(ctx.config.timeout, ROBOTS_TIMEOUT_CAP)
        delay = ROBOTS_BACKOFF
        failure: FetchFailed | None = None
        for attempt in range(1, ROBOTS_TRIES + 1):
            ctx.check_stop()
            try:
                status, body, truncated = self._stop_aware(lambda: fetch_robots_txt(
                    ctx.sessions.get(), robots_url, timeout=timeout, stop=ctx.stop_signal,
                    max_bytes=MAX_ROBOTS_BYTES))
            except TransientFailure as exc:
                failure = exc
            except FetchFailed as exc:  # DNS, TLS, a refused address, a redirect loop: no retry helps
                failure = exc
                break
            else:
                if truncated:
                    ctx.tracker.log("warning", f"{robots_url} is larger than {MAX_ROBOTS_BYTES // 1024} KiB: "
                                               f"its first {MAX_ROBOTS_BYTES // 1024} KiB are used, the rest ignored")
                return status, robots_text(body, truncated)
            if attempt < ROBOTS_TRIES:
                ctx.tracker.log("warning", f"{robots_url}: try {attempt} of {ROBOTS_TRIES} failed "
                                           f"({failure.reason}); retrying in {delay:g} s")
                if ctx.stop_signal.wait(delay):
                    raise StopRequested()
                delay *= 2
        assert failure is not None
        reason = f"robots.txt of {origin_url} could not be fetched ({failure.reason}); resume to try again"
        ctx.tracker.log("error", reason)
        self.on_unreachable(reason)
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

        threading.Thread(target=target, name=f"robots-{self.ctx.crawl_id}", daemon=True).start()
        while not done.wait(self.POLL):
            if self.ctx.stop_signal.is_set():
                raise StopRequested()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    def _robots_loaded(self, origin_url: str, rules: RobotsRules) -> None:
        ctx = self.ctx
        ctx.tracker.log("info" if rules.parser is None or "loaded" in rules.note else "warning",
                        f"{origin_url}: {rules.note}")
        delay = rules.crawl_delay
        if delay and self._scheduler is not None:
            applied = min(delay, CRAWL_DELAY_CAP)
            self._scheduler.frontier.set_host_delay(host_of(origin_url + "/"), max(applied, ctx.config.delay))
            ctx.tracker.log("info", f"{origin_url}: Crawl-delay {delay:g} s"
                                    + (f" (capped at {CRAWL_DELAY_CAP:g} s)" if delay > CRAWL_DELAY_CAP else ""))
