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

Memory does not grow with the crawl: the index (order, sections, shared title suffix and
descriptions) is computed in a temporary SQLite store with queries, llms.txt is written section
by section, and llms-report.json's list of pages is encoded as it is read back from a spool file.

Token counts are estimates, no tokenizer involved: ``ceil(ASCII characters / 4 + other
characters / 2)``. Four characters a token is the usual rate for English prose, Markdown and
code; letters outside ASCII (accents, Cyrillic, CJK...) take more tokens per character, so each
counts half a token. Expect ±25% against a real tokenizer for English documentation.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from crawler.engine.events import iso_timestamp
from crawler.folder.reader import iter_manifest, page_body, read_json, saved_page_file, site_files
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


@dataclass
class Section:
    """A section of llms.txt; its pages are read from the index's store as they are iterated."""

    name: str
    pages: Iterable[PageRef]


class SiteIndex:
    """What llms.txt says: built from the folder's manifest, discovery list and page heads into a
    temporary SQLite store (a private file SQLite deletes when it is closed, even after a crash),
    so a 100,000-page crawl's pages are never all in memory. Sections and pages are read from it
    as they are iterated. Close it (or use it in a `with`) when done."""

    def __init__(self, db: sqlite3.Connection, *, site_name: str, summary: str, start_url: str,
                 page_count: int, section_count: int) -> None:
        self._db = db
        self.site_name = site_name
        self.summary = summary
        self.start_url = start_url
        self.page_count = page_count
        self.section_count = section_count

    def __enter__(self) -> SiteIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the store (idempotent)."""
        self._db.close()

    @property
    def pages(self) -> Iterator[PageRef]:
        """Every listed page in llms.txt's order (by section, then discovery), one row at a time."""
        query = ("SELECT l.url, l.fetched_url, l.file, l.path, l.title, l.description, l.site_name, s.name, l.optional"
                 " FROM section_names s JOIN listed l ON l.section_key = s.key ORDER BY s.ordinal, l.rank")
        rows = self._db.cursor()
        rows.row_factory = None  # plain tuples: this runs once a page, twice a write
        for url, fetched_url, file, path, title, description, site_name, section, optional in rows.execute(query):
            yield PageRef(url=url, fetched_url=fetched_url, file=Path(file), path=path, title=title,
                          description=description, site_name=site_name, section=section, optional=bool(optional))

    @property
    def sections(self) -> Iterator[Section]:
        """The sections in order, each with its pages (read lazily: iterate each section's pages
        before taking the next section)."""
        for name, pages in groupby(self.pages, key=lambda page: page.section):
            yield Section(name, pages)


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
SHARED_DESCRIPTION_PAGES = 3  # a meta description this many pages declare is the site's boilerplate


def _chosen_description(meta: str, title: str, first: str, shared: bool, site_name: str) -> str:
    """The page's description: its meta description when that says something of the page (not
    the site's name, not the page's title, not one shared by several pages, not a fragment),
    else the first sentence of its text (`first`)."""
    if not meta:
        return first
    lowered = meta.lower().strip(" .")
    boilerplate = (lowered in (site_name.lower(), title.lower()) or shared
                   or len(meta) < MIN_DESCRIPTION_CHARS or len(meta.split()) < MIN_DESCRIPTION_WORDS)
    return _shorten(meta) if not boilerplate or not first else first


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


def _most_common(db: sqlite3.Connection, column: str) -> tuple[str, int] | None:
    """The value of `column` most pages have, with its count; a tie goes to the value met first
    in discovery order (as Counter.most_common over the pages in that order)."""
    row = db.execute(f"SELECT {column}, COUNT(*) AS n FROM pages WHERE {column} IS NOT NULL"
                     f" GROUP BY {column} ORDER BY n DESC, MIN(rank) LIMIT 1").fetchone()
    return (row[0], row[1]) if row else None


def _shared_title_suffix(db: sqlite3.Connection, page_count: int) -> str | None:
    """The suffix at least half the titles end with (`Intro | Acme Docs` → `Acme Docs`)."""
    found = _most_common(db, "title_suffix")
    return found[0] if found and found[1] * 2 >= page_count else None


def _site_name(start: sqlite3.Row | None, db: sqlite3.Connection, host: str, shared_suffix: str | None) -> str:
    if start is not None and start["site_name"]:
        return str(start["site_name"])
    declared = _most_common(db, "site_name")
    if declared:
        return declared[0]
    if shared_suffix:
        return shared_suffix
    if start is not None and start["title"] and start["title"] != start["url"]:
        return str(start["title"])
    return host or "Documentation"


