"""One page through its stages: fetching (a fetcher thread), then parsing → extracting → storing
(a processor thread handing the CPU work to the extraction process pool).

Each stage is wrapped so that it never raises: every way a page can end (saved, skipped, failed,
to be retried, abandoned on a stop) becomes a `PageOutcome`, and every page handled gets its
manifest line.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from crawler.engine.context import CrawlContext
from crawler.engine.cpu import CpuPool, WorkerCrashed
from crawler.engine.errors import FetchFailed, PageSkipped, StopRequested, TransientFailure
from crawler.engine.events import PageStatus, Stage, iso_timestamp
from crawler.engine.extract import count_words, page_document
from crawler.engine.fetch import FetchedPage, fetch_page
from crawler.engine.outcome import CrawlRequest, PageOutcome, Unrecorded
from crawler.engine.pagecache import fetch_through
from crawler.engine.published import fetch_site_markdown
from crawler.engine.urls import canonical_url, in_scope
from crawler.folder.writer import DiskFull, StoreClosed
from crawler.render.stage import RenderNote

if TYPE_CHECKING:
    from crawler.render.stage import RenderStage

log = logging.getLogger(__name__)


class PageAdmission(Protocol):
    """All the pipeline asks of the crawl's admission side (the Scheduler and its Frontier)."""

    def redirect_refusal(self, target: str) -> str | None:
        """Why a redirect to `target` may not be followed, or None (then it is claimed)."""

    def keeps_routes(self, url: str) -> bool:
        """Whether `url`'s host is hash-routed (its `#/path` links are pages)."""

    def canonical(self, url: str) -> str | None:
        """The page identity of a fetched URL (hash routes kept on a hash-routed host)."""

    def claim_page(self, key: str) -> bool:
        """The right to store the page `key` names: True once, False for a duplicate."""

    def offer_links(self, request: CrawlRequest, links: list[str]) -> None:
        """The links found on a page, offered to the frontier."""

    def fetch_refusal(self, url: str) -> str | None:
        """Why a file a page names for itself (its Markdown version) may not be fetched, or None."""

    def sending(self, url: str) -> None:
        """The request for `url` is being sent now (its host's delay counts from here), or its
        answer has begun (the delay counts from the later of the two)."""


