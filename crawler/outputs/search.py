"""Full-text search over the stored pages of every crawl: SQLite FTS5, BM25, highlighted snippets.

The index is a cache of the crawl folders, never a second source of truth: one SQLite file
(`<data-dir>/.search.sqlite` by default) built from each folder's `manifest.jsonl` and
`pages/*.md`. The engine knows nothing about it. A :class:`SearchIndexer` thread (one writer per
process) follows each crawl's manifest from the byte offset it indexed last, in batches of one
transaction each, so pages become searchable within a second of being stored, whichever process
stored them (this server's crawls, a cluster worker's, a resumed crawl's). A crawl whose folder is
gone is dropped from the index. A missing or damaged index file is recreated and refilled from the
folders.

Each page is indexed as plain text (crawler/outputs/sections.py: no link targets, no Markdown
syntax, so a highlight never lands in a URL) twice over: one row of a page-level index (contentless)
to match, count and rank pages, and one row per section (heading path, anchor, offsets in the
page's Markdown) to name each hit's best section and make its snippet. A page found by words spread
over several sections is still found; its hit names the section holding most of them.

Every indexed page carries its crawl id, and :meth:`SearchIndex.search` always takes the list of
crawl ids the caller may see: there is no way to search "everything". :func:`current_crawls` picks,
of those, the crawl that stands for each site (its newest completed one), so a site crawled and
refreshed twice is searched once.

Query language (what people type, turned into FTS5 syntax so punctuation never breaks it):
words (all must match), `"a phrase"`, `prefix*`, `OR` and `NOT` between terms. A query that cannot
be read raises :class:`QueryError` with a message meant for the person who typed it.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crawler.engine.events import PageStatus
from crawler.engine.greenio import yield_to_hub
from crawler.engine.heap import trim_heap
from crawler.engine.urls import canonical_url
from crawler.folder.paths import is_crawl_id
from crawler.folder.reader import read_page
from crawler.folder.writer import make_private_dirs, open_private
from crawler.outputs.llms import is_optional
from crawler.outputs.sections import Section, cut, plain_text, split_definitions, split_sections, use_site_anchors

log = logging.getLogger(__name__)

INDEX_FILE = ".search.sqlite"
SCHEMA_VERSION = "4"  # 4: defined terms weighted, generated index pages left out, release notes ranked lower
MAX_QUERY_CHARS = 500
MAX_QUERY_TERMS = 32
MAX_BODY_CHARS = 2_000_000  # more of one page than this is not indexed (the rest stays on disk)
BATCH_PAGES = 200  # pages indexed per transaction: keeps each write short for readers and other writers
POLL_SECONDS = 0.5
# snippet() markers that cannot occur in stored Markdown: replaced after escaping.
_OPEN, _CLOSE = "\x02", "\x03"
_WEIGHTS = (10.0, 8.0, 4.0, 1.0)  # bm25 weights of title, terms (headings, defined terms), url, body
OPTIONAL_RANK = 0.5  # a release-notes page's score is multiplied by this: below reference pages for equal matches
MAX_TERMS = 400  # headings and defined terms of one page kept in its `terms` column
_DEFINED_TERM = re.compile(r"^\s{0,3}`([^`\n]{1,200})`\s*$")  # a line that is one code span: a <dt> of an API entry
_SECTION_WEIGHTS = (5.0, 1.0)  # of heading path, text (the section-level index: which section of a page)
SECTION_TEXT_CHARS = 4000  # the most of a section's plain text one hit carries

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS crawls (
    crawl_id TEXT PRIMARY KEY,
    manifest_offset INTEGER NOT NULL DEFAULT 0,
    pages INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS pages (
    id INTEGER PRIMARY KEY,
    crawl_id TEXT NOT NULL,
    url TEXT NOT NULL,
    canonical TEXT,
    url_key TEXT,
    canonical_key TEXT,
    path TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    terms TEXT NOT NULL DEFAULT '',
    optional INTEGER NOT NULL DEFAULT 0,
    chars INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS pages_crawl ON pages (crawl_id);
CREATE INDEX IF NOT EXISTS pages_url ON pages (url);
CREATE INDEX IF NOT EXISTS pages_canonical ON pages (canonical);
CREATE INDEX IF NOT EXISTS pages_url_key ON pages (url_key);
CREATE INDEX IF NOT EXISTS pages_canonical_key ON pages (canonical_key);
CREATE TABLE IF NOT EXISTS sections (
    id INTEGER PRIMARY KEY,
    page_id INTEGER NOT NULL,
    crawl_id TEXT NOT NULL,
    heading TEXT NOT NULL DEFAULT '',
    anchor TEXT NOT NULL DEFAULT '',
    start INTEGER NOT NULL,
    end INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sections_page ON sections (page_id);
CREATE VIRTUAL TABLE IF NOT EXISTS docs USING fts5(
    title, terms, url, body, content = '', tokenize = 'porter unicode61 remove_diacritics 2', prefix = '2 3'
);
CREATE VIRTUAL TABLE IF NOT EXISTS section_docs USING fts5(
    heading, body, tokenize = 'porter unicode61 remove_diacritics 2', prefix = '2 3'
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '{SCHEMA_VERSION}');
"""