# ---- reading the folder into the store ----------------------------------------------------------

# The store's page cache: what it may hold in memory before it spills to its file (which the system
# keeps in its own cache). A store of 1,000 pages fills ~1 MB of it, one of 20,000 all of it: the
# smaller the cache, the less this step grows with the site. 1 MB against 4 MB, 20,000 pages
# (bench/llms_memory.py, 3 runs each): 3.3-4.2 s both, peak RSS 41.6 against 41.7-44.2 MB.
STORE_CACHE_KIB = 1024
_OPTIONAL_KEY = "\x00optional"  # the Optional section's key (no URL's section key holds a NUL)
_NAV_KEY = "\x00nav:"
# Between a page's navigation labels in the store: _one_line leaves none in a label (str.split() reads it as a space).
_NAV_SEPARATOR = "\x1f"
_RANK_SCALE = 1 << 32  # rank = discovery position * scale + manifest number: llms.txt's page order
_SCHEMA = """
CREATE TABLE discovered (url TEXT UNIQUE NOT NULL);
CREATE TABLE pages (number INTEGER PRIMARY KEY, rank INTEGER, is_start INTEGER NOT NULL, url TEXT NOT NULL,
    fetched_url TEXT NOT NULL, canonical TEXT NOT NULL, file TEXT UNIQUE NOT NULL, path TEXT NOT NULL,
    title TEXT NOT NULL, title_suffix TEXT, first TEXT NOT NULL, site_name TEXT, nav TEXT, nav_first TEXT,
    meta TEXT NOT NULL, meta_lower TEXT);
CREATE TABLE shared_meta (meta_lower TEXT PRIMARY KEY);
CREATE TABLE listed (rank INTEGER NOT NULL, section_key TEXT NOT NULL, nav_name TEXT, index_title TEXT,
    url TEXT NOT NULL, fetched_url TEXT NOT NULL, file TEXT NOT NULL, path TEXT NOT NULL, title TEXT NOT NULL,
    description TEXT NOT NULL, site_name TEXT, optional INTEGER NOT NULL);
CREATE TABLE sections (key TEXT PRIMARY KEY, first_rank INTEGER NOT NULL, nav_name TEXT);
CREATE TABLE section_names (ordinal INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, name TEXT NOT NULL);
CREATE TABLE used_names (name TEXT PRIMARY KEY);
"""


@dataclass(frozen=True)
class _Frame:
    """What every page's line in llms.txt depends on, known once all pages are in the store."""

    start_number: int | None
    site_name: str
    shared_suffix: str | None
    root_host: str
    root_dir: str
    use_nav: bool


def _start_url(crawl_dir: Path) -> str | None:
    try:
        config = read_json(crawl_dir / "config.json")
    except (OSError, ValueError):
        return None
    url = config.get("url") if isinstance(config, dict) else None
    if not url and isinstance(config, dict) and config.get("urls"):
        url = config["urls"][0]
    return url if isinstance(url, str) and url else None


def _open_store() -> sqlite3.Connection:
    """A private temporary SQLite database: SQLite keeps it in a file of the temporary directory
    it removes itself when the connection closes (or the process dies), with a bounded cache."""
    db = sqlite3.connect("", check_same_thread=False)  # used by one caller at a time, maybe from a stream's thread
    db.row_factory = sqlite3.Row
    for pragma in (f"cache_size = -{STORE_CACHE_KIB}", "journal_mode = OFF", "synchronous = OFF", "temp_store = FILE"):
        db.execute(f"PRAGMA {pragma}")
    db.executescript(_SCHEMA)
    return db


def _load_discovered(db: sqlite3.Connection, crawl_dir: Path) -> int:
    """The discovery list into the store, each URL once: its position is its rowid - 1.
    Returns how many URLs it holds (the position of a page without a line)."""
    urls = (((entry.get("url"),)) for entry in iter_manifest(crawl_dir, "discovered.jsonl")
            if isinstance(entry.get("url"), str))
    db.executemany("INSERT INTO discovered (url) VALUES (?) ON CONFLICT (url) DO NOTHING", urls)
    return int(db.execute("SELECT COUNT(*) FROM discovered").fetchone()[0])


