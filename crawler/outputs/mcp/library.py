"""The tools of the MCP server, over crawl folders and the search index, for one caller's crawls."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

from crawler import __version__
from crawler.engine.events import CrawlKind
from crawler.folder.reader import read_json, read_page
from crawler.outputs.llms import LLMS_TXT, current_file, iter_llms_txt_text, published_by_site
from crawler.outputs.search import (
    IndexUnavailable,
    PageRow,
    QueryError,
    SearchIndex,
    crawl_folders,
    current_crawls,
    site_key,
)
from crawler.outputs.sections import PATH_SEPARATOR, Section, cut, find_section

MAX_CHARS = 50_000  # the most text one answer carries, whatever the caller asks for
DEFAULT_PAGE_CHARS = 20_000
MAX_RESULTS = 50
MAX_SITES = 100
SNIPPET_TOKENS = 32
DEFAULT_SECTION_CHARS = 600  # of each hit's section in search_docs
MAX_SECTION_CHARS = 4000


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


class CrawlStarter(Protocol):
    """Starts and follows crawls for the caller: the host's crawl service, injected (the outputs
    layer starts nothing itself). Each method answers plain JSON-able data, or raises
    ToolInputError with a message for the caller (bad settings, a refused address, a full queue,
    an unknown crawl)."""

    def start(self, context: Context | None, settings: dict[str, Any]) -> dict[str, Any]: ...
    def refresh(self, context: Context | None, crawl_id: str) -> dict[str, Any]: ...
    def status(self, context: Context | None, crawl_id: str) -> dict[str, Any]: ...


CRAWL_TOOLS_NOTE = ("Only for a caller with an API key (or a local stdio server started with --allow-crawls). "
                    "The server's limits apply (max_pages 1-100000, at most 100 include/exclude patterns, the "
                    "crawls a session may run and have waiting), and so does its address policy: loopback, "
                    "private and link-local (cloud metadata) addresses are refused unless the server allows "
                    "private targets.")


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
    """Text from `offset` holding at most `max_chars` characters, ended on a paragraph, line or
    word boundary, with where it sits and how to go on."""
    length = len(text)
    if offset > length:
        raise ToolInputError(f"offset {offset} is past the end: the text has {length} characters")
    end = cut(text, offset, max_chars)
    header = f"[characters {offset}–{end} of {length}]"
    footer = (f"\n\n[{length - end} more characters: {how_to_continue(end)}]" if end < length
              else "\n\n[end of text]")
    return f"{header}\n\n{text[offset:end]}{footer}"


def _site_name(crawl_dir: Path, fallback: str) -> str:
    """The site's name as its llms.txt gives it (the first line, `# Name`), else its host."""
    stored = current_file(crawl_dir, LLMS_TXT)
    if stored is not None:
        try:
            with open(stored, encoding="utf-8", errors="replace") as handle:
                first = handle.readline(300).strip()
            if first.startswith("# ") and first[2:].strip():
                return first[2:].strip()
        except OSError:
            pass
    return fallback


def _finished_at(crawl_dir: Path) -> str:
    try:
        summary = read_json(crawl_dir / "summary.json")
    except (OSError, ValueError):
        return ""
    value = summary.get("finished_at") if isinstance(summary, dict) else None
    return value if isinstance(value, str) else ""


