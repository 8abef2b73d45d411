"""The rendering stage of a page: between fetching and parsing, only when the page needs it.

`render` (a crawl setting): `never` never starts a browser (a page that needs one is skipped as
`needs_javascript`); `always` renders every page directly; `auto` fetches over HTTP first and
renders only a page whose HTML is a client-rendered shell (crawler/render/detect.py), and once a
host keeps needing it, renders that host's pages directly (with a sample still judged both
ways). A page rendered in the browser is processed from its rendered DOM.

A host whose rendered pages link with `#/path` routes (Docsify, `#!/` too) is *hash-routed*:
from then on such routes name distinct pages of that host (crawler/engine/frontier.py keeps them in
its canonical URLs); on every other host fragments stay ignored.

Every request the browser makes obeys the crawl's rules (crawler/render/process.py); the page
itself already went through the frontier (scope, robots, per-host concurrency, delays), and a
429/503 met while rendering backs its host off like one met by the fetcher.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict
from urllib.parse import urldefrag

from crawler.engine.errors import SLOW_DOWN_STATUSES, TRANSIENT_STATUSES, FetchFailed, PageSkipped, TransientFailure
from crawler.engine.events import Stage
from crawler.engine.fetch import HTML_TYPES, FetchedPage
from crawler.engine.outcome import CrawlRequest
from crawler.engine.urls import host_of
from crawler.render.detect import REASON_TEXT, HostMemory, shell_reason
from crawler.render.policy import BrowserPolicy

if TYPE_CHECKING:
    from crawler.engine.context import CrawlContext
    from crawler.engine.frontier import Frontier
    from crawler.render.pool import RenderPool

DEADLINE_MIN, DEADLINE_MAX = 2.0, 30.0


class RenderFields(TypedDict):
    """The manifest fields a RenderNote fills (keyword arguments of CrawlStore.record / save_page)."""

    rendered: bool
    render_reason: str | None


@dataclass(frozen=True)
class RenderNote:
    """What the manifest says of a page: rendered or not, and why."""

    rendered: bool
    reason: str | None

    def fields(self) -> RenderFields:
        return {"rendered": self.rendered, "render_reason": self.reason}


def render_deadline(timeout: float) -> float:
    """Seconds one page may take in the browser: twice the crawl's timeout, within 2–30 s."""
    return min(DEADLINE_MAX, max(DEADLINE_MIN, 2 * timeout))