_GENERATED_INDEX = re.compile(r"(genindex(-[\w%]+)?|([a-z]+-)?modindex|search)(\.html?)?", re.IGNORECASE)


def is_generated_index(url: str) -> bool:
    """A page a generator writes to list or search the others (Sphinx's `genindex.html`,
    `genindex-A.html`, `py-modindex.html`, `search.html`; MkDocs' `search.html`): words from every
    page, no content of its own, so it is not indexed."""
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return bool(_GENERATED_INDEX.fullmatch(last))


def defined_terms(markdown: str, sections: list[Section]) -> str:
    """What the page defines, one per line: its headings and the lines that are one code span
    alone (how a `<dt>` of a config value, function or class entry reads in the saved Markdown:
    `` `html_css_files` ``, `` `load(path, *, strict=False)` ``), at most MAX_TERMS."""
    terms = [section.heading for section in sections if section.heading]
    if "`" in markdown:
        for line in markdown.splitlines():
            if len(terms) >= MAX_TERMS:
                break
            match = _DEFINED_TERM.match(line)
            if match:
                terms.append(match.group(1).strip())
    return "\n".join(terms[:MAX_TERMS])


class QueryError(ValueError):
    """The query cannot be read; the message says why, for the person who typed it."""


class IndexUnavailable(RuntimeError):
    """The index file is missing or being rebuilt right now."""


class _Transient(Exception):
    """A read failed in a way another try may not (busy, a WAL being recovered)."""


@dataclass
class Hit:
    crawl_id: str
    url: str
    title: str
    snippet: str
    score: float
    path: str
    section: str = ""  # the heading path of the best matching section ('' for a page's opening text)
    anchor: str = ""  # that section's heading as a fragment
    text: str = ""  # that section's plain text, cut on a paragraph, line or word boundary
    section_chars: int = 0  # the whole section's length (text may be shorter)
    page_chars: int = 0  # the whole page's length (its Markdown)

    @property
    def section_url(self) -> str:
        """The page's URL with the section's anchor: where a browser opens at that section."""
        return f"{self.url}#{self.anchor}" if self.anchor else self.url

    def section_text(self, limit: int) -> str:
        """The section's text cut to at most `limit` characters on a paragraph, line or word boundary."""
        if len(self.text) <= limit:
            return self.text
        return self.text[:cut(self.text, 0, limit)].rstrip() if limit > 0 else ""

    def as_dict(self, text_chars: int = SECTION_TEXT_CHARS) -> dict[str, Any]:
        return {"crawl_id": self.crawl_id, "url": self.url, "title": self.title, "snippet": self.snippet,
                "score": self.score, "path": self.path, "section": self.section, "anchor": self.anchor,
                "section_url": self.section_url, "section_text": self.section_text(text_chars),
                "section_chars": self.section_chars, "page_chars": self.page_chars}


@dataclass
class PageRow:
    """A stored page as the index knows it."""

    crawl_id: str
    url: str
    title: str
    path: str
    page_id: int
    chars: int


@dataclass
class SectionRow:
    heading: str  # heading path
    anchor: str
    start: int
    end: int


_URL_WORDS = re.compile(r"[a-z0-9]+")
_PAGE_JOIN = "\n\n"


def _query_terms(expression: str) -> list[tuple[str, bool]]:
    """The positive terms of an FTS5 expression, lower-cased: (words, is a prefix)."""
    terms = []
    negated = False
    for match in re.finditer(r'"((?:[^"]|"")*)"(\*?)|\bNOT\b', expression):
        if match.group() == "NOT":
            negated = True
            continue
        if not negated:
            terms.append((" ".join(match.group(1).replace('""', '"').lower().split()), bool(match.group(2))))
        negated = False
    return terms


def _term_score(terms: list[tuple[str, bool]], text: str) -> float:
    """How well `text` holds the terms: one for each term found (a word by its stem-like start,
    so "resolve" finds "resolves"), plus a little for each further occurrence."""
    if not text or not terms:
        return 0.0
    lowered = text.lower()
    score = 0.0
    for words, prefix in terms:
        if not words:
            continue
        if " " in words:  # a phrase: the words together
            found = lowered.count(words)
        else:
            stem = words if prefix or len(words) <= 4 else words[: max(4, len(words) - 3)]
            found = len(re.findall(r"\b" + re.escape(stem), lowered))
        if found:
            score += 1.0 + min(found, 20) / 40
    return score


def _any_term(expression: str) -> str:
    """An FTS5 expression that matches any one of the terms of `expression` (NOT terms left out)."""
    terms = []
    negated = False
    for match in re.finditer(r'"(?:[^"]|"")*"\*?|\bNOT\b', expression):
        if match.group() == "NOT":
            negated = True
            continue
        if not negated:
            terms.append(match.group())
        negated = False
    return " OR ".join(dict.fromkeys(terms))