class DocsLibrary:
    """What the tools do, for the sites a :class:`SiteSource` lets the caller see."""

    def __init__(self, data_dir: Path, index: SearchIndex, source: SiteSource) -> None:
        self.data_dir = Path(data_dir)
        self.index = index
        self.source = source

    def _visible(self, context: Context | None) -> list[SiteInfo]:
        return self.source.sites(context)

    @staticmethod
    def _current(visible: list[SiteInfo]) -> list[str]:
        """The crawl standing for each site: its newest completed crawl (search_docs and
        get_page look there unless told a crawl id)."""
        return current_crawls((info.crawl_id, info.url, info.state, info.created_at) for info in visible)

    def resolve_site(self, site: str, context: Context | None) -> SiteInfo:
        """A crawl id, or a host / URL (that site's current crawl)."""
        visible = self._visible(context)
        wanted = (site or "").strip()[:2000]
        for info in visible:
            if info.crawl_id == wanted:
                return info
        current = self._current(visible)  # newest first
        by_id = {info.crawl_id: info for info in visible}
        if "//" in wanted:  # a start URL: that site exactly
            key = site_key(wanted)
            for crawl_id in current:
                if site_key(by_id[crawl_id].url) == key:
                    return by_id[crawl_id]
        host = (urlsplit(wanted if "//" in wanted else f"//{wanted}").hostname or "").lower() if wanted else ""
        for crawl_id in current:
            if host and by_id[crawl_id].host == host:
                return by_id[crawl_id]
        raise ToolInputError(f"unknown site {wanted[:200]!r}: call list_sites for the crawl ids and hosts you can use")

    # ---- the tools ----

    def list_sites(self, offset: int = 0, context: Context | None = None) -> str:
        _bounded("offset", offset, 0, 1_000_000)
        visible = self._visible(context)
        if not visible:
            return "No crawled sites yet."
        current = set(self._current(visible))
        pages = self.index_pages([info.crawl_id for info in visible])
        # Current crawls first (newest first), then the older crawls of each site.
        newest_first = sorted(visible, key=lambda i: (i.created_at, i.crawl_id), reverse=True)
        ordered = [i for i in newest_first if i.crawl_id in current] + [i for i in newest_first if i.crawl_id not in current]
        chosen = ordered[offset:offset + MAX_SITES]
        older = len(visible) - len(current)
        lines = [f"{len(current)} sites ({len(visible)} crawls; search_docs and get_page use each site's current "
                 "crawl; pass site=<crawl id> for an older one):", ""]
        for info in chosen:
            crawl_dir = self.data_dir / info.crawl_id
            name = _site_name(crawl_dir, info.host or info.url)
            finished = _finished_at(crawl_dir) or info.created_at
            role = "current" if info.crawl_id in current else "older crawl"
            lines.append(f"- {name}\n  site: {info.crawl_id} ({role}, {info.state})\n  start URL: {info.url}\n"
                         f"  {pages.get(info.crawl_id, 0)} pages searchable\n  last crawled: {finished}")
        rest = len(visible) - offset - len(chosen)
        if rest > 0:
            lines.append(f"\n[{rest} more: call list_sites(offset={offset + len(chosen)})]")
        else:
            lines.append("\nNext: search_docs(query, site=<crawl id or host>) finds sections; "
                         "get_outline(site) lists a site's pages.")
        if older and not rest:
            lines.append(f"({older} older crawls are listed for reference; they are not searched by default.)")
        return "\n".join(lines)

    def index_pages(self, crawl_ids: list[str]) -> dict[str, int]:
        try:
            return self.index.pages_per_crawl(crawl_ids)
        except IndexUnavailable:
            return {}

    def search_docs(self, query: str, site: str | None = None, limit: int = 10, offset: int = 0,
                    section_chars: int = DEFAULT_SECTION_CHARS, context: Context | None = None) -> str:
        _bounded("limit", limit, 1, MAX_RESULTS)
        _bounded("offset", offset, 0, 100_000)
        _bounded("section_chars", section_chars, 0, MAX_SECTION_CHARS)
        if site:
            crawl_ids = [self.resolve_site(site, context).crawl_id]
        else:
            crawl_ids = self._current(self._visible(context))
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
        lines = [f"Results {offset + 1}–{offset + len(found.hits)} of {found.total} for {query!r}: pages, each "
                 "with its best matching section (read more with get_page(url, section=...)):", ""]
        budget = MAX_CHARS - 2000
        for number, hit in enumerate(found.hits, start=offset + 1):
            section = hit.section or "(opening text)"
            text = hit.section_text(section_chars)
            more = hit.section_chars - len(text)
            section_arg = f", section={hit.anchor or hit.section!r}" if (hit.anchor or hit.section) else ""
            entry = (f"{number}. {hit.title}\n   section: {section}\n   url: {hit.section_url}\n"
                     f"   site: {hit.crawl_id}  page: {hit.page_chars} characters  section: {hit.section_chars} "
                     f"characters  score: {hit.score}\n   match: {hit.snippet}")
            if text:
                entry += "\n   " + text.replace("\n", "\n   ")
            if more > 0:
                entry += (f"\n   [{more} more characters in this section: get_page(url={hit.url!r}"
                          f"{section_arg})]")
            if len(entry) > budget:
                lines.append(f"[the rest does not fit: call search_docs again with offset={number - 1} "
                             "or a smaller section_chars]")
                break
            budget -= len(entry)
            lines.append(entry)
        rest = found.total - offset - len(found.hits)
        if rest > 0:
            site_arg = f", site={site!r}" if site else ""
            lines.append(f"\n[{rest} more results: call search_docs(query={query!r}{site_arg}, limit={limit}, "
                         f"offset={offset + len(found.hits)})]")
        text = "\n".join(lines)
        return text[:MAX_CHARS]

    def _find(self, url: str, context: Context | None) -> PageRow:
        visible = self._visible(context)
        current = self._current(visible)
        older = sorted({info.crawl_id for info in visible} - set(current), reverse=True)
        wanted = url.strip() if isinstance(url, str) else ""
        try:
            found = self.index.lookup_page(wanted, current + older)
            if found is not None:
                return found
            nearest = self.index.nearest_pages(wanted, current) or self.index.nearest_pages(wanted, older)
        except IndexUnavailable as exc:
            raise ToolInputError(str(exc)) from None
        hint = ("; the nearest saved pages: " + ", ".join(nearest)) if nearest else ""
        raise ToolInputError(f"no stored page has the URL {wanted[:500]!r} in your sites{hint}. Use a url from "
                             "search_docs or get_outline (a page crawled a moment ago may take a second to appear)")

    def get_page(self, url: str, offset: int = 0, max_chars: int = DEFAULT_PAGE_CHARS, section: str | None = None,
                 context: Context | None = None) -> str:
        _bounded("offset", offset, 0, 1 << 40)
        _bounded("max_chars", max_chars, 1, MAX_CHARS)
        if section is not None and (not isinstance(section, str) or len(section) > 1000):
            raise ToolInputError("section must be a heading anchor or heading path of at most 1000 characters")
        page = self._find(url, context)
        body = read_page(self.data_dir / page.crawl_id, page.path)
        if body is None:
            raise ToolInputError(f"the page {url[:500]!r} is no longer stored (its crawl was deleted?)")
        fragment = urlsplit(url.strip()).fragment if "#" in url else ""
        wanted = section if section else fragment
        head = f"# {page.title or page.url}\n\nSource: {page.url} (site {page.crawl_id}, {len(body)} characters)\n"
        if wanted:
            try:
                rows = self.index.page_sections(page.page_id)
            except IndexUnavailable as exc:
                raise ToolInputError(str(exc)) from None
            sections = [Section(row.heading.split(PATH_SEPARATOR)[-1], tuple(row.heading.split(PATH_SEPARATOR))
                                if row.heading else (), row.anchor, row.start, row.end) for row in rows]
            chosen = find_section(sections, wanted)
            if chosen is None and section:
                names = [s.anchor for s in sections if s.anchor][:40]
                raise ToolInputError(f"the page has no section {section[:200]!r}: its sections are "
                                     f"{', '.join(names) or '(none: it has no headings)'}. Pass one of them, "
                                     "or no section for the whole page")
            if chosen is not None:
                start, end = max(0, min(chosen.start, len(body))), max(0, min(chosen.end, len(body)))
                part = body[start:end]
                name = PATH_SEPARATOR.join(chosen.path) or "(opening text)"
                text = _slice(part, offset, max_chars,
                              lambda e: f"call get_page(url={page.url!r}, section={chosen.anchor or name!r}, "
                                        f"offset={e}) for the rest of this section")
                return (f"{head}Section: {name} ({len(part)} characters, at {start}–{end} of the page; offsets "
                        f"below count from the section's start)\n{text}")
        text = _slice(body, offset, max_chars,
                      lambda end: f"call get_page(url={page.url!r}, offset={end}) for the rest")
        return f"{head}{text}"

    def get_outline(self, site: str, offset: int = 0, max_chars: int = DEFAULT_PAGE_CHARS,
                    context: Context | None = None) -> str:
        _bounded("offset", offset, 0, 1 << 40)
        _bounded("max_chars", max_chars, 1, MAX_CHARS)
        info = self.resolve_site(site, context)
        crawl_dir = self.data_dir / info.crawl_id
        stored = current_file(crawl_dir, LLMS_TXT)
        outline = stored.read_text(encoding="utf-8") if stored is not None else "".join(iter_llms_txt_text(crawl_dir))
        text = _slice(outline, offset, max_chars,
                      lambda end: f"call get_outline(site={info.crawl_id!r}, offset={end}) for the rest")
        note = published_by_site(crawl_dir).note() if offset == 0 else ""
        return f"{note} (This outline is built from the crawl.)\n\n{text}" if note else text


READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


def build_server(library: DocsLibrary, crawls: CrawlStarter | None = None) -> MCPServer:
    """An MCP server whose four tools answer from `library`; with `crawls`, also the three that
    start and follow crawls (crawl_site, refresh_site, crawl_status)."""
    server = MCPServer(
        "crawler-docs", version=__version__,
        instructions=("Documentation sites crawled by Crawler Dashboard. list_sites shows them; search_docs "
                      "finds the best matching section of each page (words, \"phrases\", prefix*, OR, NOT); "
                      "get_page reads a page or one section of it as Markdown, in slices; get_outline gives a "
                      "site's llms.txt (its sections and pages)."))

    @server.tool(annotations=READ_ONLY.model_copy(update={"title": "List crawled sites"}))
    def list_sites(ctx: Context, offset: int = 0) -> str:
        """The crawled documentation sites you can search: name, crawl id (current or older crawl),
        start URL, pages, last crawled."""
        return _answer(lambda: library.list_sites(offset, ctx))

    @server.tool(annotations=READ_ONLY.model_copy(update={"title": "Search the docs"}))
    def search_docs(query: str, ctx: Context, site: str | None = None, limit: int = 10, offset: int = 0,
                    section_chars: int = DEFAULT_SECTION_CHARS) -> str:
        """Full-text search (BM25) over the stored pages; each hit is a page with its best matching
        section: heading path, the page's URL (#anchor), sizes, the matched words in **bold**, and
        up to section_chars (0-4000) characters of that section. query: words (all must match),
        "a phrase", prefix*, OR, NOT. site: a crawl id or host from list_sites (default: the current
        crawl of every site). limit: 1-50 results; offset: skip that many."""
        return _answer(lambda: library.search_docs(query, site, limit, offset, section_chars, ctx))

    @server.tool(annotations=READ_ONLY.model_copy(update={"title": "Read a page or section"}))
    def get_page(url: str, ctx: Context, section: str | None = None, offset: int = 0,
                 max_chars: int = DEFAULT_PAGE_CHARS) -> str:
        """One stored page as Markdown, by its URL (links with #anchors, index.html or tracking
        parameters are fine). section: a heading anchor or heading path ("Configuration ›
        Environment variables") to read only that section. Long text comes in slices of max_chars
        (at most 50000) characters from offset, cut between paragraphs; the answer says how to get
        the rest."""
        return _answer(lambda: library.get_page(url, offset, max_chars, section, ctx))

    @server.tool(annotations=READ_ONLY.model_copy(update={"title": "A site's outline (llms.txt)"}))
    def get_outline(site: str, ctx: Context, offset: int = 0, max_chars: int = DEFAULT_PAGE_CHARS) -> str:
        """A site's llms.txt: its name, summary, sections and every page with a one-line description.
        site: a crawl id or host from list_sites. Sliced like get_page."""
        return _answer(lambda: library.get_outline(site, offset, max_chars, ctx))

    if crawls is not None:
        _add_crawl_tools(server, library, crawls)
    return server