class RenderStage:
    def __init__(self, ctx: CrawlContext, pool: RenderPool | None, frontier: Frontier,
                 policy: BrowserPolicy, redirect_refusal: Callable[[str], str | None]) -> None:
        self.ctx = ctx
        self.mode = ctx.config.render
        self.pool = pool
        self.frontier = frontier
        self.policy = policy
        self.redirect_refusal = redirect_refusal
        self.hosts = HostMemory()
        self.unavailable: str | None = None
        if self.mode != "never":
            self.unavailable = "no render service" if pool is None else pool.unavailable_reason()
        self._notes: dict[str, RenderNote] = {}
        self._lock = threading.Lock()
        self._said_unavailable = False
        self._hosts_announced: set[str] = set()

    # ---- what the pipeline asks ----

    def render_directly(self, request: CrawlRequest) -> str | None:
        """The reason to send this page straight to the browser, or None to fetch it first."""
        if self.mode == "never" or self.unavailable:
            return None
        if self.mode == "always":
            return "always"
        return "host" if self.hosts.render_directly(host_of(request.url)) else None

    def note(self, url: str) -> RenderNote:
        """What to write in the page's manifest record (taken once)."""
        with self._lock:
            return self._notes.pop(url, RenderNote(False, None))

    def _set_note(self, url: str, rendered: bool, reason: str | None) -> None:
        with self._lock:
            self._notes[url] = RenderNote(rendered, reason)

    def after_fetch(self, request: CrawlRequest, page: FetchedPage) -> FetchedPage:
        """A page fetched over HTTP: returned as it is, rendered, or skipped as needs_javascript.

        A rendered page carries no validators (ETag, Last-Modified): they describe the shell, not
        what the browser made of it, so a later refresh fetches and renders it again and compares
        the rendered DOM."""
        if page.not_modified:  # a refresh's 304 (validators of a page that needed no browser)
            return page
        reason = shell_reason(page.body)
        host = host_of(request.url)
        if self.mode == "auto" and self.hosts.observe(host, reason is not None) and not self.unavailable:
            self.ctx.tracker.log("info", f"{host}: its pages need JavaScript; rendering them in the browser "
                                         "directly (a sample is still fetched first)")
        if reason is None:
            self._set_note(request.url, False, None)
            return page
        if self.mode == "never" or self.unavailable:
            self._set_note(request.url, False, reason)
            if self.unavailable and not self._said_unavailable:
                self._said_unavailable = True
                self.ctx.tracker.log("warning", f"pages that need JavaScript cannot be rendered: {self.unavailable}; "
                                                "they are skipped as needs_javascript")
            setting = "render is set to never" if self.mode == "never" else "rendering is unavailable"
            raise PageSkipped(f"needs JavaScript to show its content ({REASON_TEXT[reason]}; {setting})",
                              page.http_status, code="needs_javascript")
        return self.render(request, page, reason)

    def render(self, request: CrawlRequest, fetched: FetchedPage | None, reason: str) -> FetchedPage:
        """Render the page in the browser (from the fetched HTML, if any); stage `rendering`."""
        assert self.pool is not None
        ctx, url = self.ctx, request.url
        ctx.check_stop()
        ctx.tracker.page_stage(url, Stage.RENDERING, request.depth)
        host = host_of(url)
        if host not in self._hosts_announced and fetched is not None:
            self._hosts_announced.add(host)
            ctx.tracker.log("info", f"{url} needs JavaScript ({REASON_TEXT.get(reason, reason)}): "
                                    "rendering it in the browser")
        html = None
        if fetched is not None:
            html = fetched.body.decode(fetched.encoding or "utf-8", errors="replace") \
                if _known_codec(fetched.encoding) else fetched.body.decode("utf-8", errors="replace")
        self._set_note(url, False, reason)  # until it is rendered
        started = time.perf_counter()
        try:
            result = self.pool.render(url, html=html, policy=self.policy, user_agent=ctx.config.user_agent,
                                      respect_robots=ctx.config.respect_robots,
                                      per_host=ctx.config.per_host_concurrency, timeout=ctx.config.timeout,
                                      deadline=render_deadline(ctx.config.timeout), stop=ctx.stop_signal,
                                      crawl=ctx.crawl_id)
        finally:
            ctx.tracker.add_stage_time("render", time.perf_counter() - started)
        for refused in result.blocked[:3]:
            ctx.tracker.log("warning", f"while rendering {url}: refused {refused}")
        status = result.http_status
        if status >= 400:
            text = f"HTTP {status}"
            if status in TRANSIENT_STATUSES:
                raise TransientFailure(text, status, code="http_error", slow_down=status in SLOW_DOWN_STATUSES)
            raise FetchFailed(text, status, code="http_error")
        if result.slow_down:  # a request of the page was told to slow down: its content may be partial
            raise TransientFailure("the site asked to slow down while the page rendered", status, code="http_error",
                                   slow_down=True)
        content_type = (result.content_type or "").split(";", 1)[0].strip().lower()
        if content_type and content_type not in HTML_TYPES:
            raise PageSkipped(f"not HTML ({content_type})", status, code="not_html")
        final, _ = urldefrag(result.url)
        if final != urldefrag(url)[0] and fetched is None:  # the browser followed a redirect
            refusal = self.redirect_refusal(final)
            if refusal:
                raise PageSkipped(f"redirected to {final}: {refusal}", status, code="redirect")
        if result.hash_routes:
            self.frontier.keep_routes(host)
        self._set_note(url, True, reason)
        ctx.tracker.page_rendered()
        return FetchedPage(url, status, result.html.encode("utf-8"), "utf-8")


def _known_codec(name: str | None) -> bool:
    if not name:
        return False
    try:
        "".encode(name)
        return True
    except (LookupError, ValueError):
        return False