def _saved_pages(crawl_dir: Path) -> Iterator[tuple[int, dict[str, Any], Path]]:
    """(manifest line number, entry, file) of every saved page, repeats included: the store keeps
    each file's first (`file` is unique there), so no set of 100,000 paths is held here."""
    for number, entry in enumerate(iter_manifest(crawl_dir)):
        file = saved_page_file(crawl_dir, entry)
        if file is not None:
            yield number, entry, file


def _page_rows(crawl_dir: Path, configured_start: str | None) -> Iterator[tuple[Any, ...]]:
    """Each saved page's row: its manifest metadata and the first sentence of its head."""
    for number, entry, file in _saved_pages(crawl_dir):
        head = page_body(_read_head(file))
        listed = entry.get("canonical") or entry["url"]
        title = _one_line(entry.get("title")) or _humanize((_segments(listed, "/") or [""])[-1]) or listed
        meta = _one_line(entry.get("description"))
        nav = entry.get("nav")
        nav = [_one_line(label) for label in nav if isinstance(label, str) and _one_line(label)] \
            if isinstance(nav, list) else None
        is_start = entry.get("source") == "start" or entry["url"] == configured_start
        yield (number, int(is_start), listed, entry["url"], entry.get("canonical") or "", str(file), entry["path"],
               title, _title_suffix(title), _shorten(first_sentence(head)), _one_line(entry.get("site_name")) or None,
               None if nav is None else _NAV_SEPARATOR.join(nav), nav[0] if nav else None, meta, meta.lower() if meta else None)


def _load_pages(db: sqlite3.Connection, crawl_dir: Path, configured_start: str | None, discovered: int) -> int:
    """The saved pages into the store, ranked: where each was first found (under the URL fetched,
    or under its canonical URL when that was found earlier: a print copy fetched before the page
    it names; pages without a line after all others), then manifest order. Returns their count."""
    db.executemany(f"INSERT INTO pages VALUES (?, NULL, {', '.join('?' * 14)}) ON CONFLICT (file) DO NOTHING",
                   _page_rows(crawl_dir, configured_start))
    db.execute("UPDATE pages SET rank = MIN("
               " COALESCE((SELECT rowid - 1 FROM discovered WHERE url = pages.fetched_url), :n),"
               " COALESCE((SELECT rowid - 1 FROM discovered WHERE url = pages.canonical), :n)) * :scale + number",
               {"n": discovered, "scale": _RANK_SCALE})
    db.execute("CREATE INDEX pages_rank ON pages (rank)")
    return int(db.execute("SELECT COUNT(*) FROM pages").fetchone()[0])


def _uses_nav(db: sqlite3.Connection, page_count: int) -> bool:
    """The site's own navigation names the sections when it places at least half the pages and
    groups some of them."""
    placed = db.execute("SELECT COUNT(*) FROM pages WHERE nav IS NOT NULL").fetchone()[0]
    grouped = db.execute("SELECT 1 FROM pages WHERE nav_first IS NOT NULL LIMIT 1").fetchone()
    return placed * 2 >= page_count and grouped is not None


def _mark_shared_descriptions(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO shared_meta SELECT meta_lower FROM pages WHERE meta_lower IS NOT NULL"
               " GROUP BY meta_lower HAVING COUNT(*) >= ?", (SHARED_DESCRIPTION_PAGES,))


def _is_shared(db: sqlite3.Connection, meta_lower: str | None) -> bool:
    return db.execute("SELECT 1 FROM shared_meta WHERE meta_lower = ?", (meta_lower,)).fetchone() is not None


def _section_index_title(key: str, url: str, title: str, root_dir: str) -> str | None:
    """The page's title when it is its folder section's own index page (`/docs/guide/` of `guide`)."""
    segment = key.rpartition("/")[2]
    if segment and title and _segments(url, root_dir) == [segment] and urlsplit(url).path.endswith("/"):
        return _one_line(title)
    return None