CRAWL_ANNOTATIONS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                                    open_world_hint=True)


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False)


def _add_crawl_tools(server: MCPServer, library: DocsLibrary, crawls: CrawlStarter) -> None:
    @server.tool(annotations=CRAWL_ANNOTATIONS.model_copy(update={"title": "Crawl a site"}),
                 description=("Start crawling a documentation site and return at once with its crawl_id: follow it "
                              "with crawl_status; its pages become searchable (search_docs, get_page) as they are "
                              "saved. url: the start page (only pages under it are crawled). max_pages: 1-100000 "
                              "(default 500). include / exclude: URL patterns, globs (/docs/api/*) or re:<regex>. "
                              + CRAWL_TOOLS_NOTE))
    def crawl_site(url: str, ctx: Context, max_pages: int | None = None, include: list[str] | None = None,
                   exclude: list[str] | None = None) -> str:
        settings: dict[str, Any] = {"url": url}
        for name, value in (("max_pages", max_pages), ("include", include), ("exclude", exclude)):
            if value is not None:
                settings[name] = value
        return _answer(lambda: _json(crawls.start(ctx, settings)))

    @server.tool(annotations=CRAWL_ANNOTATIONS.model_copy(update={"title": "Refresh a crawled site"}),
                 description=("Crawl a site again with the settings of its crawl, returning at once with the new "
                              "crawl_id: unchanged pages are reused (conditional requests), and when it ends "
                              "crawl_status tells what changed (pages new, changed, removed). site: a crawl id or "
                              "host from list_sites (a host means its newest completed crawl). " + CRAWL_TOOLS_NOTE))
    def refresh_site(site: str, ctx: Context) -> str:
        return _answer(lambda: _json(crawls.refresh(ctx, library.resolve_site(site, ctx).crawl_id)))

    @server.tool(annotations=READ_ONLY.model_copy(update={"title": "A crawl's status"}),
                 description=("Where a crawl started with crawl_site or refresh_site stands: its state (queued, "
                              "discovering, running, completed, stopped, failed, interrupted), pages saved, failed "
                              "and skipped, and for a refresh that ended, the counts of what changed. "
                              + CRAWL_TOOLS_NOTE))
    def crawl_status(crawl_id: str, ctx: Context) -> str:
        return _answer(lambda: _json(crawls.status(ctx, crawl_id)))


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
