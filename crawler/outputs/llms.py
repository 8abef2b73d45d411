"""llms.txt and llms-full.txt from a crawl folder, with no language model: everything in them
comes from the pages themselves and the order the crawl found them in.

``llms.txt`` follows the llmstxt.org proposal::

    # <site name>

    > <summary>

    <one line of free text>

    ## <section>

    - [<title>](<url>): <description>

    ## Optional

    - [<title>](<url>): <description>

* Site name: the start page's ``og:site_name``, else the one most pages declare, else the suffix
  most titles share (``Intro | Acme Docs`` → ``Acme Docs``), else the start page's title, else
  the host.
* Summary: the start page's ``<meta name="description">``, else the first sentence of its text.
* Sections: the site's own navigation (the groups of its sidebar or breadcrumbs the crawl recorded
  as each page's ``nav``) when it places at least half the pages; else, and for pages it does not
  place, the site's URL structure, the first path segment below the start URL's
  directory (``/docs/guide/install.html`` → ``guide``); pages right in that directory form the
  first section. Sections and the pages in them keep the order of ``discovered.jsonl`` (start
  page, sitemaps, then links breadth first); pages without a line there follow in manifest order.
  A section is named by its own index page's title when it was saved, else by its path segment.
* ``## Optional``, last: pages rarely needed to answer a question (changelogs, release notes,
  history, archives, news and blog posts), recognised by their path segments or title.
* Each page is listed once (under its canonical URL when it declared one), with its title (the
  site name, or the suffix most titles share, dropped) and its meta description (unless it is
  boilerplate: the site's name, the title, shared by three pages, a fragment), else its first
  sentence.

``llms-full.txt`` holds every stored page in the same order, each as ``# <title>``,
``Source: <url>`` and the page's Markdown, written and streamed one page at a time.

Token counts are estimates, no tokenizer involved: ``ceil(ASCII characters / 4 + other
characters / 2)``. Four characters a token is the usual rate for English prose, Markdown and
code; letters outside ASCII (accents, Cyrillic, CJK...) take more tokens per character, so each
counts half a token. Expect ±25% against a real tokenizer for English documentation.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from crawler.engine.events import iso_timestamp
from crawler.folder.reader import iter_manifest, page_body, read_json, saved_page_files, site_files
from crawler.folder.writer import write_atomically, write_json

LLMS_TXT = "llms.txt"
LLMS_FULL_TXT = "llms-full.txt"
LLMS_REPORT = "llms-report.json"
TOKEN_ESTIMATE = "ceil(ASCII characters / 4 + other characters / 2)"

OPTIONAL_SECTION = "Optional"
DESCRIPTION_LIMIT = 240
_HEAD_BYTES = 16384  # how much of a stored page is read to find its first sentence
_TITLE_SEPARATORS = (" | ", " - ", " — ", " – ", " · ", " :: ", " » ")
# Path segments (file extension dropped, lower-cased, "_" read as "-") of rarely needed pages.
_OPTIONAL_SEGMENTS = frozenset({
    "changelog", "changelogs", "change-log", "changes", "release-notes", "releasenotes", "release-note",
    "releases", "history", "archive", "archives", "news", "blog", "blogs", "whats-new", "what-s-new",
    "whatsnew", "announcements", "version-history", "release-history",
})
# Titles: these phrases at the start ("Release notes for 2.0", "What's new in 3.1"), or these
# words as the whole title (a page titled "Archive format" is not an archive).
# Path segments that start with these (and a "-"): Release-notes-for-1.1.0.html, changelog-2024.
_OPTIONAL_PREFIXES = ("changelog", "change-log", "release-notes", "releasenotes", "release-note", "whats-new",
                      "what-s-new", "news", "blog", "version-history", "history-of")
_OPTIONAL_TITLE = re.compile(r"^\s*(change\s*log|release\s+notes?|what['’]?s\s+new)\b|"
                             r"^\s*(changes|releases|history|archives?|news|blog)\s*$", re.IGNORECASE)


@dataclass
class PageRef:
    """One stored page, as llms.txt lists it: metadata only, never its text."""

    url: str  # the URL listed: the canonical one when the page declared it
    fetched_url: str
    file: Path
    path: str  # relative to the crawl folder
    title: str
    description: str
    site_name: str | None
    section: str = ""
    optional: bool = False
    nav: list[str] | None = None  # the groups above it in the site's navigation, when the crawl found it there
    meta_description: str = ""


@dataclass
class Section:
    name: str
    pages: list[PageRef] = field(default_factory=list)


@dataclass
class SiteIndex:
    """What llms.txt says: built from the folder's manifest, discovery list and page heads."""

    site_name: str
    summary: str
    start_url: str
    sections: list[Section]

    @property
    def pages(self) -> Iterator[PageRef]:
        for section in self.sections:
            yield from section.pages

    @property
    def page_count(self) -> int:
        return sum(len(section.pages) for section in self.sections)