def url_key(url: str | None) -> str | None:
    """The form URLs are compared in when a caller names a page: the crawl's canonical form
    (fragment, index.html, tracking and session parameters dropped), else the URL as given."""
    if not url:
        return None
    return canonical_url(url) or url.split("#", 1)[0]


@dataclass
class SearchPage:
    query: str
    total: int
    hits: list[Hit]


# ---- the query language -----------------------------------------------------------------------

_TOKEN = re.compile(r'"([^"]*)"(\*?)|(\S+)')
_OPERATORS = ("AND", "OR", "NOT")


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def to_fts_query(query: str) -> str:
    """What a person typed → an FTS5 MATCH expression, or QueryError with a readable reason."""
    if not isinstance(query, str) or not query.strip():
        raise QueryError("the query is empty: give at least one word to search for")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is too long: at most {MAX_QUERY_CHARS} characters")
    if query.count('"') % 2:
        raise QueryError('a quotation mark is not closed: write a phrase as "two words"')
    parts: list[str] = []
    terms = 0
    previous_operator: str | None = "start"
    for match in _TOKEN.finditer(query):
        phrase, phrase_star, word = match.groups()
        if word is not None and word in _OPERATORS:
            if previous_operator is not None:
                where = "begin the query" if previous_operator == "start" else f"follow {previous_operator}"
                raise QueryError(f"{word} cannot {where}: put a word or a phrase on both sides of it")
            parts.append(word)
            previous_operator = word
            continue
        if phrase is not None:
            if not phrase.strip():
                raise QueryError('an empty phrase ("") matches nothing: put words between the quotation marks')
            parts.append(_quote(phrase) + ("*" if phrase_star else ""))
        else:
            assert word is not None
            stripped = word.rstrip("*")
            if not stripped:
                raise QueryError(f"{word!r}: a * must follow the beginning of a word, as in config*")
            if "*" in stripped:
                raise QueryError(f"{word!r}: * may only end a word (prefix search, as in config*)")
            parts.append(_quote(stripped) + ("*" if stripped != word else ""))
        terms += 1
        if terms > MAX_QUERY_TERMS:
            raise QueryError(f"the query has too many terms: at most {MAX_QUERY_TERMS}")
        previous_operator = None
    if previous_operator is not None and previous_operator != "start":
        raise QueryError(f"{previous_operator} cannot end the query: put a word or a phrase after it")
    if not parts:
        raise QueryError("the query is empty: give at least one word to search for")
    return " ".join(parts)


# ---- reading a crawl folder -------------------------------------------------------------------


