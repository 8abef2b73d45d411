"""The tools of the MCP server, over crawl folders and the search index, for one caller's crawls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from mcp.server.mcpserver import Context, MCPServer

from crawler import __version__
from crawler.engine.events import CrawlKind
from crawler.folder.reader import read_json, read_page
from crawler.outputs.llms import LLMS_TXT, build_index, current_file, render_llms_txt
from crawler.outputs.search import (
    IndexUnavailable,
    QueryError,
    SearchIndex,
    crawl_folders,
)

MAX_CHARS = 50_000  # the most text one answer carries, whatever the caller asks for
DEFAULT_PAGE_CHARS = 20_000
MAX_RESULTS = 50
MAX_SITES = 100
SNIPPET_TOKENS = 32


class ToolInputError(ValueError):
    """A tool was called with something it cannot answer; the message says what to do instead."""


@dataclass
class SiteInfo:
    crawl_id: str
    url: str
    state: str
    created_at: str

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()


class SiteSource(Protocol):
    """The crawls one caller may see (crawls only: a discovery stores no pages)."""

    def sites(self, context: Context | None) -> list[SiteInfo]: ...


class FolderSites:
    """Every crawl folder of a data directory: what the local user sees over stdio."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)

    def sites(self, context: Context | None = None) -> list[SiteInfo]:
        found = []
        for crawl_id, crawl_dir in crawl_folders(self.data_dir).items():
            try:
                meta = read_json(crawl_dir / "crawl.json")
                config = read_json(crawl_dir / "config.json")
            except (OSError, ValueError):
                continue
            if not isinstance(meta, dict) or not isinstance(config, dict) or meta.get("kind", CrawlKind.CRAWL) != CrawlKind.CRAWL:
                continue
            state = meta.get("state", "")
            try:
                summary = read_json(crawl_dir / "summary.json")
                state = summary.get("state", state) if meta.get("state") not in ("queued", "running") else state
            except (OSError, ValueError, AttributeError):
                pass
            url = config.get("url") or (config.get("urls") or [""])[0]
            found.append(SiteInfo(crawl_id, str(url), str(state), str(meta.get("created_at", ""))))
        return sorted(found, key=lambda site: site.crawl_id, reverse=True)


