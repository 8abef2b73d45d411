"""What a site publishes for language models itself: its `/llms.txt` and `/llms-full.txt` (at the
site's root and beside the start page), and Markdown versions of its pages.

Everything here is fetched as a page is: through the crawl's session (the address guard checks
every connection), under robots.txt, the crawl's time limit and a size cap, and only from the
start URL's host (for a page's Markdown: inside the crawl's scope and filters). What comes back
is bytes to keep, never markup to run or links to follow: an HTML answer (a site that serves its
home page for any path), binary data or any type but plain text or Markdown is not the file.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from crawler.engine.context import CrawlContext
from crawler.engine.errors import FetchFailed, TransientFailure
from crawler.engine.events import iso_timestamp
from crawler.engine.fetch import MAX_BODY_BYTES, fetch_text
from crawler.engine.urls import host_of
from crawler.folder.paths import SITE_FILE_NAMES
from crawler.folder.writer import StoreClosed

MAX_LLMS_TXT_BYTES = 1024 * 1024  # an index: more than this is cut (and said so)
MAX_LLMS_FULL_BYTES = MAX_BODY_BYTES  # the whole site's text: cut at a page's size limit
MAX_MARKDOWN_BYTES = MAX_BODY_BYTES  # a page's Markdown version, as a page
FETCH_TIMEOUT_CAP = 30.0


def site_file_urls(start_url: str) -> list[tuple[str, str]]:
    """(name, URL) of the files to look for: at the site's root, then beside the start page when
    that is in a folder (`https://x.org/docs/` → `/llms.txt`, `/docs/llms.txt`)."""
    parts = urlsplit(start_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    folder = (parts.path or "/")[: (parts.path or "/").rfind("/") + 1] or "/"
    found: list[tuple[str, str]] = []
    for directory in dict.fromkeys(("/", folder)):
        found.extend((name, f"{origin}{directory}{name}") for name in SITE_FILE_NAMES)
    return found


def _same_host(start_url: str, allowed: Callable[[str], bool]) -> Callable[[str], str | None]:
    host = urlsplit(start_url).netloc.lower()

    def refusal(url: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != host:
            return "not on the site's host"
        return None if allowed(url) else "disallowed by robots.txt"

    return refusal


def fetch_site_files(ctx: CrawlContext, allowed_by_robots: Callable[[str], bool] | None,
                     take_turn: Callable[[str], float]) -> int:
    """Look for the site's own llms.txt and llms-full.txt and keep those found in the crawl
    folder (`site/`); the first found of each name (the root's) wins. Returns how many were kept.
    A failure to fetch one is a line in the log, never the crawl's end. Each request waits for its
    host's turn (`take_turn`: the frontier's, so `delay` and `Crawl-delay` space it from the pages)."""
    refusal = _same_host(ctx.start_url, allowed_by_robots or (lambda url: True))
    timeout = min(ctx.config.timeout, FETCH_TIMEOUT_CAP)
    kept: set[str] = set()
    for name, url in site_file_urls(ctx.start_url):
        ctx.check_stop()
        if name in kept:
            continue
        reason = refusal(url)
        if reason:
            ctx.tracker.log("info", f"{url}: not fetched ({reason})")
            continue
        limit = MAX_LLMS_TXT_BYTES if name == "llms.txt" else MAX_LLMS_FULL_BYTES
        pause = take_turn(host_of(url))
        if pause > 0:
            ctx.stop_signal.wait(pause)
        ctx.check_stop()
        try:
            found = fetch_text(ctx.sessions.get(), url, timeout=timeout, stop=ctx.stop_signal, max_bytes=limit,
                               check_redirect=refusal)
        except (TransientFailure, FetchFailed) as exc:
            ctx.tracker.log("warning", f"{url}: could not be fetched ({exc.reason})")
            continue
        if found is None:
            continue
        final_url, body, truncated = found
        try:
            ctx.store.save_site_file(name, body, url=final_url, truncated=truncated, fetched_at=iso_timestamp())
        except StoreClosed:
            return len(kept)
        kept.add(name)
        cut = f", cut at {limit // 1024:,} KiB" if truncated else ""
        ctx.tracker.log("info", f"the site publishes its own {name}: {final_url} ({len(body):,} bytes{cut}); "
                                "kept with the crawl's downloads")
    return len(kept)


def fetch_site_markdown(ctx: CrawlContext, url: str, refusal: Callable[[str], str | None]) -> str | None:
    """A page's own Markdown version as text, fetched like the page (None when it cannot be had:
    refused by scope, filters or robots, missing, not Markdown or plain text, or cut by the size
    limit: a page's Markdown is used whole or not at all)."""
    if refusal(url):
        return None
    try:
        found = fetch_text(ctx.sessions.get(), url, timeout=min(ctx.config.timeout, FETCH_TIMEOUT_CAP),
                           stop=ctx.stop_signal, max_bytes=MAX_MARKDOWN_BYTES, check_redirect=refusal)
    except (TransientFailure, FetchFailed) as exc:
        ctx.tracker.log("warning", f"{url}: the page's Markdown version could not be fetched ({exc.reason}); "
                                   "the page's own text is saved")
        return None
    if found is None or found[2]:
        return None
    return found[1].decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\x00", "").strip()