def _new_lines(manifest: Path, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Up to `limit` complete manifest lines from `offset`, and the offset after the last one read.
    A torn last line (the crawl is writing it, or crashed mid-write) is left for later."""
    entries: list[dict[str, Any]] = []
    with open(manifest, "rb") as handle:
        handle.seek(offset)
        while len(entries) < limit:
            line = handle.readline()
            if not line.endswith(b"\n"):
                break
            offset += len(line)
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
    return entries, offset


def crawl_folders(data_dir: Path) -> dict[str, Path]:
    """Every crawl folder of the data directory by id (anything else there is not a crawl)."""
    found = {}
    try:
        children = list(os.scandir(data_dir))
    except OSError:
        return {}
    for child in children:
        if is_crawl_id(child.name) and child.is_dir():
            found[child.name] = Path(child.path)
    return found


# ---- the index ----------------------------------------------------------------------------------


class SearchIndex:
    """The SQLite FTS5 file: written by one :class:`SearchIndexer` per process, read by anyone."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # guards the writer connection and rebuilds
        self._writer: sqlite3.Connection | None = None
        self._inode: tuple[int, int] | None = None
        self.suspect = threading.Event()  # a reader found the file unreadable: the writer checks it
        self._probe: tuple[int, tuple[int, int]] | None = None  # (descriptor, file identity) the header is read through
        self.on_suspect: Any = None  # called when a reader finds the file unreadable (wakes the writer)

    # -- opening, checking, rebuilding --

    def _connect(self, *, create: bool) -> sqlite3.Connection:
        mode = "rwc" if create else "rw"
        if create:  # SQLite would make it 0644; its -wal and -shm take the mode of the file
            make_private_dirs(self.path.parent)
            open_private(self.path).close()
        connection = sqlite3.connect(f"file:{self.path}?mode={mode}", uri=True, timeout=30,
                                     check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA busy_timeout = 30000")
        return connection

    def open_writer(self) -> sqlite3.Connection:
        """The writer connection, (re)creating the file when it is missing, replaced or damaged."""
        with self._lock:
            if self._writer is not None and self._inode == self._file_identity():
                return self._writer
            self._close_writer()
            try:
                self._writer = self._prepare(self._connect(create=True))
            except sqlite3.DatabaseError as exc:
                log.warning("the search index %s is damaged (%s): rebuilding it from the crawl folders",
                            self.path, exc)
                self._remove_files()
                self._writer = self._prepare(self._connect(create=True))
            self._inode = self._file_identity()
            return self._writer

    def _prepare(self, connection: sqlite3.Connection) -> sqlite3.Connection:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA journal_size_limit = 67108864")  # the WAL shrinks back to 64 MB
            has_schema = connection.execute(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('meta', 'crawls', 'pages', 'sections', 'docs', "
                "'section_docs')").fetchone()[0]
            if has_schema < 6:  # a second process opening a ready index writes nothing here
                connection.executescript(SCHEMA)
            row = connection.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None or row[0] != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"schema {row and row[0]!r}, expected {SCHEMA_VERSION!r}")
            connection.execute("SELECT count(*) FROM crawls").fetchone()
        except sqlite3.DatabaseError:
            connection.close()
            raise
        return connection

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_dev, stat.st_ino)

    def _close_writer(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except sqlite3.Error:
                pass
        self._writer, self._inode = None, None

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def damaged(self, exc: BaseException) -> None:
        """A write or read found the file damaged: start again from an empty file."""
        log.warning("the search index %s is damaged (%s): rebuilding it from the crawl folders", self.path, exc)
        with self._lock:
            self._close_writer()
            self._remove_files()

    def close(self) -> None:
        with self._lock:
            self._close_writer()
            self._close_probe()

    def _close_probe(self) -> None:
        if self._probe is not None:
            os.close(self._probe[0])
            self._probe = None

    def _header(self) -> bytes | None:
        """The file's first 16 bytes (None: no file), read through one descriptor kept open for
        as long as the file is the same. Closing any descriptor of the database file drops every
        POSIX lock this process holds on it, SQLite's included: another process's connection
        closing then believes it is the last one, checkpoints and deletes the WAL, and this
        process's writer goes on committing into a WAL nobody else reads."""
        identity = self._file_identity()
        if identity is None:
            return None
        with self._lock:
            if self._probe is None or self._probe[1] != identity:
                self._close_probe()  # a descriptor of a file replaced since: no lock of ours is on it
                fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
                stat = os.fstat(fd)
                self._probe = (fd, (stat.st_dev, stat.st_ino))
            return os.pread(self._probe[0], 16, 0)

    def looks_damaged(self) -> bool:
        """A file that is there but is not a sound SQLite database (garbage written over it, a
        truncated copy). The header is checked every time; the whole file when a reader failed."""
        try:
            header = self._header()
        except FileNotFoundError:
            return False
        except OSError:
            return True
        if header is None:
            return False
        if header and header != b"SQLite format 3\x00":  # empty: a new database whose pages are in the WAL
            return True
        if not self.suspect.is_set():
            return False
        self.suspect.clear()
        try:
            connection = self._connect(create=False)
            try:
                return connection.execute("PRAGMA quick_check").fetchone()[0] != "ok"
            finally:
                connection.close()
        except sqlite3.OperationalError:
            return False
        except sqlite3.DatabaseError:
            return True

    def _reader_failed(self, exc: sqlite3.DatabaseError) -> None:
        if not isinstance(exc, sqlite3.OperationalError):
            self.suspect.set()
            if self.on_suspect is not None:
                self.on_suspect()

    # -- writing (the indexer's thread only) --

    def indexed_crawls(self) -> dict[str, int]:
        connection = self.open_writer()
        return dict(connection.execute("SELECT crawl_id, manifest_offset FROM crawls").fetchall())

    def index_batch(self, crawl_id: str, crawl_dir: Path, limit: int = BATCH_PAGES) -> int:
        """Index the next manifest lines of one crawl in one transaction; returns the lines read.

        The offset is read and advanced inside the transaction that inserts the pages, so two
        processes indexing the same data directory never index a page twice."""
        connection = self.open_writer()
        manifest = crawl_dir / "manifest.jsonl"
        connection.execute("BEGIN IMMEDIATE")
        try:
            row = connection.execute("SELECT manifest_offset FROM crawls WHERE crawl_id = ?", (crawl_id,)).fetchone()
            offset = row[0] if row else 0
            try:
                size = manifest.stat().st_size
            except FileNotFoundError:
                size = 0
            if size < offset:  # rewritten from scratch: index it again
                self._delete_crawl(connection, crawl_id)
                offset = 0
            entries, new_offset = _new_lines(manifest, offset, limit) if size > offset else ([], offset)
            added = 0
            for entry in entries:
                path, url = entry.get("path"), entry.get("url")
                if entry.get("status") != PageStatus.OK or not isinstance(path, str) or not isinstance(url, str):
                    continue
                body = read_page(crawl_dir, path, limit=MAX_BODY_CHARS)
                if body is None:
                    continue
                title = entry.get("title") if isinstance(entry.get("title"), str) else ""
                canonical = entry.get("canonical") if isinstance(entry.get("canonical"), str) else None
                if is_generated_index(canonical or url):
                    continue
                sections = split_sections(body)
                terms = defined_terms(body, sections)
                optional = is_optional(canonical or url, title or "", "/")
                cursor = connection.execute(
                    "INSERT INTO pages (crawl_id, url, canonical, url_key, canonical_key, path, title, terms, "
                    "optional, chars) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (crawl_id, url, canonical, url_key(url), url_key(canonical) if canonical else None, path,
                     title, terms, int(optional), len(body)))
                page_id = cursor.lastrowid
                texts = []
                use_site_anchors(sections, entry.get("heading_ids"))
                sections = split_definitions(body, sections, entry.get("definition_ids"))
                for section in sections:
                    text = plain_text(body[section.start:section.end])
                    if not text and not section.heading:
                        continue
                    heading = section.heading_path
                    row = connection.execute(
                        "INSERT INTO sections (page_id, crawl_id, heading, anchor, start, end) VALUES (?, ?, ?, ?, ?, ?)",
                        (page_id, crawl_id, heading, section.anchor, section.start, section.end))
                    connection.execute("INSERT INTO section_docs (rowid, heading, body) VALUES (?, ?, ?)",
                                       (row.lastrowid, heading, text))
                    texts.append(text)
                # The page-level index holds no text of its own (contentless): its body is the
                # sections' texts joined, which is how _delete_crawl gives it back to remove it.
                connection.execute("INSERT INTO docs (rowid, title, terms, url, body) VALUES (?, ?, ?, ?, ?)",
                                   (page_id, title, terms, canonical or url, _PAGE_JOIN.join(texts)))
                added += 1
            connection.execute(
                "INSERT INTO crawls (crawl_id, manifest_offset, pages) VALUES (?, ?, ?) "
                "ON CONFLICT (crawl_id) DO UPDATE SET manifest_offset = excluded.manifest_offset, "
                "pages = pages + excluded.pages", (crawl_id, new_offset, added))
            connection.execute("COMMIT")
        except BaseException:
            try:
                connection.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise
        return len(entries)

    def checkpoint(self, truncate: bool = False) -> None:
        """Move what the WAL holds into the main file (without waiting for readers, unless
        `truncate`, which also empties the WAL file)."""
        self.open_writer().execute(f"PRAGMA wal_checkpoint({'TRUNCATE' if truncate else 'PASSIVE'})")

    def remove_crawl(self, crawl_id: str) -> None:
        connection = self.open_writer()
        connection.execute("BEGIN IMMEDIATE")
        try:
            self._delete_crawl(connection, crawl_id)
            connection.execute("DELETE FROM crawls WHERE crawl_id = ?", (crawl_id,))
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    @staticmethod
    def _delete_crawl(connection: sqlite3.Connection, crawl_id: str) -> None:
        pages = connection.execute("SELECT id, title, terms, canonical, url FROM pages WHERE crawl_id = ?",
                                   (crawl_id,)).fetchall()
        for page_id, title, terms, canonical, url in pages:  # a contentless index removes a row given what it held
            texts = [row[0] for row in connection.execute(
                "SELECT d.body FROM sections s JOIN section_docs d ON d.rowid = s.id WHERE s.page_id = ? "
                "ORDER BY s.id", (page_id,))]
            connection.execute("INSERT INTO docs (docs, rowid, title, terms, url, body) VALUES ('delete', ?, ?, ?, ?, ?)",
                               (page_id, title, terms, canonical or url, _PAGE_JOIN.join(texts)))
        connection.execute("DELETE FROM section_docs WHERE rowid IN (SELECT id FROM sections WHERE crawl_id = ?)",
                           (crawl_id,))
        connection.execute("DELETE FROM sections WHERE crawl_id = ?", (crawl_id,))
        connection.execute("DELETE FROM pages WHERE crawl_id = ?", (crawl_id,))
        connection.execute("UPDATE crawls SET pages = 0, manifest_offset = 0 WHERE crawl_id = ?", (crawl_id,))

    # -- reading (any thread) --

    def _reader(self) -> sqlite3.Connection:
        """A connection for one read. A transient failure (busy, an I/O error while another
        process resets the WAL) is tried again once before the caller is told to come back."""
        for attempt in (1, 2):
            try:
                connection = self._connect(create=False)
                connection.execute("SELECT 1 FROM crawls LIMIT 1").fetchall()
                return connection
            except sqlite3.OperationalError as exc:
                if attempt == 1 and self.path.exists():
                    log.info("search index read failed (%s); trying again", exc)
                    time.sleep(0.05)
                    continue
                raise IndexUnavailable(f"the search index is being built; try again in a moment ({exc})") from exc
            except sqlite3.DatabaseError as exc:
                self._reader_failed(exc)
                raise IndexUnavailable(f"the search index is being built; try again in a moment ({exc})") from exc
        raise AssertionError("unreachable")

    def search(self, query: str, crawl_ids: Sequence[str], *, limit: int = 10, offset: int = 0,
               html_snippets: bool = True, snippet_tokens: int = 24) -> SearchPage:
        """The best `limit` pages from `offset` among `crawl_ids` (never any other crawl's).

        A read that meets another process's write at a bad moment (a writer killed mid-transaction
        leaves a WAL to recover; FTS5 opening its tables meanwhile can fail) is tried again, twice,
        with a fresh connection, before the caller is told to come back."""
        expression = to_fts_query(query)
        crawl_ids = [c for c in dict.fromkeys(crawl_ids) if isinstance(c, str)]
        if not crawl_ids:
            return SearchPage(query, 0, [])
        for attempt in range(3):
            try:
                return self._search(query, expression, crawl_ids, limit, offset, html_snippets, snippet_tokens)
            except _Transient as exc:
                if attempt == 2:
                    raise IndexUnavailable(f"the search index cannot be read right now: {exc}") from None
                log.info("search index read failed (%s); trying again", exc)
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _search(self, query: str, expression: str, crawl_ids: list[str], limit: int, offset: int,
                html_snippets: bool, snippet_tokens: int) -> SearchPage:
        marks = ",".join("?" * len(crawl_ids))
        # Pages are matched, counted and ranked in the page-level index, exactly as fast as a
        # page-level search; then, for the page of results only, the section-level index names
        # each page's best section (its rows of one page are a contiguous rowid range).
        # CROSS JOIN keeps the full-text match as the outer loop (SQLite would otherwise walk the
        # crawl's pages and run the match once per page).
        where = f"docs MATCH ? AND p.crawl_id IN ({marks})"
        connection = self._reader()
        try:
            total = connection.execute(
                f"SELECT count(*) FROM docs CROSS JOIN pages p ON p.id = docs.rowid WHERE {where}",
                (expression, *crawl_ids)).fetchone()[0]
            ranked = connection.execute(
                f"SELECT docs.rowid, bm25(docs, ?, ?, ?, ?) * (CASE p.optional WHEN 0 THEN 1.0 ELSE ? END) AS rank "
                f"FROM docs CROSS JOIN pages p ON p.id = docs.rowid "
                f"WHERE {where} ORDER BY rank, docs.rowid LIMIT ? OFFSET ?",
                (*_WEIGHTS, OPTIONAL_RANK, expression, *crawl_ids, limit, offset)).fetchall()
            rows = []
            for page_id, rank in ranked:
                page = connection.execute("SELECT crawl_id, url, title, path, chars FROM pages WHERE id = ?",
                                          (page_id,)).fetchone()
                if page is None:
                    continue
                best = self._best_section(connection, page_id, expression, snippet_tokens)
                rows.append((*page[:4], *best, page[4], rank))
        except sqlite3.OperationalError as exc:
            message = str(exc)
            if "fts5" in message or "syntax" in message or "unterminated" in message:
                raise QueryError(f"the query cannot be read: {message}") from None
            raise _Transient(message) from exc
        except sqlite3.DatabaseError as exc:
            self._reader_failed(exc)
            raise IndexUnavailable("the search index is being rebuilt; try again in a moment") from exc
        finally:
            connection.close()
        hits = []
        for crawl_id, url, title, path, heading, anchor, snippet, body, chars, rank in rows:
            body = body or ""
            text = body[:cut(body, 0, SECTION_TEXT_CHARS)].rstrip()
            hits.append(Hit(crawl_id, url, title or url, _snippet(snippet, html_snippets), round(-rank, 4), path,
                            heading, anchor, text, len(body), chars))
        return SearchPage(query, total, hits)

    @staticmethod
    def _best_section(connection: sqlite3.Connection, page_id: int, expression: str,
                      snippet_tokens: int) -> tuple[str, str, str, str]:
        """(heading path, anchor, snippet, text) of the page's section that matches the query
        best: the most of its terms (its phrases whole), in the heading counting double. Chosen
        from the page's few section texts read by rowid (no second full-text match over the
        whole index), then the snippet made by FTS5 for that one row."""
        sections = connection.execute("SELECT id, heading, anchor FROM sections WHERE page_id = ? ORDER BY id",
                                      (page_id,)).fetchall()
        if not sections:
            return "", "", "", ""
        texts = dict(connection.execute("SELECT rowid, body FROM section_docs WHERE rowid BETWEEN ? AND ?",
                                        (sections[0][0], sections[-1][0])).fetchall())
        terms = _query_terms(expression)
        best, best_score = sections[0], -1.0
        for section in sections:
            score = _term_score(terms, section[1]) * 2 + _term_score(terms, texts.get(section[0]) or "")
            if score > best_score:
                best, best_score = section, score
        section_id, heading, anchor = best
        body = texts.get(section_id) or ""
        for query in dict.fromkeys((expression, _any_term(expression))):
            if not query:
                continue
            row = connection.execute(
                f"SELECT snippet(section_docs, 1, '{_OPEN}', '{_CLOSE}', '…', ?) FROM section_docs "
                "WHERE section_docs MATCH ? AND rowid = ?", (snippet_tokens, query, section_id)).fetchone()
            if row is not None and row[0]:
                return heading, anchor, row[0], body
        return heading, anchor, body[:cut(body, 0, 200)], body

    def _read(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        connection = self._reader()
        try:
            return connection.execute(sql, parameters).fetchall()
        except sqlite3.DatabaseError as exc:
            self._reader_failed(exc)
            raise IndexUnavailable("the search index is being rebuilt; try again in a moment") from exc
        finally:
            connection.close()

    def find_page(self, url: str, crawl_ids: Sequence[str]) -> tuple[str, str, str, str] | None:
        """(crawl_id, url, title, path) of a stored page by its URL or canonical URL, newest crawl first."""
        row = self.lookup_page(url, crawl_ids)
        return (row.crawl_id, row.url, row.title, row.path) if row else None

    def lookup_page(self, url: str, crawl_ids: Sequence[str]) -> PageRow | None:
        """A stored page named by `url` as the crawl would have named it: the URL saved, the page's
        canonical URL, or either in canonical form (fragment, `index.html`, tracking and session
        parameters dropped); among `crawl_ids`, the first listed that has it."""
        crawl_ids = list(dict.fromkeys(crawl_ids))
        if not crawl_ids or not isinstance(url, str) or not url.strip():
            return None
        url = url.strip()[:4096]
        keys = list(dict.fromkeys(k for k in (url, url.split("#", 1)[0], url_key(url),
                                              canonical_url(url, keep_route=True)) if k))
        marks = ",".join("?" * len(crawl_ids))
        key_marks = ",".join("?" * len(keys))
        rows = self._read(
            f"SELECT crawl_id, url, title, path, id, chars FROM pages WHERE crawl_id IN ({marks}) AND "
            f"(url IN ({key_marks}) OR canonical IN ({key_marks}) OR url_key IN ({key_marks}) "
            f"OR canonical_key IN ({key_marks}))", (*crawl_ids, *keys, *keys, *keys, *keys))
        if not rows:
            return None
        order = {crawl_id: number for number, crawl_id in enumerate(crawl_ids)}
        exact = {url: 0, url.split("#", 1)[0]: 1}
        best = min(rows, key=lambda row: (order.get(row[0], len(order)), exact.get(row[1], 2), row[4]))
        return PageRow(*best)

    def nearest_pages(self, url: str, crawl_ids: Sequence[str], count: int = 5) -> list[str]:
        """The saved URLs most like `url` (same host first, then the closest path), for a caller
        who named a page that is not there."""
        import difflib

        crawl_ids = list(dict.fromkeys(crawl_ids))
        if not crawl_ids or not isinstance(url, str):
            return []
        wanted = url_key(url.strip()[:4096]) or ""
        host = urlsplit(wanted).netloc if "//" in wanted else ""
        marks = ",".join("?" * len(crawl_ids))
        pattern = f"%//{host}/%" if host else "%"
        rows = self._read(f"SELECT DISTINCT url FROM pages WHERE crawl_id IN ({marks}) AND url LIKE ? "
                          "ORDER BY id DESC LIMIT 20000", (*crawl_ids, pattern))
        candidates = [row[0] for row in rows]
        if not candidates:
            return []
        # Cheap first: the words the URLs share (a typo'd page name still shares most of them),
        # then the closest spelling among the best 100 only: never a similarity over every URL.
        wanted = wanted[:500]
        words = set(_URL_WORDS.findall(wanted.lower()))
        scored = sorted(candidates, key=lambda candidate: -len(words & set(_URL_WORDS.findall(candidate.lower()))))
        return difflib.get_close_matches(wanted, scored[:100], n=count, cutoff=0.0)

    def page_sections(self, page_id: int) -> list[SectionRow]:
        """The sections of an indexed page, in page order."""
        return [SectionRow(*row) for row in self._read(
            "SELECT heading, anchor, start, end FROM sections WHERE page_id = ? ORDER BY start, id", (page_id,))]

    def pages_per_crawl(self, crawl_ids: Sequence[str]) -> dict[str, int]:
        """How many pages of each crawl are searchable now."""
        crawl_ids = list(dict.fromkeys(crawl_ids))
        if not crawl_ids:
            return {}
        connection = self._reader()
        try:
            marks = ",".join("?" * len(crawl_ids))
            return dict(connection.execute(f"SELECT crawl_id, pages FROM crawls WHERE crawl_id IN ({marks})",
                                           crawl_ids).fetchall())
        except sqlite3.DatabaseError as exc:
            self._reader_failed(exc)
            raise IndexUnavailable("the search index is being rebuilt; try again in a moment") from exc
        finally:
            connection.close()

    def stats(self) -> dict[str, Any]:
        connection = self._reader()
        try:
            crawls, pages = connection.execute("SELECT count(*), coalesce(sum(pages), 0) FROM crawls").fetchone()
        finally:
            connection.close()
        return {"crawls": crawls, "pages": pages, "bytes": _size_with_wal(self.path)}


def _size_with_wal(path: Path) -> int:
    return sum(Path(f"{path}{suffix}").stat().st_size for suffix in ("", "-wal")
               if Path(f"{path}{suffix}").exists())


def _snippet(raw: str, as_html: bool) -> str:
    text = " ".join((raw or "").split())
    if as_html:
        return html.escape(text, quote=False).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")
    return text.replace(_OPEN, "**").replace(_CLOSE, "**")


# ---- keeping it up to date ----------------------------------------------------------------------


class SearchIndexer:
    """The one thread per process that writes the index: follows every crawl folder's manifest.

    Each pass stats every crawl's manifest; a crawl that grew is indexed from where the index left
    off, in batches (one transaction each); a crawl whose folder is gone is dropped. `wake()` starts
    a pass at once (after a delete, say); otherwise one runs every `interval` seconds."""

    def __init__(self, index: SearchIndex, data_dir: Path, interval: float = POLL_SECONDS,
                 batch: int = BATCH_PAGES) -> None:
        self.index = index
        self.data_dir = Path(data_dir)
        self.interval = interval
        self.batch = batch  # smaller under eventlet, where a batch holds the one OS thread
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sizes: dict[str, int] = {}  # manifest size last seen per crawl, to skip unchanged ones
        self.passes = 0

    def start(self) -> SearchIndexer:
        self._thread = threading.Thread(target=self.run, name="search-indexer", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def halt(self) -> None:
        """Ask the loop to end after the batch it is writing (from any thread): the transaction
        in progress commits, nothing is left half written."""
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self.halt()
        if self._thread is not None:
            self._thread.join(timeout)
        self.index.close()

    def run(self) -> None:
        """Pass after pass until halted, in the caller's thread: the thread `start()` makes, or
        the main thread of the indexer's own process (crawler/outputs/search_process.py)."""
        while not self._stop.is_set():
            try:
                self.run_pass()
            except sqlite3.OperationalError as exc:  # busy or locked by another process: next pass
                log.warning("search indexing pass failed: %s", exc)
            except sqlite3.DatabaseError as exc:
                # Not proof of damage: another process may be using the file at that moment, and
                # removing it under that process would damage its view. The next pass checks the
                # file itself (header and PRAGMA quick_check) and rebuilds only if it is unsound.
                log.warning("search indexing pass failed (%s); the file is checked on the next pass", exc)
                self.index.suspect.set()
            except Exception:
                log.exception("search indexing pass failed")
            self._wake.wait(self.interval)
            self._wake.clear()

    def run_pass(self) -> int:
        """Index whatever is new in every crawl folder; returns the manifest lines read."""
        if self.index.looks_damaged():
            self.index.damaged(sqlite3.DatabaseError("not a sound SQLite database"))
        if self.index._file_identity() is None or self.index._file_identity() != self.index._inode:
            self._sizes.clear()  # a new file: everything is indexed again
        indexed = self.index.indexed_crawls()
        folders = crawl_folders(self.data_dir)
        for crawl_id in set(indexed) - set(folders):
            self.index.remove_crawl(crawl_id)
            self._sizes.pop(crawl_id, None)
        read = 0
        for crawl_id, crawl_dir in sorted(folders.items()):
            if self._stop.is_set() or self._wake.is_set():
                break  # woken (a crawl was deleted): start over, removals first; the rest comes next
            try:
                size = (crawl_dir / "manifest.jsonl").stat().st_size
            except FileNotFoundError:
                continue
            if self._sizes.get(crawl_id) == size and crawl_id in indexed:
                continue
            while not self._stop.is_set():
                lines = self.index.index_batch(crawl_id, crawl_dir, self.batch)
                read += lines
                if lines < self.batch:
                    break
                yield_to_hub()  # between batches
            self._sizes[crawl_id] = size
        if read:
            self.index.checkpoint()
            trim_heap()  # the pages and sections read for the pass are freed: give their memory back
        self.passes += 1
        return read

    def catch_up(self) -> int:
        """Index everything there is now, in the caller's thread (tests, benchmarks, one-shot tools)."""
        return self.run_pass()


def open_search(data_dir: Path, index_path: Path | None = None, *, start: bool = True,
                batch: int = BATCH_PAGES) -> tuple[SearchIndex, SearchIndexer]:
    """The index of a data directory and its writer thread (started unless `start` is False)."""
    path = Path(index_path) if index_path else Path(data_dir) / INDEX_FILE
    index = SearchIndex(path)
    indexer = SearchIndexer(index, Path(data_dir), batch=batch)
    index.on_suspect = indexer.wake
    index.open_writer()
    if start:
        indexer.start()
    return index, indexer


def site_key(start_url: str) -> str:
    """What makes two crawls the same site: the start URL's host (and port) and path (canonical form, no
    trailing slash): a crawl and its refreshes share it."""
    key = url_key(start_url) or start_url or ""
    parts = urlsplit(key)
    return f"{parts.netloc.lower()}{parts.path.rstrip('/')}" if parts.netloc else key


def current_crawls(crawls: Iterable[tuple[str, str, str, str]]) -> list[str]:
    """Of (crawl id, start URL, state, created at) tuples, the crawl that stands for each site: its
    newest completed crawl, else (never completed yet) its newest crawl. Newest first. Older crawls
    stay searchable by naming their id."""
    chosen: dict[str, tuple[bool, str, str]] = {}
    for crawl_id, start_url, state, created_at in crawls:
        key = site_key(start_url)
        rank = (state == "completed", created_at or "", crawl_id)
        if key not in chosen or rank > chosen[key]:
            chosen[key] = rank
    return [rank[2] for rank in sorted(chosen.values(), key=lambda rank: (rank[1], rank[2]), reverse=True)]


def visible_crawl_ids(ids: Iterable[str]) -> list[str]:
    return [crawl_id for crawl_id in ids if is_crawl_id(crawl_id)]