def _listed_row(row: sqlite3.Row, frame: _Frame, shared: bool) -> tuple[Any, ...]:
    """The page as llms.txt lists it: its description, its title without the site's name, its
    section (Optional, a navigation group or a folder)."""
    description = _chosen_description(row["meta"], row["title"], row["first"], shared, frame.site_name)
    title = _without_site_name(row["title"], frame.site_name)
    if frame.shared_suffix:
        title = _without_site_name(title, frame.shared_suffix)
    nav = None if row["nav"] is None else row["nav"].split(_NAV_SEPARATOR) if row["nav"] else []
    optional = row["number"] != frame.start_number and (is_optional(row["url"], title, frame.root_dir)
                                                        or any(_optional_label(label) for label in nav or ()))
    nav_name = index_title = None
    if optional:
        key = _OPTIONAL_KEY
    elif frame.use_nav and nav:
        key, nav_name = _NAV_KEY + nav[0].lower(), nav[0]
    else:
        key = section_key(row["url"], frame.root_host, frame.root_dir)
        index_title = _section_index_title(key, row["url"], title, frame.root_dir)
    return (row["rank"], key, nav_name, index_title, row["url"], row["fetched_url"], row["file"], row["path"], title,
            description, row["site_name"], int(optional))


def _list_pages(db: sqlite3.Connection, frame: _Frame) -> None:
    """Every page's line, in discovery order, into the store's `listed` table."""
    rows = db.execute("SELECT p.*, s.meta_lower IS NOT NULL AS shared FROM pages p"
                      " LEFT JOIN shared_meta s ON s.meta_lower = p.meta_lower ORDER BY p.rank")
    db.executemany(f"INSERT INTO listed VALUES ({', '.join('?' * 12)})",
                   (_listed_row(row, frame, bool(row["shared"])) for row in rows))
    db.execute("CREATE INDEX listed_order ON listed (section_key, rank)")


def _section_name(key: str, index_title: str | None, root_dir: str) -> str:
    host, _, segment = key.rpartition("/") if "/" in key else ("", "", key)
    if not segment:
        name = _humanize(root_dir.rstrip("/").rsplit("/", 1)[-1]) or "Overview"
        return f"{host} {name}".strip() if host else name
    if index_title:  # the section's own index page names it, when it was saved
        return index_title
    name = _humanize(segment) or segment
    return f"{host} {name}".strip() if host else name


def _unique_name(db: sqlite3.Connection, name: str) -> str:
    """`name`, or `name (2)`, `name (3)`... when a section before it (or Optional) has it."""
    base, number = name, 2
    while db.execute("SELECT 1 FROM used_names WHERE name = ?", (name.lower(),)).fetchone():
        name, number = f"{base} ({number})", number + 1
    db.execute("INSERT INTO used_names VALUES (?)", (name.lower(),))
    return name


def _name_sections(db: sqlite3.Connection, root_dir: str) -> int:
    """Each section's name and place (the order its first page was found; Optional last) into
    `section_names`. Returns how many sections there are."""
    db.execute("INSERT INTO sections SELECT section_key, MIN(rank), nav_name FROM listed WHERE section_key != ?"
               " GROUP BY section_key", (_OPTIONAL_KEY,))
    db.execute("INSERT INTO used_names VALUES (?)", (OPTIONAL_SECTION.lower(),))
    rows = db.execute("SELECT key, nav_name, (SELECT index_title FROM listed i WHERE i.section_key = s.key"
                      " AND i.index_title IS NOT NULL ORDER BY i.rank LIMIT 1) FROM sections s ORDER BY first_rank")
    count = 0
    for key, nav_name, index_title in rows:
        name = _unique_name(db, nav_name or _section_name(key, index_title, root_dir))
        db.execute("INSERT INTO section_names VALUES (?, ?, ?)", (count, key, name))
        count += 1
    if db.execute("SELECT 1 FROM listed WHERE section_key = ? LIMIT 1", (_OPTIONAL_KEY,)).fetchone():
        db.execute("INSERT INTO section_names VALUES (?, ?, ?)", (count, _OPTIONAL_KEY, OPTIONAL_SECTION))
        count += 1
    return count


def _root_dir(root_path: str) -> str:
    path = root_path or "/"
    return path[: path.rfind("/") + 1] or "/"