class PagePipeline:
    def __init__(self, ctx: CrawlContext, cpu: CpuPool, admission: PageAdmission,
                 render: RenderStage | None = None) -> None:
        self.ctx = ctx
        self.cpu = cpu
        self.admission = admission
        self.render = render  # fetching → rendering → parsing, for pages that need JavaScript

    def fetch_stage(self, request: CrawlRequest) -> PageOutcome:
        """fetching, in a fetcher thread; never raises."""
        return self._guarded(request, "fetch", self._fetch)

    def process_stage(self, fetched: PageOutcome) -> PageOutcome:
        """parsing + extracting (process pool) → storing, in a processor thread; never raises."""
        return self._guarded(fetched.request, "parse", lambda request: self._process(fetched))

    def _fetch(self, request: CrawlRequest) -> PageOutcome:
        ctx = self.ctx
        ctx.check_stop()
        ctx.tracker.page_stage(request.url, Stage.FETCHING, request.depth, request.source)
        render = self.render
        direct = render.render_directly(request) if render is not None else None
        if render is not None and direct:  # its host's pages need the browser anyway
            page = render.render(request, None, direct)
            return PageOutcome(request, Unrecorded.FETCHED, page=page, fetched_at=iso_timestamp())
        started = time.perf_counter()
        # A refresh asks with the earlier crawl's validators; a selection crawl through the page
        # cache its discovery filled (crawler/engine/pagecache.py).
        known = ctx.previous.conditional_headers(request.url) if ctx.previous is not None else {}
        downloaded: list[int] = []

        def download(conditional: dict[str, str] | None) -> FetchedPage:
            session = ctx.sessions.get()  # (a thread's first session takes a while to make: not counted as sent)
            self.admission.sending(request.url)
            fetched = fetch_page(session, request.url, timeout=ctx.config.timeout,
                                 stop=ctx.stop_signal, check_redirect=self.admission.redirect_refusal,
                                 conditional=conditional or known or None, answered=self.admission.sending)
            downloaded.append(len(fetched.body))
            return fetched

        page, cached = fetch_through(ctx.page_cache, request.url, download, read=ctx.config.is_selection,
                                     write=ctx.discover_only)
        ctx.tracker.add_stage_time("fetch", time.perf_counter() - started)
        ctx.stats.downloaded_bytes(sum(downloaded))
        if cached:
            ctx.tracker.count_reuse(from_cache=1)
        if render is not None:
            page = render.after_fetch(request, page)
        return PageOutcome(request, Unrecorded.FETCHED, page=page, fetched_at=iso_timestamp())

    def _process(self, fetched: PageOutcome) -> PageOutcome:
        ctx, tracker = self.ctx, self.ctx.tracker
        request, page, fetched_at = fetched.request, fetched.page, fetched.fetched_at
        assert page is not None and fetched_at is not None
        url, depth, source = request.url, request.depth, request.source
        ctx.check_stop()
        body_sha256 = None if page.not_modified else hashlib.sha256(page.body).hexdigest()
        if ctx.previous is not None:  # a refresh: unchanged pages are copied, not extracted again
            reuse = ctx.previous.reuse_reason(url, page.not_modified, body_sha256)
            outcome = self._reuse(fetched, reuse, body_sha256) if reuse else None
            if outcome is not None:
                return outcome
        if page.not_modified:
            raise FetchFailed("HTTP 304 Not Modified, and the earlier copy of the page cannot be read", 304,
                              code="not_modified")
        tracker.page_stage(url, Stage.PARSING, depth)
        analysis = self.cpu.analyze(
            page.body, page.encoding, page.url, stop=ctx.stop_signal,
            extract=not ctx.discover_only, keep_routes=self.admission.keeps_routes(url),
            content_selector=ctx.config.content_selector, exclude_selectors=ctx.config.exclude_selectors,
            on_extracting=lambda: tracker.page_stage(url, Stage.EXTRACTING, depth))
        tracker.add_stage_time("parse", analysis.parse_seconds)
        tracker.add_stage_time("extract", analysis.extract_seconds)
        if analysis.not_found:  # a "not found" screen served with a 200 (or a missing Docsify route)
            raise PageSkipped("the page is a \"not found\" screen (soft 404)", page.http_status, "not_found")

        page_key = self._page_key(page.url, analysis.canonical)
        if not self.admission.claim_page(page_key):
            return self._record_unsaved(request, PageStatus.SKIPPED, f"same page as {page_key} (already in this crawl)",
                                        page.http_status, "duplicate", links=analysis.links)
        # Links are admitted (and journaled) before the page's own record: a crash between the two
        # then costs a refetch of this page on resume, never the links found on it.
        self.admission.offer_links(request, analysis.links)
        rendering = self._render_note(url)
        if ctx.discover_only:  # a line per page handled, with its title, but no file
            ctx.store.record(url=url, status=PageStatus.OK, error=None, depth=depth, http_status=page.http_status,
                             fetched_at=fetched_at, title=analysis.title, source=source,
                             description=analysis.description, **rendering.fields())
            tracker.page_done(url, PageStatus.OK, depth, title=analysis.title, source=source)
            return PageOutcome(request, PageStatus.OK)

        markdown, words = analysis.markdown, analysis.words
        own = self._site_markdown(analysis.markdown_url)  # the page's own Markdown, when preferred and had
        if own:
            markdown, words = own, count_words(own)
        ctx.check_stop()
        tracker.page_stage(url, Stage.STORING, depth)
        started = time.perf_counter()
        ctx.store.save_page(url=url, document=page_document(analysis.title, page_key, markdown),
                            title=analysis.title, depth=depth, http_status=page.http_status,
                            words=words, fetched_at=fetched_at, source=source,
                            canonical=page_key if page_key != url else None,
                            site_name=analysis.site_name, description=analysis.description, nav=analysis.nav,
                            heading_ids=analysis.heading_ids, definition_ids=analysis.definition_ids,
                            site_markdown=analysis.markdown_url,
                            from_site_markdown=True if own else None,
                            etag=page.etag, last_modified=page.last_modified, body_sha256=body_sha256,
                            links=analysis.links, **rendering.fields())
        tracker.add_stage_time("store", time.perf_counter() - started)
        tracker.page_done(url, PageStatus.OK, depth, title=analysis.title, source=source)
        note = "" if words else " — no main content found"
        note += " (the site's own Markdown version)" if own else ""
        note += " (rendered in the browser)" if rendering.rendered else ""
        tracker.log("info", f"saved {url} ({words:,} words){note}")
        return PageOutcome(request, PageStatus.OK)

    def _site_markdown(self, url: str | None) -> str | None:
        """The page's own Markdown version, when the crawl prefers it (`prefer_site_markdown`)
        and the page names one that scope, filters and robots let it fetch."""
        if not url or not self.ctx.config.prefer_site_markdown:
            return None
        return fetch_site_markdown(self.ctx, url, self.admission.fetch_refusal) or None

    def _reuse(self, fetched: PageOutcome, how: str, body_sha256: str | None) -> PageOutcome | None:
        """Store the earlier crawl's copy of an unchanged page (its file and record), follow the
        links stored with it, and skip parsing and extracting. None when that copy cannot be read
        (then a fetched body is extracted as usual)."""
        ctx, tracker, previous = self.ctx, self.ctx.tracker, self.ctx.previous
        request, page, fetched_at = fetched.request, fetched.page, fetched.fetched_at
        assert previous is not None and page is not None and fetched_at is not None
        url, depth, source = request.url, request.depth, request.source
        record, document, links = previous.record(url), previous.markdown(url), previous.links(url)
        if record is None or document is None or links is None:
            return None
        page_key = record.get("canonical") or url
        if not self.admission.claim_page(page_key):
            return self._record_unsaved(request, PageStatus.SKIPPED, f"same page as {page_key} (already in this crawl)",
                                        page.http_status, "duplicate", links=links)
        self.admission.offer_links(request, links)
        ctx.check_stop()
        tracker.page_stage(url, Stage.STORING, depth)
        started = time.perf_counter()
        title = record.get("title")
        ctx.store.save_page(url=url, document=document, title=title, depth=depth,
                            http_status=record.get("http_status") if page.not_modified else page.http_status,
                            words=int(record.get("words") or 0), fetched_at=fetched_at, source=source,
                            canonical=record.get("canonical"), site_name=record.get("site_name"),
                            description=record.get("description"), nav=record.get("nav"),
                            heading_ids=record.get("heading_ids"), definition_ids=record.get("definition_ids"),
                            site_markdown=record.get("site_markdown"),
                            from_site_markdown=record.get("from_site_markdown"),
                            etag=page.etag or record.get("etag"),
                            last_modified=page.last_modified or record.get("last_modified"),
                            body_sha256=body_sha256 or record.get("body_sha256"), reused=how, links=links,
                            **self._render_note(url).fields())
        tracker.add_stage_time("store", time.perf_counter() - started)
        tracker.count_reuse(reused=1)
        tracker.page_done(url, PageStatus.OK, depth, title=title, source=source)
        why = "304 Not Modified" if how == "not_modified" else "same content"
        tracker.log("info", f"unchanged {url} ({why}): kept from {previous.crawl_id}")
        return PageOutcome(request, PageStatus.OK)

    def _guarded(self, request: CrawlRequest, stage: str,
                 work: Callable[[CrawlRequest], PageOutcome]) -> PageOutcome:
        """Run a stage; turn every way it can end into an outcome (and a manifest line)."""
        try:
            return work(request)
        except (StopRequested, StoreClosed):
            return PageOutcome(request, Unrecorded.ABANDONED)
        except DiskFull as exc:  # no page of this crawl can be saved any more: the crawl ends
            self.ctx.on_disk_full(exc)
            return PageOutcome(request, Unrecorded.ABANDONED)
        except PageSkipped as exc:
            return self._record_unsaved(request, PageStatus.SKIPPED, exc.reason, exc.http_status, exc.code)
        except TransientFailure as exc:
            if request.tries < self.ctx.config.max_retries and not self.ctx.stop_signal.is_set():
                return PageOutcome(request, Unrecorded.RETRY, retry=exc)
            tries = request.tries + 1
            reason = f"{exc.reason} (after {tries} {'try' if tries == 1 else 'tries'})"
            return self._record_unsaved(request, PageStatus.FAILED, reason, exc.http_status, exc.code)
        except FetchFailed as exc:
            return self._record_unsaved(request, PageStatus.FAILED, exc.reason, exc.http_status, exc.code)
        except WorkerCrashed as exc:
            return self._record_unsaved(request, PageStatus.FAILED, str(exc), None, "crashed")
        except Exception as exc:  # a bug in one stage fails one page, named by its stage
            log.exception("%s stage failed for %s", stage, request.url)
            return self._record_unsaved(request, PageStatus.FAILED, f"{stage} error: {exc.__class__.__name__}: {exc}", None,
                                        f"{stage}_error")

    def _page_key(self, fetched_url: str, declared: str | None) -> str:
        """The page's identity: its rel=canonical URL when that stays in scope, else its own URL."""
        own = self.admission.canonical(fetched_url) or fetched_url
        if declared:
            target = canonical_url(declared)
            if target and in_scope(target, self.ctx.start_url, self.ctx.config.scope):
                return target
        return own

    def _record_unsaved(self, request: CrawlRequest, status: PageStatus, reason: str, http_status: int | None,
                        code: str | None, links: list[str] | None = None) -> PageOutcome:
        ctx = self.ctx
        try:
            ctx.store.record(url=request.url, status=status, error=reason, depth=request.depth,
                             http_status=http_status, fetched_at=iso_timestamp(), reason=code,
                             source=request.source, **self._render_note(request.url).fields())
        except StoreClosed:
            return PageOutcome(request, Unrecorded.ABANDONED)
        except DiskFull as exc:
            ctx.on_disk_full(exc)
            return PageOutcome(request, Unrecorded.ABANDONED)
        ctx.note_failure(request.source, reason)
        ctx.tracker.page_done(request.url, status, request.depth, error=reason, reason=code, source=request.source)
        if code not in ("out_of_scope", "filtered"):  # a redirect out of the crawl: counted, not logged
            ctx.tracker.log("warning" if status == PageStatus.FAILED else "info", f"{status} {request.url}: {reason}")
        return PageOutcome(request, status, links or [])

    def _render_note(self, url: str) -> RenderNote:
        """Rendered in the browser or not, and why (for the manifest)."""
        return self.render.note(url) if self.render is not None else RenderNote(False, None)