# ---- text helpers ---------------------------------------------------------------------------


def estimate_tokens(text: str) -> int:
    """Estimated tokens of `text`: see TOKEN_ESTIMATE and the module docstring."""
    ascii_chars = len(text.encode("ascii", "ignore"))
    return math.ceil(ascii_chars / 4 + (len(text) - ascii_chars) / 2)


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _shorten(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "…"


_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`+|~~)")
_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z0-9\"'(\[]|\s*$)")


def _plain(markdown: str) -> str:
    text = _IMAGE.sub("", markdown)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _EMPHASIS.sub("", text)
    return _one_line(text)


def _without_menu_lines(block: str) -> str:
    """A paragraph without the run of short unpunctuated lines at its top: a menu or sidebar the
    page's extraction kept (`Getting started` / `Install` / `Reference`), not prose."""
    lines = block.split("\n")
    start = 0
    while start < len(lines) - 1 and len(lines[start].split()) <= 4 and not re.search(r"[.!?:;,]$", lines[start]):
        start += 1
    return "\n".join(lines[start:]) if start >= 2 else block


MIN_SENTENCE_CHARS = 25  # shorter than this is a fragment ("Install the package first:"), not a description
# Blocks that open a page without saying what it is about: a version-change note (Sphinx's
# `versionadded`, "New in version 2.1"), an admonition's label, a breadcrumb trail, a contents box.
_NOT_PROSE = re.compile(
    r"^\s*(added in version|changed in version|deprecated since version|new in version|removed in version|"
    r"(note|warning|tip|important|caution|attention|danger|error|hint|see also|todo|info|example)\s*:?\s*$|"
    r"(table of )?contents\b|on this page\b|"
    r"[^.!?]*\s(›|»|>|/|\|)\s[^.!?]*$)", re.IGNORECASE)


def first_sentence(markdown: str) -> str:
    """The first sentence of the first paragraph of prose (headings, code, tables, images and
    rules skipped), inline Markdown removed; '' when there is none."""
    in_code = False
    block: list[str] = []
    blocks: list[str] = []
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            in_code = not in_code
            if block:
                blocks.append("\n".join(block))
                block = []
            continue
        if in_code:
            continue
        if not stripped:
            if block:
                blocks.append("\n".join(block))
                block = []
            continue
        if stripped.startswith(("#", "|", "![", "<")) or re.fullmatch(r"[-*_=\s]{3,}", stripped):
            if block:
                blocks.append("\n".join(block))
                block = []
            continue
        block.append(stripped.lstrip(">").strip())
    if block:
        blocks.append("\n".join(block))
    for candidate in blocks:
        text = _plain(re.sub(r"^([-*+]|\d+[.)])\s+", "", _without_menu_lines(candidate)))
        if len(text.split()) < 3 or len(text) < MIN_SENTENCE_CHARS or _NOT_PROSE.match(text):
            continue
        for match in _SENTENCE_END.finditer(text):
            if match.end() >= 20:
                return _shorten(text[: match.end()])
        return _shorten(text)
    return ""


def _read_head(file: Path) -> str:
    with open(file, encoding="utf-8", errors="replace") as handle:
        return handle.read(_HEAD_BYTES)


# ---- names, sections, optional pages ----------------------------------------------------------


def _humanize(segment: str) -> str:
    name = unquote(segment)
    for suffix in (".html", ".htm", ".php", ".md"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    name = _one_line(re.sub(r"[-_]+", " ", name))
    if not name:
        return ""
    if len(name) <= 3 and name.isalpha():
        return name.upper()
    return name[0].upper() + name[1:]


def _segments(url: str, root_dir: str) -> list[str]:
    path = urlsplit(url).path or "/"
    relative = path[len(root_dir):] if path.startswith(root_dir) else path
    return [segment for segment in relative.split("/") if segment]


def section_key(url: str, root_host: str, root_dir: str) -> str:
    """The page's section: the first path segment below the root directory when the page is
    inside a folder there ('' for pages right in the root directory); another host is its own."""
    parts = urlsplit(url)
    segments = _segments(url, root_dir)
    in_folder = len(segments) >= 2 or (len(segments) == 1 and parts.path.endswith("/"))
    key = segments[0] if in_folder else ""
    host = (parts.hostname or "").lower()
    return f"{host}/{key}" if host != root_host else key


def _stem(segment: str) -> str:
    name = unquote(segment).lower()
    for suffix in (".html", ".htm", ".php", ".md", ".shtml", ".aspx"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return re.sub(r"[\s_]+", "-", name)


def is_optional(url: str, title: str, root_dir: str) -> bool:
    """Changelogs, release notes, version histories, archives, news and blogs: rarely needed
    pages, by a path segment (`/blog/`, `changelog.html`, `Release-notes-for-1.1.0.html`) or title."""
    for segment in _segments(url, root_dir):
        stem = _stem(segment)
        if stem in _OPTIONAL_SEGMENTS or stem.startswith(tuple(prefix + "-" for prefix in _OPTIONAL_PREFIXES)):
            return True
    return bool(_OPTIONAL_TITLE.match(title))


def _optional_label(label: str) -> bool:
    """A navigation group of rarely needed pages ("Release notes", "Changelog", "Blog", "News")."""
    return _stem(label) in _OPTIONAL_SEGMENTS or bool(_OPTIONAL_TITLE.match(label))


MIN_DESCRIPTION_WORDS = 3
MIN_DESCRIPTION_CHARS = 12


def _choose_descriptions(pages: list[PageRef], site_name: str) -> None:
    """Each page's description: its meta description when that says something of the page (not
    the site's name, not the page's title, not one shared by several pages, not a fragment),
    else the first sentence of its text (already there)."""
    shared = Counter(page.meta_description.lower() for page in pages if page.meta_description)
    for page in pages:
        meta = page.meta_description
        if not meta:
            continue
        lowered = meta.lower().strip(" .")
        boilerplate = (lowered in (site_name.lower(), page.title.lower()) or shared[meta.lower()] >= 3
                       or len(meta) < MIN_DESCRIPTION_CHARS or len(meta.split()) < MIN_DESCRIPTION_WORDS)
        if not boilerplate or not page.description:
            page.description = _shorten(meta)


def _title_suffix(title: str) -> str | None:
    for separator in _TITLE_SEPARATORS:
        if separator in title:
            suffix = title.rsplit(separator, 1)[1].strip()
            if suffix:
                return suffix
    return None


def _without_site_name(title: str, site_name: str) -> str:
    for separator in _TITLE_SEPARATORS:
        ending = separator + site_name
        if title.endswith(ending) and title[: -len(ending)].strip():
            return title[: -len(ending)].strip()
    return title


def _shared_title_suffix(pages: list[PageRef]) -> str | None:
    """The suffix at least half the titles end with (`Intro | Acme Docs` → `Acme Docs`)."""
    suffixes = Counter(suffix for page in pages if (suffix := _title_suffix(page.title)))
    if suffixes:
        suffix, count = suffixes.most_common(1)[0]
        if count * 2 >= len(pages):
            return suffix
    return None


def _site_name(start: PageRef | None, pages: list[PageRef], host: str, shared_suffix: str | None) -> str:
    if start is not None and start.site_name:
        return start.site_name
    declared = Counter(page.site_name for page in pages if page.site_name)
    if declared:
        return declared.most_common(1)[0][0]
    if shared_suffix:
        return shared_suffix
    if start is not None and start.title and start.title != start.url:
        return start.title
    return host or "Documentation"


# ---- reading the folder -----------------------------------------------------------------------


def _discovery_order(crawl_dir: Path) -> dict[str, int]:
    order: dict[str, int] = {}
    for entry in iter_manifest(crawl_dir, "discovered.jsonl"):
        url = entry.get("url")
        if isinstance(url, str) and url not in order:
            order[url] = len(order)
    return order


def _start_url(crawl_dir: Path) -> str | None:
    try:
        config = read_json(crawl_dir / "config.json")
    except (OSError, ValueError):
        return None
    url = config.get("url") if isinstance(config, dict) else None
    if not url and isinstance(config, dict) and config.get("urls"):
        url = config["urls"][0]
    return url if isinstance(url, str) and url else None


def build_index(crawl_dir: Path) -> SiteIndex:
    """Read the folder (metadata and the first KB of each page) into what llms.txt lists."""
    crawl_dir = Path(crawl_dir)
    order = _discovery_order(crawl_dir)
    configured_start = _start_url(crawl_dir)
    # Each manifest entry becomes its PageRef at once (the entries are not kept: a 100,000-page
    # crawl's would be ~100 MB), then the pages are put in discovery order.
    found: list[tuple[int, int, bool, PageRef]] = []
    for number, (entry, file) in enumerate(saved_page_files(crawl_dir)):
        head = page_body(_read_head(file))
        listed = entry.get("canonical") or entry["url"]
        title = _one_line(entry.get("title")) or _humanize((_segments(listed, "/") or [""])[-1]) or listed
        meta = _one_line(entry.get("description"))
        nav = entry.get("nav")
        nav = [_one_line(label) for label in nav if isinstance(label, str) and _one_line(label)] \
            if isinstance(nav, list) else None
        page = PageRef(url=listed, fetched_url=entry["url"], file=file, path=entry["path"], title=title,
                       description=_shorten(first_sentence(head)), site_name=_one_line(entry.get("site_name")) or None,
                       nav=nav, meta_description=meta)
        # Where the page was first found: under the URL fetched, or under its canonical URL when
        # that was found earlier (a print copy fetched before the page it names).
        position = min(order.get(entry["url"], len(order)), order.get(entry.get("canonical") or "", len(order)))
        is_start = entry.get("source") == "start" or entry["url"] == configured_start
        found.append((position, number, is_start, page))
    found.sort(key=lambda item: (item[0], item[1]))
    pages: list[PageRef] = [page for _, _, _, page in found]
    start: PageRef | None = next((page for _, _, is_start, page in found if is_start), pages[0] if pages else None)
    del found

    root_url = configured_start or (start.url if start else "")
    root = urlsplit(root_url)
    root_host = (root.hostname or "").lower()
    root_dir = (root.path or "/")[: (root.path or "/").rfind("/") + 1] or "/"
    shared_suffix = _shared_title_suffix(pages)
    site_name = _one_line(_site_name(start, pages, root_host, shared_suffix)).lstrip("#").strip() or "Documentation"
    _choose_descriptions(pages, site_name)
    summary = ""
    if start is not None:
        summary = start.description
    summary = summary or f"Documentation pages from {root_host or 'the crawled site'}."

    sections: dict[str, Section] = {}
    optional = Section(OPTIONAL_SECTION)
    # The site's own navigation names the sections when it places at least half the pages and
    # groups some of them; otherwise (or for a page it does not place) the URL's path does.
    placed = [page for page in pages if page.nav is not None]
    use_nav = len(placed) * 2 >= len(pages) and any(page.nav for page in placed)
    nav_names: dict[str, str] = {}
    for page in pages:
        page.title = _without_site_name(page.title, site_name)
        if shared_suffix:
            page.title = _without_site_name(page.title, shared_suffix)
        page.optional = page is not start and (is_optional(page.url, page.title, root_dir)
                                               or any(_optional_label(label) for label in page.nav or ()))
        if page.optional:
            page.section = OPTIONAL_SECTION
            optional.pages.append(page)
            continue
        if use_nav and page.nav:
            key = "\x00nav:" + page.nav[0].lower()
            nav_names.setdefault(key, page.nav[0])
        else:
            key = section_key(page.url, root_host, root_dir)
        sections.setdefault(key, Section(key)).pages.append(page)

    used: set[str] = {OPTIONAL_SECTION.lower()}
    for key, section in sections.items():
        name = nav_names.get(key) or _section_name(key, section, root_dir)
        base, number = name, 2
        while name.lower() in used:
            name, number = f"{base} ({number})", number + 1
        used.add(name.lower())
        section.name = name
        for page in section.pages:
            page.section = name
    ordered = list(sections.values()) + ([optional] if optional.pages else [])
    return SiteIndex(site_name=site_name, summary=summary, start_url=root_url, sections=ordered)


def _section_name(key: str, section: Section, root_dir: str) -> str:
    host, _, segment = key.rpartition("/") if "/" in key else ("", "", key)
    if not segment:
        name = _humanize(root_dir.rstrip("/").rsplit("/", 1)[-1]) or "Overview"
        return f"{host} {name}".strip() if host else name
    for page in section.pages:  # the section's own index page names it, when it was saved
        segments = _segments(page.url, root_dir)
        if segments == [segment] and urlsplit(page.url).path.endswith("/") and page.title:
            return _one_line(page.title)
    name = _humanize(segment) or segment
    return f"{host} {name}".strip() if host else name


# ---- writing ------------------------------------------------------------------------------------


def _link_title(title: str) -> str:
    return _one_line(title).replace("[", "(").replace("]", ")") or "Untitled"


def _link_url(url: str) -> str:
    return "".join({" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E"}.get(c, c) for c in url)


def markdown_name(page: PageRef) -> str:
    """The page's file below `pages/` (`docs/guide/index.md`): its name in the server's Markdown URLs."""
    return page.path.split("/", 1)[1] if page.path.startswith("pages/") else page.path


def render_llms_txt(index: SiteIndex, link: Callable[[PageRef], str] | None = None) -> str:
    """llms.txt; `link` gives the URL each item points at (default: the page's own URL), as the
    server's copy whose items point at each page's Markdown."""
    lines = [f"# {index.site_name}", "", f"> {_one_line(index.summary)}", ""]
    count = index.page_count
    where = ("; each link is the page's Markdown, whose Source line gives its address on the site" if link
             else f"; the full text of every page is in {LLMS_FULL_TXT}")
    lines += [f"{count} page{'s' if count != 1 else ''} from <{index.start_url}>, grouped by the site's own "
              f"sections{where}.", ""]
    for section in index.sections:
        lines += [f"## {_one_line(section.name)}", ""]
        for page in section.pages:
            item = f"- [{_link_title(page.title)}]({_link_url(link(page) if link else page.url)})"
            lines.append(f"{item}: {page.description}" if page.description else item)
        lines.append("")
    return "\n".join(lines)


def _full_section(page: PageRef) -> str:
    try:
        body = page_body(page.file.read_text(encoding="utf-8", errors="replace"))
    except OSError:  # removed since the index was built (the crawl was deleted meanwhile)
        body = ""
    return f"# {_one_line(page.title)}\n\nSource: <{page.url}>\n\n{body}\n\n"


def iter_llms_full(index: SiteIndex) -> Iterator[tuple[PageRef, str]]:
    """(page, its part of llms-full.txt) in llms.txt's order, one page read at a time."""
    for page in index.pages:
        yield page, _full_section(page)


def iter_llms_full_text(crawl_dir: Path) -> Iterator[str]:
    """llms-full.txt as a stream, for a download that has no file to send."""
    for _, text in iter_llms_full(build_index(crawl_dir)):
        yield text


def _page_report(page: PageRef, text: str) -> dict[str, Any]:
    return {"url": page.url, "title": page.title, "path": page.path, "section": page.section,
            "optional": page.optional, "bytes": len(text.encode("utf-8")), "tokens": estimate_tokens(text)}


def _report(index: SiteIndex, llms_txt: str, pages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "generated_at": iso_timestamp(),
        "site_name": index.site_name,
        "token_estimate": TOKEN_ESTIMATE,
        "llms_txt": {"bytes": len(llms_txt.encode("utf-8")), "tokens": estimate_tokens(llms_txt),
                     "links": index.page_count, "sections": len(index.sections)},
        "llms_full_txt": {"bytes": sum(p["bytes"] for p in pages), "tokens": sum(p["tokens"] for p in pages),
                          "pages": len(pages),
                          "optional_tokens": sum(p["tokens"] for p in pages if p["optional"])},
        "pages": pages,
    }


def size_report(crawl_dir: Path) -> dict[str, Any]:
    """Bytes and estimated tokens of llms.txt, of llms-full.txt and of each page's part of it,
    computed from the folder (one page in memory at a time) without writing anything."""
    index = build_index(Path(crawl_dir))
    pages = [_page_report(page, text) for page, text in iter_llms_full(index)]
    return _report(index, render_llms_txt(index), pages)


def write_llms_files(crawl_dir: Path) -> dict[str, Any]:
    """Write llms.txt, llms-full.txt (streamed page by page) and llms-report.json into the crawl
    folder, each replaced atomically; returns the size report."""
    crawl_dir = Path(crawl_dir)
    index = build_index(crawl_dir)
    llms_txt = render_llms_txt(index)
    pages: list[dict[str, Any]] = []

    def full_text() -> Iterator[str]:
        for page, text in iter_llms_full(index):
            pages.append(_page_report(page, text))
            yield text

    write_atomically(crawl_dir / LLMS_FULL_TXT, full_text())
    write_atomically(crawl_dir / LLMS_TXT, [llms_txt])
    report = _report(index, llms_txt, pages)
    write_json(crawl_dir / LLMS_REPORT, report)
    return report


def current_file(crawl_dir: Path, name: str) -> Path | None:
    """The generated file `name` if it exists and is not older than the manifest (a crawl that
    went on, or was resumed, after it was written makes it stale); else None."""
    target = Path(crawl_dir) / name
    manifest = Path(crawl_dir) / "manifest.jsonl"
    try:
        written = target.stat().st_mtime_ns
    except OSError:
        return None
    try:
        changed = manifest.stat().st_mtime_ns
    except OSError:
        changed = 0
    return target if written >= changed else None


PUBLISHED_SCAN_BYTES = 64 * 1024 * 1024  # how much of links.jsonl is looked through


@dataclass
class Published:
    """What the site offers models itself, as its pages link to it (no request is made for it)."""

    llms_txt: list[str] = field(default_factory=list)  # its /llms.txt and /llms-full.txt
    markdown_pages: int = 0  # links to .md versions of pages
    markdown_examples: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # of its files, those the crawl fetched and kept (site/)

    def note(self) -> str:
        parts = []
        if self.llms_txt:
            kept = f" (the crawl kept {' and '.join(self.kept)} as published)" if self.kept else ""
            parts.append("its own " + ", ".join(f"<{url}>" for url in self.llms_txt) + kept)
        if self.markdown_pages:
            parts.append(f"Markdown versions of {self.markdown_pages} pages (such as "
                         + ", ".join(f"<{url}>" for url in self.markdown_examples) + ")")
        return f"The site publishes {' and '.join(parts)}." if parts else ""


def published_by_site(crawl_dir: Path) -> Published:
    """The site's own llms.txt, llms-full.txt and .md page versions: those the crawl fetched and
    kept (`site/`), and those its crawled pages link to (on the start URL's host), read from
    links.jsonl (nothing is fetched here)."""
    crawl_dir = Path(crawl_dir)
    found = Published()
    for name, kept in site_files(crawl_dir).items():
        found.kept.append(name)
        if kept["url"] and kept["url"] not in found.llms_txt:
            found.llms_txt.append(kept["url"])
    start = _start_url(crawl_dir)
    if start is None:  # a folder without config.json: its start page's line says
        start = next((entry.get("url") for entry in iter_manifest(crawl_dir) if entry.get("source") == "start"), None)
    host = urlsplit(start if isinstance(start, str) else "").netloc.lower()
    path = crawl_dir / "links.jsonl"
    if not host or not path.is_file():
        return found
    seen: set[str] = set()
    read = 0
    try:
        with open(path, "rb") as handle:
            for line in handle:
                read += len(line)
                if read > PUBLISHED_SCAN_BYTES:
                    break
                if b"llms" not in line and b".md" not in line:
                    continue
                try:
                    links = json.loads(line).get("links")
                except (ValueError, AttributeError):
                    continue
                for link in links if isinstance(links, list) else ():
                    if not isinstance(link, str) or link in seen or link in found.llms_txt:
                        continue
                    parts = urlsplit(link)
                    if parts.netloc.lower() != host:
                        continue
                    name = parts.path.rsplit("/", 1)[-1].lower()
                    if name in (LLMS_TXT, LLMS_FULL_TXT):
                        seen.add(link)
                        found.llms_txt.append(link)
                    elif name.endswith(".md") and name not in ("llms.md",):
                        seen.add(link)
                        found.markdown_pages += 1
                        if len(found.markdown_examples) < 3:
                            found.markdown_examples.append(link)
    except OSError:
        return found
    found.llms_txt.sort(key=lambda url: (not url.endswith(LLMS_TXT), url))
    return found
