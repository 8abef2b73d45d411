"""Reading a crawl: its saved pages (for a tree by URL path) and one page's Markdown as safe HTML.

Everything here is read from the crawl folder alone (`manifest.jsonl` and `pages/*.md`), so it
works the same for a crawl that is running, stopped, finished or resumed, and whoever wrote it.

Rendering is the one place crawled text becomes markup, so it is strict. markdown-it-py renders
CommonMark with raw HTML turned off (a `<script>` in a page is shown as text); a link keeps its
target only when it is http, https, mailto or relative (anything else, `javascript:` and `data:`
included, stays plain text); relative links are made absolute against the page's URL; a link to
another page of the same crawl is marked `data-reader-url` for the dashboard to open in the
reader, every other link opens in a new tab with `rel="noopener noreferrer"`; images are never
loaded from the crawled site: each becomes a link to the image, labelled with its alt text. No
element gets an attribute beyond `href`, `title`, `class`, `target`, `rel`, `data-reader-url` and a
numbered list's `start` (a table column's alignment becomes a class, not a style).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

from crawler.engine.events import PageStatus
from crawler.engine.greenio import yield_every
from crawler.engine.urls import canonical_url
from crawler.folder.reader import read_page

MAX_PAGE_CHARS = 200_000  # most Markdown characters one answer carries; `offset` gives the rest
TREE_LIMIT = 5_000  # most pages of the tree in one answer; `offset` gives the rest
# Crawl folders whose saved pages are kept in memory, most recently read first: at most this many
# folders and, beyond the one being read, this many pages in all (~250 bytes a page).
_CACHED_CRAWLS = 8
_CACHED_PAGES = 100_000
_YIELD_EVERY = 2_000  # manifest lines read between two yields to other threads (green ones included)
LINK_SCHEMES = ("http", "https", "mailto")


@dataclass(frozen=True, slots=True)
class SavedPage:
    url: str
    title: str
    path: str  # the Markdown file, relative to the crawl folder (as in the manifest)
    canonical: str | None
    line_offset: int = -1  # where its line starts in manifest.jsonl (to read the whole record back)

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "title": self.title, "path": self.path}


class SavedPages:
    """The saved pages of one crawl folder, in crawl order, read from its manifest.

    The manifest is followed from where it was last read (a running crawl appends to it), and
    read again from the start when it was rewritten. A torn last line waits for its end."""

    def __init__(self, crawl_dir: Path) -> None:
        self.crawl_dir = Path(crawl_dir)
        self.pages: list[SavedPage] = []
        self._by_url: dict[str, SavedPage] = {}
        self._offset = 0
        self._identity: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def refresh(self) -> SavedPages:
        manifest = self.crawl_dir / "manifest.jsonl"
        with self._lock:
            try:
                stat = manifest.stat()
            except FileNotFoundError:
                self._reset(None)
                return self
            identity = (stat.st_dev, stat.st_ino)
            if identity != self._identity or stat.st_size < self._offset:
                self._reset(identity)
            if stat.st_size > self._offset:
                self._read_from(manifest)
        return self

    def _reset(self, identity: tuple[int, int] | None) -> None:
        self.pages, self._by_url, self._offset, self._identity = [], {}, 0, identity

    def _read_from(self, manifest: Path) -> None:
        pages, by_url = list(self.pages), dict(self._by_url)
        with open(manifest, "rb") as handle:
            handle.seek(self._offset)
            for number, line in enumerate(handle, start=1):
                if not line.endswith(b"\n"):
                    break
                line_offset = self._offset
                self._offset += len(line)
                yield_every(number, _YIELD_EVERY)  # a long manifest never holds the server for long
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(entry, dict) or entry.get("status") != PageStatus.OK:
                    continue
                url, path = entry.get("url"), entry.get("path")
                if not isinstance(url, str) or not isinstance(path, str):
                    continue
                title = entry.get("title") if isinstance(entry.get("title"), str) else ""
                canonical = entry.get("canonical") if isinstance(entry.get("canonical"), str) else None
                page = SavedPage(url, title or "", path, canonical, line_offset)
                pages.append(page)
                for key in (url, canonical):
                    if key and key not in by_url:
                        by_url[key] = page
        self.pages, self._by_url = pages, by_url  # readers never see a half-updated pair

    def find(self, url: str) -> SavedPage | None:
        """The saved page with this URL (as saved, as its canonical URL, or in canonical form)."""
        url = (url or "").strip()
        found = self._by_url.get(url)
        if found is None:
            normal = canonical_url(url.split("#", 1)[0])
            found = self._by_url.get(normal) if normal else None
        return found


_cache: OrderedDict[str, SavedPages] = OrderedDict()
_cache_lock = threading.Lock()


def saved_pages(crawl_dir: Path) -> SavedPages:
    """The saved pages of a crawl folder, up to date with its manifest (kept for a few folders)."""
    key = os.fspath(Path(crawl_dir))
    with _cache_lock:
        pages = _cache.pop(key, None) or SavedPages(Path(crawl_dir))
        _cache[key] = pages
    pages.refresh()
    with _cache_lock:
        while len(_cache) > 1 and (len(_cache) > _CACHED_CRAWLS or
                                   sum(len(p.pages) for p in _cache.values()) > _CACHED_PAGES + len(pages.pages)):
            oldest = next(iter(_cache))
            if _cache[oldest] is pages:
                break
            del _cache[oldest]
    return pages


def slice_text(text: str, offset: int, max_chars: int = MAX_PAGE_CHARS) -> tuple[str, int | None]:
    """Characters of `text` from `offset`, at most `max_chars`, ending at a paragraph break when
    one falls in the last fifth (so a slice rarely cuts a list or a code block in two); returns
    the slice and the offset of the rest (None at the end)."""
    end = offset + max_chars
    if end >= len(text):
        return text[offset:], None
    cut = text.rfind("\n\n", offset + max_chars * 4 // 5, end)
    if cut > offset:
        end = cut + 2
    return text[offset:end], end


# ---- rendering ------------------------------------------------------------------------------


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def _allowed_target(url: str) -> bool:
    """http, https, mailto, or relative (a path, `?query`, `#fragment`); nothing else."""
    target = url.strip()
    if not target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return False
    scheme = _SCHEME.match(target)
    return scheme is None or scheme.group(1).lower() in LINK_SCHEMES


class _Links:
    """Resolves a link of the page being rendered: absolute target, and whether the crawl has it."""

    def __init__(self, page_url: str, pages: SavedPages | None) -> None:
        self.page_url = page_url
        self.pages = pages
        self.open: list[bool] = []  # the links open around the token being rendered (False: shown as text)

    @property
    def depth(self) -> int:
        return sum(self.open)

    def resolve(self, href: str) -> tuple[str | None, str | None]:
        """(absolute href, URL of the saved page it leads to) — (None, None) if it may not be linked."""
        try:
            absolute = urljoin(self.page_url, href.strip())
            scheme = urlsplit(absolute).scheme.lower()
        except ValueError:
            return None, None
        if scheme not in LINK_SCHEMES:
            return None, None
        if scheme == "mailto" or self.pages is None:
            return absolute, None
        found = self.pages.find(absolute)
        return absolute, (found.url if found else None)


def _attrs(pairs: Sequence[tuple[str, str]]) -> str:
    return "".join(f' {name}="{escape(value, quote=True)}"' for name, value in pairs)


def _render_link_open(self: Any, tokens: list[Token], idx: int, options: Any, env: dict[str, Any]) -> str:
    links: _Links = env["links"]
    token = tokens[idx]
    href, inside = links.resolve(str(token.attrGet("href") or ""))
    if href is None or links.depth:  # a link inside a link is its text (HTML cannot nest them)
        links.open.append(False)
        return '<span class="reader-link-dropped">'
    links.open.append(True)
    pairs: list[tuple[str, str]] = [("href", href)]
    title = token.attrGet("title")
    if title:
        pairs.append(("title", str(title)))
    if inside is not None:
        pairs += [("class", "reader-internal"), ("data-reader-url", inside)]
    elif not href.lower().startswith("mailto:"):
        pairs += [("class", "reader-external"), ("target", "_blank"), ("rel", "noopener noreferrer")]
    return f"<a{_attrs(pairs)}>"


def _render_link_close(self: Any, tokens: list[Token], idx: int, options: Any, env: dict[str, Any]) -> str:
    links: _Links = env["links"]
    if not links.open:
        return ""
    return "</a>" if links.open.pop() else "</span>"


def _render_image(self: Any, tokens: list[Token], idx: int, options: Any, env: dict[str, Any]) -> str:
    """An image is never loaded: a link to it, labelled with its alt text."""
    token = tokens[idx]
    alt = "".join(child.content for child in (token.children or [])) or token.content or "image"
    href, _ = env["links"].resolve(str(token.attrGet("src") or ""))
    label = escape(f"[image: {alt}]")
    if href is None or env["links"].depth:
        return f'<span class="reader-image">{label}</span>'
    attrs = _attrs([("href", href), ("class", "reader-image"), ("target", "_blank"), ("rel", "noopener noreferrer")])
    return f"<a{attrs}>{label}</a>"


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough")
    md.validateLink = _allowed_target  # type: ignore[method-assign]  # markdown-it-py's hook: replace the method
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("link_close", _render_link_close)
    md.add_render_rule("image", _render_image)
    return md


_MD = _markdown()


def render_markdown(markdown: str, page_url: str, pages: SavedPages | None = None) -> str:
    """The page's Markdown as HTML that runs nothing and loads nothing (see the module's notes)."""
    env: dict[str, Any] = {"links": _Links(page_url, pages)}
    tokens = _MD.parse(markdown, env)
    for token in tokens:
        if token.type in ("th_open", "td_open"):
            # A column's alignment is a style attribute, which the dashboard's CSP refuses: a class.
            align = str(token.attrGet("style") or "").removeprefix("text-align:").strip()
            token.attrs = {"class": f"align-{align}"} if align in ("left", "center", "right") else {}
    return _MD.renderer.render(tokens, _MD.options, env)


# ---- the answers of the REST routes ------------------------------------------------------------


class ReaderError(ValueError):
    """A request the reader cannot answer; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def whole_number(name: str, raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ReaderError(f"{name} must be a whole number from {low} to {high}, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise ReaderError(f"{name} must be a whole number from {low} to {high}, got {value}")
    return value


def tree_answer(crawl_dir: Path, offset: int = 0, limit: int = TREE_LIMIT) -> dict[str, Any]:
    """GET /api/crawls/<id>/tree: the saved pages in crawl order, `limit` of them from `offset`."""
    pages = saved_pages(crawl_dir).pages
    chosen = pages[offset:offset + limit]
    end = offset + len(chosen)
    return {"total": len(pages), "offset": offset, "next_offset": end if end < len(pages) else None,
            "pages": [page.as_dict() for page in chosen]}


def page_answer(crawl_dir: Path, url: str | None, offset: int = 0) -> dict[str, Any]:
    """GET /api/crawls/<id>/page: one saved page's Markdown (a slice of it when it is long) and
    that Markdown rendered to safe HTML."""
    if not url or not url.strip():
        raise ReaderError("url is required: the address of a saved page of this crawl, as listed by "
                          "/api/crawls/<id>/tree (e.g. ?url=https://docs.example.org/guide/)")
    pages = saved_pages(crawl_dir)
    page = pages.find(url)
    if page is None:
        raise ReaderError(f"this crawl has no saved page with the URL {url.strip()[:300]!r}: "
                          "see /api/crawls/<id>/tree for its pages", 404)
    text = read_page(crawl_dir, page.path)
    if text is None:
        raise ReaderError(f"the page {page.url!r} is no longer stored", 404)
    if offset > len(text):
        raise ReaderError(f"offset {offset} is past the end: the page has {len(text)} characters")
    part, next_offset = slice_text(text, offset)
    return {"url": page.url, "title": page.title or page.url, "path": page.path, "markdown": part,
            "html": render_markdown(part, page.url, pages), "offset": offset, "next_offset": next_offset,
            "total_chars": len(text)}