def _bounded(name: str, value: int, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ToolInputError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _slice(text: str, offset: int, max_chars: int, how_to_continue: Callable[[int], str]) -> str:
    """Characters [offset, offset + max_chars) of `text`, with where they sit and how to go on."""
    total = len(text)
    if offset > total:
        raise ToolInputError(f"offset {offset} is past the end: the text has {total} characters")
    end = min(total, offset + max_chars)
    header = f"[characters {offset}–{end} of {total}]"
    footer = (f"\n\n[{total - end} more characters: {how_to_continue(end)}]" if end < total
              else "\n\n[end of text]")
    return f"{header}\n\n{text[offset:end]}{footer}"


class DocsLibrary:
    """What the tools do, for the sites a :class:`SiteSource` lets the caller see."""

    def __init__(self, data_dir: Path, index: SearchIndex, source: SiteSource) -> None:
        self.data_dir = Path(data_dir)
        self.index = index
        self.source = source

    def _visible(self, context: Context | None) -> list[SiteInfo]:
        return self.source.sites(context)

    def resolve_site(self, site: str, context: Context | None) -> SiteInfo:
        """A crawl id, or a host / URL (its newest crawl)."""
        visible = self._visible(context)
        wanted = (site or "").strip()
        for info in visible:
            if info.crawl_id == wanted:
                return info
        host = (urlsplit(wanted if "//" in wanted else f"//{wanted}").hostname or "").lower()
        for info in visible:  # newest first
            if host and info.host == host:
                return info
        raise ToolInputError(f"unknown site {wanted!r}: call list_sites for the crawl ids and hosts you can use")

    # ---- the tools ----

    def list_sites(self, offset: int = 0, context: Context | None = None) -> str:
        _bounded("offset", offset, 0, 1_000_000)
        visible = self._visible(context)
        if not visible:
            return "No crawled sites yet."
        pages = self.index_pages([info.crawl_id for info in visible])
        chosen = visible[offset:offset + MAX_SITES]
        lines = [f"{len(visible)} crawled sites, newest first (site = crawl id or host):", ""]
        for info in chosen:
            lines.append(f"- {info.crawl_id}: {info.url} ({info.state}, {pages.get(info.crawl_id, 0)} pages "
                         f"searchable, created {info.created_at})")
        rest = len(visible) - offset - len(chosen)
        if rest > 0:
            lines.append(f"\n[{rest} more: call list_sites(offset={offset + len(chosen)})]")
        return "\n".join(lines)

    def index_pages(self, crawl_ids: list[str]) -> dict[str, int]:
        try:
            return self.index.pages_per_crawl(crawl_ids)
        except IndexUnavailable:
            return {}

    def search_docs(self, query: str, site: str | None = None, limit: int = 10, offset: int = 0,
                    context: Context | None = None) -> str:
        _bounded("limit", limit, 1, MAX_RESULTS)
        _bounded("offset", offset, 0, 100_000)
        if site:
            crawl_ids = [self.resolve_site(site, context).crawl_id]
        else:
            crawl_ids = [info.crawl_id for info in self._visible(context)]
        try:
            found = self.index.search(query, crawl_ids, limit=limit, offset=offset, html_snippets=False,
                                      snippet_tokens=SNIPPET_TOKENS)
        except QueryError as exc:
            raise ToolInputError(f"{exc}. Syntax: words (all must match), \"a phrase\", prefix*, OR, NOT") from None
        except IndexUnavailable as exc:
            raise ToolInputError(str(exc)) from None
        if not found.hits:
            where = f" in {site}" if site else ""
            return f"No results for {query!r}{where} (of {found.total})." if found.total else \
                f"No results for {query!r}{where}."
        lines = [f"Results {offset + 1}–{offset + len(found.hits)} of {found.total} for {query!r} "
                 "(read one with get_page(url)):", ""]
        for number, hit in enumerate(found.hits, start=offset + 1):
            lines.append(f"{number}. {hit.title}\n   url: {hit.url}\n   site: {hit.crawl_id}  score: {hit.score}\n"
                         f"   {hit.snippet}")
        rest = found.total - offset - len(found.hits)
        if rest > 0:
            site_arg = f", site={site!r}" if site else ""
            lines.append(f"\n[{rest} more results: call search_docs(query={query!r}{site_arg}, limit={limit}, "
                         f"offset={offset + len(found.hits)})]")
        text = "\n".join(lines)
        return text[:MAX_CHARS]

    def get_page(self, url: str, offset: int = 0, max_chars: int = DEFAULT_PAGE_CHARS,
                 context: Context | None = None) -> str:
        _bounded("offset", offset, 0, 1 << 40)
        _bounded("max_chars", max_chars, 1, MAX_CHARS)
        visible = {info.crawl_id for info in self._visible(context)}
        try:
            found = self.index.find_page(url.strip(), sorted(visible))
        except IndexUnavailable as exc:
            raise ToolInputError(str(exc)) from None
        if found is None:
            raise ToolInputError(f"no stored page has the URL {url!r} in your sites: use a url from "
                                 "search_docs or get_outline (a page crawled a moment ago may take a second "
                                 "to appear)")
        crawl_id, page_url, title, path = found
        body = read_page(self.data_dir / crawl_id, path)
        if body is None:
            raise ToolInputError(f"the page {url!r} is no longer stored (its crawl was deleted?)")
        text = _slice(body, offset, max_chars,
                      lambda end: f"call get_page(url={page_url!r}, offset={end}) for the rest")
        return f"# {title or page_url}\n\nSource: {page_url} (site {crawl_id})\n{text}"

    def get_outline(self, site: str, offset: int = 0, max_chars: int = DEFAULT_PAGE_CHARS,
                    context: Context | None = None) -> str:
        _bounded("offset", offset, 0, 1 << 40)
        _bounded("max_chars", max_chars, 1, MAX_CHARS)
        info = self.resolve_site(site, context)
        crawl_dir = self.data_dir / info.crawl_id
        stored = current_file(crawl_dir, LLMS_TXT)
        outline = stored.read_text(encoding="utf-8") if stored is not None else render_llms_txt(build_index(crawl_dir))
        return _slice(outline, offset, max_chars,
                      lambda end: f"call get_outline(site={info.crawl_id!r}, offset={end}) for the rest")


def build_server(library: DocsLibrary) -> MCPServer:
    """An MCP server whose four tools answer from `library`."""
    server = MCPServer(
        "crawler-docs", version=__version__,
        instructions=("Documentation sites crawled by Crawler Dashboard. list_sites shows them; search_docs "
                      "finds pages (words, \"phrases\", prefix*, OR, NOT); get_page reads one as Markdown, "
                      "in slices; get_outline gives a site's llms.txt (its sections and pages)."))

    @server.tool()
    def list_sites(ctx: Context, offset: int = 0) -> str:
        """The crawled documentation sites you can search: crawl id, start URL, state, pages."""
        return _answer(lambda: library.list_sites(offset, ctx))

    @server.tool()
    def search_docs(query: str, ctx: Context, site: str | None = None, limit: int = 10, offset: int = 0) -> str:
        """Full-text search (BM25) over the stored pages. query: words (all must match), "a phrase",
        prefix*, OR, NOT. site: a crawl id or host from list_sites (default: every site). limit: 1-50
        results; offset: skip that many (the answer says what to pass for the next ones)."""
        return _answer(lambda: library.search_docs(query, site, limit, offset, ctx))

    @server.tool()
    def get_page(url: str, ctx: Context, offset: int = 0, max_chars: int = DEFAULT_PAGE_CHARS) -> str:
        """One stored page as Markdown, by its URL (from search_docs or get_outline). Long pages come
        in slices of max_chars (at most 50000) characters from offset; the answer says how to get
        the rest."""
        return _answer(lambda: library.get_page(url, offset, max_chars, ctx))

    @server.tool()
    def get_outline(site: str, ctx: Context, offset: int = 0, max_chars: int = DEFAULT_PAGE_CHARS) -> str:
        """A site's llms.txt: its name, summary, sections and every page with a one-line description.
        site: a crawl id or host from list_sites. Sliced like get_page."""
        return _answer(lambda: library.get_outline(site, offset, max_chars, ctx))

    return server


def _answer(call: Callable[[], str]) -> str:
    from mcp.server.mcpserver.exceptions import ToolError

    try:
        return call()
    except ToolInputError as exc:
        raise ToolError(str(exc)) from None


def request_scope(context: Context | None) -> dict[str, Any] | None:
    """The ASGI scope of the HTTP request a tool call arrived in (None over stdio)."""
    if context is None:
        return None
    try:
        request = context.request_context.request
    except (ValueError, AttributeError):
        return None
    scope = getattr(request, "scope", None)
    return scope if isinstance(scope, dict) else None