def _fill(db: sqlite3.Connection, crawl_dir: Path) -> SiteIndex:
    """Everything llms.txt says, computed in the store with queries, one page in memory at a time."""
    configured_start = _start_url(crawl_dir)
    page_count = _load_pages(db, crawl_dir, configured_start, _load_discovered(db, crawl_dir))
    start = db.execute("SELECT * FROM pages ORDER BY is_start DESC, rank LIMIT 1").fetchone()
    root_url = configured_start or (start["url"] if start else "")
    root = urlsplit(root_url)
    root_host = (root.hostname or "").lower()
    shared_suffix = _shared_title_suffix(db, page_count)
    site_name = _one_line(_site_name(start, db, root_host, shared_suffix)).lstrip("#").strip() or "Documentation"
    _mark_shared_descriptions(db)
    summary = "" if start is None else _chosen_description(
        start["meta"], start["title"], start["first"], _is_shared(db, start["meta_lower"]), site_name)
    summary = summary or f"Documentation pages from {root_host or 'the crawled site'}."
    frame = _Frame(start_number=start["number"] if start else None, site_name=site_name, shared_suffix=shared_suffix,
                   root_host=root_host, root_dir=_root_dir(root.path), use_nav=_uses_nav(db, page_count))
    _list_pages(db, frame)
    section_count = _name_sections(db, frame.root_dir)
    db.commit()
    return SiteIndex(db, site_name=site_name, summary=summary, start_url=root_url, page_count=page_count,
                     section_count=section_count)


def build_index(crawl_dir: Path) -> SiteIndex:
    """Read the folder (metadata and the first KB of each page) into what llms.txt lists, kept in
    a temporary store: close the index (or use it in a `with`) when done."""
    db = _open_store()
    try:
        return _fill(db, Path(crawl_dir))
    except BaseException:
        db.close()
        raise


# ---- writing ------------------------------------------------------------------------------------


def _link_title(title: str) -> str:
    return _one_line(title).replace("[", "(").replace("]", ")") or "Untitled"


def _link_url(url: str) -> str:
    return "".join({" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E"}.get(c, c) for c in url)


def markdown_name(page: PageRef) -> str:
    """The page's file below `pages/` (`docs/guide/index.md`): its name in the server's Markdown URLs."""
    return page.path.split("/", 1)[1] if page.path.startswith("pages/") else page.path


def _llms_txt_lines(index: SiteIndex, link: Callable[[PageRef], str] | None) -> Iterator[str]:
    yield from (f"# {index.site_name}", "", f"> {_one_line(index.summary)}", "")
    count = index.page_count
    where = ("; each link is the page's Markdown, whose Source line gives its address on the site" if link
             else f"; the full text of every page is in {LLMS_FULL_TXT}")
    yield f"{count} page{'s' if count != 1 else ''} from <{index.start_url}>, grouped by the site's own sections{where}."
    yield ""
    for section in index.sections:
        yield from (f"## {_one_line(section.name)}", "")
        for page in section.pages:
            item = f"- [{_link_title(page.title)}]({_link_url(link(page) if link else page.url)})"
            yield f"{item}: {page.description}" if page.description else item
        yield ""


def _joined(lines: Iterable[str], batch: int = 1024) -> Iterator[str]:
    """`"\\n".join(lines)` in chunks of `batch` lines, so a long file is never one string."""
    pending: list[str] = []
    separator = ""
    for line in lines:
        pending.append(line)
        if len(pending) >= batch:
            yield separator + "\n".join(pending)
            pending.clear()
            separator = "\n"
    if pending or not separator:
        yield separator + "\n".join(pending)


def iter_llms_txt(index: SiteIndex, link: Callable[[PageRef], str] | None = None) -> Iterator[str]:
    """llms.txt in chunks, section by section; `link` gives the URL each item points at (default:
    the page's own URL), as the server's copy whose items point at each page's Markdown."""
    return _joined(_llms_txt_lines(index, link))


def render_llms_txt(index: SiteIndex, link: Callable[[PageRef], str] | None = None) -> str:
    """llms.txt as one string (see iter_llms_txt)."""
    return "".join(iter_llms_txt(index, link))


def iter_llms_txt_text(crawl_dir: Path, link: Callable[[PageRef], str] | None = None) -> Iterator[str]:
    """llms.txt of the folder as a stream; the index's store is removed when it ends or is closed."""
    with build_index(crawl_dir) as index:
        yield from iter_llms_txt(index, link)


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
    with build_index(crawl_dir) as index:
        for _, text in iter_llms_full(index):
            yield text


@dataclass
class _TextSize:
    """Bytes and estimated tokens of a text seen in pieces: estimate_tokens rounds up once over
    the whole text, so characters are counted, not each piece's tokens."""

    bytes: int = 0
    ascii_chars: int = 0
    chars: int = 0

    def add(self, text: str) -> str:
        self.bytes += len(text.encode("utf-8"))
        self.ascii_chars += len(text.encode("ascii", "ignore"))
        self.chars += len(text)
        return text

    @property
    def tokens(self) -> int:
        return math.ceil(self.ascii_chars / 4 + (self.chars - self.ascii_chars) / 2)


def _page_report(page: PageRef, text: str) -> dict[str, Any]:
    return {"url": page.url, "title": page.title, "path": page.path, "section": page.section,
            "optional": page.optional, "bytes": len(text.encode("utf-8")), "tokens": estimate_tokens(text)}


def _count_page(totals: dict[str, int], page: dict[str, Any]) -> None:
    totals["bytes"] += page["bytes"]
    totals["tokens"] += page["tokens"]
    totals["pages"] += 1
    totals["optional_tokens"] += page["tokens"] if page["optional"] else 0


def _full_totals(pages: Iterable[dict[str, Any]]) -> dict[str, int]:
    """llms-full.txt's totals over the pages' report lines."""
    totals = {"bytes": 0, "tokens": 0, "pages": 0, "optional_tokens": 0}
    for page in pages:
        _count_page(totals, page)
    return totals


def _report(index: SiteIndex, llms_txt: _TextSize, full: dict[str, int], pages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "generated_at": iso_timestamp(),
        "site_name": index.site_name,
        "token_estimate": TOKEN_ESTIMATE,
        "llms_txt": {"bytes": llms_txt.bytes, "tokens": llms_txt.tokens,
                     "links": index.page_count, "sections": index.section_count},
        "llms_full_txt": full,
        "pages": pages,
    }


def _measured(chunks: Iterable[str], size: _TextSize) -> Iterator[str]:
    for chunk in chunks:
        yield size.add(chunk)


def size_report(crawl_dir: Path) -> dict[str, Any]:
    """Bytes and estimated tokens of llms.txt, of llms-full.txt and of each page's part of it,
    computed from the folder (one page in memory at a time) without writing anything. Its list
    of pages is in memory: for a large crawl, read llms-report.json instead."""
    with build_index(Path(crawl_dir)) as index:
        pages = [_page_report(page, text) for page, text in iter_llms_full(index)]
        llms_txt = _TextSize()
        for chunk in iter_llms_txt(index):
            llms_txt.add(chunk)
        return _report(index, llms_txt, _full_totals(pages), pages)


class _StreamedList(list):
    """A JSON array whose items are read as the encoder reaches them. write_json's encoder (the
    pure-Python one json uses with an indent) iterates a list without copying it, so the
    report's 100,000 page lines are written one at a time, never all in memory."""

    def __init__(self, items: Callable[[], Iterator[Any]], length: int) -> None:
        super().__init__()
        self._items = items
        self._length = length

    def __iter__(self) -> Iterator[Any]:
        return self._items()

    def __len__(self) -> int:
        return self._length


def _spooled_lines(spool: IO[str]) -> Iterator[dict[str, Any]]:
    spool.seek(0)
    for line in spool:
        yield json.loads(line)


def _write_llms_full(crawl_dir: Path, index: SiteIndex, spool: IO[str]) -> dict[str, int]:
    """llms-full.txt, page by page; each page's report line goes to `spool` (a temporary file) as
    it is written, and into the totals. Returns the totals."""
    totals = _full_totals(())

    def texts() -> Iterator[str]:
        for page, text in iter_llms_full(index):
            line = _page_report(page, text)
            _count_page(totals, line)
            spool.write(json.dumps(line, ensure_ascii=False) + "\n")
            yield text

    write_atomically(crawl_dir / LLMS_FULL_TXT, texts())
    return totals


def write_llms_files(crawl_dir: Path) -> dict[str, Any]:
    """Write llms.txt, llms-full.txt (streamed page by page) and llms-report.json into the crawl
    folder, each replaced atomically; returns the size report without its `pages` list (that is
    in llms-report.json: a 100,000-page crawl's would not fit the memory a crawl may use)."""
    crawl_dir = Path(crawl_dir)
    with build_index(crawl_dir) as index, tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        full = _write_llms_full(crawl_dir, index, spool)
        llms_txt = _TextSize()
        write_atomically(crawl_dir / LLMS_TXT, _measured(iter_llms_txt(index), llms_txt))
        report = _report(index, llms_txt, full, _StreamedList(lambda: _spooled_lines(spool), full["pages"]))
        write_json(crawl_dir / LLMS_REPORT, report)
    del report["pages"]
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
