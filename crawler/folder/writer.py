"""Storing stage: every page goes to disk the moment it is ready, never held in memory.

Layout of one crawl's folder::

    config.json       the validated configuration
    crawl.json        owner, state and timestamps (rewritten at each state change)
    manifest.jsonl    one line per page handled, appended and flushed at once
    discovered.jsonl  one line per URL admitted to the crawl, in the order it was found
    summary.json      written when the crawl ends
    log.json          the last log seq handed out, so a resume numbers on (crawler/resume.py)
    pages/<path>.md   one Markdown file per saved page, its path mirroring the URL
    llms.txt, llms-full.txt, llms-report.json   generated from the above (see crawler/outputs/llms.py)

`close()` is the line after which nothing more is written: saving and closing share a lock,
so a page is either completely saved (file and manifest line) or not at all.

A full disk (ENOSPC, or EDQUOT: over quota) raises DiskFull, naming the file that could not be
written, and the store takes nothing more after it: a journal line that was only partly written
is cut off again (a torn line is never left for a later line to be glued to), and a page file is
whole or absent as always. What was saved before stays, and the crawl can be resumed once
there is room.

Everything written under the data directory is private to the user running the crawler, whatever
the umask: files 0600, folders 0700. The helpers here decide it for every writer (this store, the
page cache, the search index, the crawl metadata): `write_atomically` (whole files),
`open_private` (journals and other files opened in place) and `make_private_dirs` (folders).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from crawler.engine.events import PageStatus
from crawler.engine.fingerprints import Fingerprints
from crawler.folder.paths import PAGES_DIR, SITE_FILES_INDEX, page_file, site_file
from crawler.folder.reader import LINKS_FILE, iter_manifest

MAX_SEGMENT = 80


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


_STRIP_SUFFIXES = (".html", ".htm", ".xhtml", ".php", ".asp", ".aspx", ".md")


class StoreClosed(Exception):
    """The crawl ended (or was stopped): nothing more may be written."""


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class DiskFull(OSError):
    """A write failed for want of space (ENOSPC) or quota (EDQUOT); `reason` names the file."""

    def __init__(self, path: Path | str, code: int = errno.ENOSPC) -> None:
        super().__init__(code, "disk full", str(path))
        self.path = str(path)
        self.reason = f"disk full at {self.path}"

    def __str__(self) -> str:
        return self.reason


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


@dataclass
class ManifestEntry:
    url: str
    status: PageStatus
    http_status: int | None
    title: str | None
    depth: int
    path: str | None
    bytes: int
    words: int
    error: str | None
    fetched_at: str
    reason: str | None = None  # short code for why not ok: robots, duplicate, out_of_scope, http_error...
    source: str | None = None  # how the URL was found: start, link, sitemap, selection
    canonical: str | None = None  # the page's canonical URL, when it differs from `url`
    # Optional, written only when the page declares them (older folders have neither):
    site_name: str | None = None  # og:site_name
    description: str | None = None  # <meta name="description">
    # Optional, written for pages fetched since refreshes exist (older folders have none):
    etag: str | None = None  # the response's ETag
    last_modified: str | None = None  # its Last-Modified
    body_sha256: str | None = None  # hex SHA-256 of the body fetched (after decompression)
    reused: str | None = None  # a refresh reused the earlier crawl's page: not_modified | same_body
    rendered: bool = False  # processed from the DOM rendered in a browser (crawler/render/)
    render_reason: str | None = None  # why it needed (or would have needed) a browser: docsify, noscript...
    nav: list[str] | None = None  # the groups above the page in the site's navigation (sidebar, breadcrumbs)
    heading_ids: list[list[str]] | None = None  # [heading text, id]: the site's own anchors of its headings
    site_markdown: str | None = None  # the page's own Markdown version, as the page names it
    from_site_markdown: bool | None = None  # True: the saved file holds that version (prefer_site_markdown)
    definition_ids: list[list[str]] | None = None  # [term text, id]: the site's own anchors of its <dt> terms

    def as_record(self) -> dict[str, Any]:
        # A shallow copy: dataclasses.asdict copies every list deeply (each heading pair), 140 µs a
        # page of the server's CPU against 2; the record is serialised at once and never changed.
        record = {name: getattr(self, name) for name in _ENTRY_FIELDS}
        for optional in OPTIONAL_FIELDS:
            if record[optional] is None:
                del record[optional]
        return record


_ENTRY_FIELDS = tuple(entry_field.name for entry_field in fields(ManifestEntry))
OPTIONAL_FIELDS = ("site_name", "description", "etag", "last_modified", "body_sha256", "reused", "render_reason",
                   "nav", "heading_ids", "site_markdown", "from_site_markdown", "definition_ids")


def _heading_ids(pairs: Any, most: int = 200) -> list[list[str]] | None:
    """[text, id] pairs as the manifest keeps them (bounded, strings only), None when there are none."""
    if not isinstance(pairs, list):
        return None
    kept = [[pair[0][:120], pair[1][:120]] for pair in pairs[:most]
            if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(part, str) for part in pair)]
    return kept or None


def _safe_segment(segment: str) -> str:
    """One path segment as a portable file name that cannot mean 'here' or 'up'."""
    cleaned = _UNSAFE.sub("_", unquote(segment)).strip("._") or "_"
    if len(cleaned) > MAX_SEGMENT:
        digest = hashlib.sha1(segment.encode()).hexdigest()[:8]
        cleaned = f"{cleaned[:MAX_SEGMENT - 9]}-{digest}"
    return cleaned


def relative_page_path(url: str) -> str:
    """Map a URL to `pages/...md`: `/docs/a.html` → `pages/docs/a.md`, `/docs/` → `pages/docs/index.md`."""
    parts = urlsplit(url)
    raw_segments = [s for s in parts.path.split("/") if s]
    directory_like = parts.path.endswith("/") or not raw_segments
    segments = [_safe_segment(s) for s in raw_segments]
    if directory_like:
        segments.append("index")
    else:
        last = segments[-1]
        for suffix in _STRIP_SUFFIXES:
            if last.lower().endswith(suffix) and len(last) > len(suffix):
                last = last[: -len(suffix)]
                break
        segments[-1] = last
    if parts.query:
        segments[-1] += "_q-" + hashlib.sha1(parts.query.encode()).hexdigest()[:8]
    route = [s for s in parts.fragment.lstrip("!").split("/") if s] if parts.fragment.startswith(("/", "!/")) else []
    if route:  # a hash route (`/docs/#/guide/install`): a page below its document's folder
        if directory_like:
            segments.pop()
        segments += [_safe_segment(s) for s in route]
    return "pages/" + "/".join(segments) + ".md"


PRIVATE_FILE_MODE = 0o600  # every file the crawler writes under the data directory
PRIVATE_DIR_MODE = 0o700  # and every folder it makes there


def make_private_dirs(path: Path | str, *, exist_ok: bool = True) -> None:
    """`mkdir -p`, every folder it makes 0700 whatever the umask (folders already there are left
    as they are). Without `exist_ok`, FileExistsError when `path` is already there."""
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.is_dir() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    if not missing and not exist_ok:
        raise FileExistsError(errno.EEXIST, "already exists", str(path))
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR_MODE)
        except FileExistsError:
            if (folder == path and not exist_ok) or not folder.is_dir():
                raise
            continue  # made meanwhile by another thread or process
        os.chmod(folder, PRIVATE_DIR_MODE)  # exact: the umask may have taken bits off


def open_private(path: Path | str, mode: str = "ab", buffering: int = -1) -> Any:
    """Open a file for writing in place (a journal, a file SQLite then opens), creating it 0600
    whatever the umask; a file of ours from before with a wider mode is narrowed to 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else 0) | (os.O_TRUNC if "w" in mode else 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o777 != PRIVATE_FILE_MODE:
            os.fchmod(fd, PRIVATE_FILE_MODE)
        return os.fdopen(fd, mode, buffering=buffering)
    except BaseException:
        os.close(fd)
        raise


def _with_suffix(path: str, suffix: str) -> str:
    return f"{path[:-3]}-{suffix}.md"


def _atomic_write(path: Path, text: str, within: Path | None = None) -> int:
    return write_atomically(path, [text], within=within)


def write_atomically(path: Path, chunks: Iterable[str | bytes], *, within: Path | None = None) -> int:
    """Write chunks (text as UTF-8, or bytes) to a temporary file beside `path`, then rename it into place: the
    file is whole or absent, never half-written (a crash leaves a `.tmp-*.part`, removed on the
    next open). Returns the bytes written.

    Folders are created only below `within`, which must exist: a late write of a crawl that was
    just deleted fails (FileNotFoundError) instead of bringing back a folder with one file in it."""
    if within is not None and not path.parent.is_dir():
        if not within.is_dir():
            raise FileNotFoundError(errno.ENOENT, "the folder is gone", str(within))
        make_private_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")  # 0600, less by the umask
    size = 0
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                data = chunk.encode("utf-8") if isinstance(chunk, str) else chunk
                handle.write(data)
                size += len(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return size


def write_json(path: Path, data: Any) -> None:
    """`data` as indented JSON, written atomically; encoded as it is written, so a large document
    (llms-report.json of a 100,000-page crawl) is never one string in memory."""
    write_atomically(path, _json_chunks(data))


def _json_chunks(data: Any, batch: int = 4096) -> Iterator[str]:
    pending: list[str] = []
    for piece in json.JSONEncoder(indent=2, ensure_ascii=False).iterencode(data):
        pending.append(piece)
        if len(pending) >= batch:
            yield "".join(pending)
            pending.clear()
    pending.append("\n")
    yield "".join(pending)


def append_line(handle: Any, path: Path, line: str) -> None:
    """Append one whole line to an unbuffered journal file, or nothing at all.

    A write the disk cannot take (or any other write error) is undone by cutting the file back
    to its size before it; a disk-full error is raised as DiskFull.
    """
    data = line.encode("utf-8")
    fd = handle.fileno()
    before = os.fstat(fd).st_size
    try:
        written = 0
        while written < len(data):
            written += handle.write(data[written:])
    except OSError as exc:
        try:
            os.ftruncate(fd, before)
        except OSError:
            pass  # the next open() cuts a torn last line anyway
        if is_disk_full(exc):
            raise DiskFull(path, exc.errno or errno.ENOSPC) from exc
        raise


class CrawlStore:
    """Streaming writer for one crawl: start, write pages one at a time, close."""

    def __init__(self, crawl_dir: Path) -> None:
        self.crawl_dir = Path(crawl_dir)
        self.pages_dir = self.crawl_dir / PAGES_DIR
        self.manifest_path = self.crawl_dir / "manifest.jsonl"
        self.discovered_path = self.crawl_dir / "discovered.jsonl"
        self.links_path = self.crawl_dir / LINKS_FILE
        self._links = None
        self._lock = threading.Lock()
        self._used_paths = Fingerprints()  # the page paths given out, lower-cased
        self._manifest = None
        self._discovered = None
        self._closed = False

    def open(self) -> None:
        """Open for appending; after a crash, first cut a torn last line and drop half-written files.

        A line cut off mid-write would otherwise swallow the next record appended after it.
        """
        make_private_dirs(self.pages_dir)
        for path in (self.manifest_path, self.discovered_path, self.links_path):
            drop_torn_tail(path)
        remove_partial_files(self.pages_dir)
        self._used_paths = Fingerprints(entry["path"].lower() for entry in iter_manifest(self.crawl_dir)
                                        if isinstance(entry.get("path"), str))
        # Unbuffered: each record goes to the file in one write, nothing lingers in a buffer.
        self._manifest = open_private(self.manifest_path, "ab", buffering=0)
        self._discovered = open_private(self.discovered_path, "ab", buffering=0)
        self._links = open_private(self.links_path, "ab", buffering=0)

    def write_meta(self, name: str, data: Any) -> None:
        """config.json, crawl.json, summary.json: small files rewritten atomically."""
        path = self.crawl_dir / name
        try:
            write_json(path, data)
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFull(path, exc.errno or errno.ENOSPC) from exc
            raise

    def save_site_file(self, name: str, body: bytes, *, url: str, truncated: bool, fetched_at: str) -> None:
        """Keep a file the site publishes for models (its llms.txt, llms-full.txt) as fetched, in
        `site/`, written atomically, and note its URL and size in `site/files.json`."""
        target = site_file(self.crawl_dir, name)
        if target is None:
            raise ValueError(f"not a file a site publishes: {name!r}")
        with self._lock:
            if self._closed:
                raise StoreClosed()
            try:
                size = write_atomically(target, [body], within=self.crawl_dir)
                index = target.parent / SITE_FILES_INDEX
                try:
                    known = json.loads(index.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    known = {}
                known = known if isinstance(known, dict) else {}
                known[name] = {"url": url, "bytes": size, "truncated": truncated, "fetched_at": fetched_at}
                write_json(index, known)
            except OSError as exc:
                if is_disk_full(exc):
                    raise DiskFull(target, exc.errno or errno.ENOSPC) from exc
                raise

    def _full(self, exc: OSError, path: Path) -> DiskFull:
        """The disk is full: take nothing more (called with the lock held)."""
        self._close_files()
        return DiskFull(path, exc.errno or errno.ENOSPC)

    def _unique_path(self, url: str) -> str:
        path = relative_page_path(url)
        if path.lower() in self._used_paths:
            path = _with_suffix(path, hashlib.sha1(url.encode()).hexdigest()[:8])
        self._used_paths.add(path.lower())
        return path

    def _resolve_inside(self, relative: str) -> Path:
        target = page_file(self.crawl_dir, relative)
        if target is None:
            raise ValueError(f"refusing to write outside the crawl folder: {relative}")
        return target

    def _append(self, entry: ManifestEntry) -> None:
        assert self._manifest is not None, "open() the store first"
        try:
            append_line(self._manifest, self.manifest_path, json.dumps(entry.as_record(), ensure_ascii=False) + "\n")
        except DiskFull as exc:
            raise self._full(exc, self.manifest_path) from exc

    def save_page(self, *, url: str, document: str, title: str | None, depth: int,
                  http_status: int | None, words: int, fetched_at: str, source: str | None = None,
                  canonical: str | None = None, site_name: str | None = None,
                  description: str | None = None, etag: str | None = None, last_modified: str | None = None,
                  body_sha256: str | None = None, reused: str | None = None,
                  links: list[str] | None = None, rendered: bool = False,
                  render_reason: str | None = None, nav: list[str] | None = None,
                  heading_ids: list[list[str]] | None = None, site_markdown: str | None = None,
                  from_site_markdown: bool | None = None,
                  definition_ids: list[list[str]] | None = None) -> ManifestEntry:
        """Write the page's Markdown file and its manifest line, or raise StoreClosed.

        `site_name` and `description` (the page's og:site_name and meta description), the
        validators, the body's hash and `reused` are stored only when given, so a manifest line
        without them stays as it always was. `links` (the links found on the page) go to
        links.jsonl, before the manifest line, for a later refresh that reuses the page.
        """
        with self._lock:
            if self._closed:
                raise StoreClosed()
            relative = self._unique_path(canonical or url)
            target = self._resolve_inside(relative)
            try:
                size = _atomic_write(target, document, within=self.pages_dir)
            except OSError as exc:
                if is_disk_full(exc):
                    raise self._full(exc, target) from exc
                raise
            entry = ManifestEntry(url, PageStatus.OK, http_status, title, depth, relative, size, words, None, fetched_at,
                                  None, source, canonical, site_name, description, etag, last_modified,
                                  body_sha256, reused, rendered, render_reason,
                                  [str(label)[:80] for label in nav][:6] if isinstance(nav, list) else None,
                                  _heading_ids(heading_ids),
                                  site_markdown[:2048] if isinstance(site_markdown, str) else None,
                                  True if from_site_markdown is True else None,
                                  _heading_ids(definition_ids, 1000))
            if links is not None and self._links is not None:
                line = json.dumps({"url": url, "links": links}, ensure_ascii=False) + "\n"
                try:
                    append_line(self._links, self.links_path, line)
                except DiskFull as exc:
                    raise self._full(exc, self.links_path) from exc
            self._append(entry)
            return entry

    def record(self, *, url: str, status: PageStatus, error: str | None, depth: int, http_status: int | None,
               fetched_at: str, title: str | None = None, reason: str | None = None,
               source: str | None = None, rendered: bool = False,
               render_reason: str | None = None, description: str | None = None) -> ManifestEntry:
        """A manifest line for a page without a file: failed, skipped, or fetched by a discovery
        (with its meta description, when it has one)."""
        with self._lock:
            if self._closed:
                raise StoreClosed()
            entry = ManifestEntry(url, status, http_status, title, depth, None, 0, 0, error, fetched_at,
                                  reason, source, rendered=rendered, render_reason=render_reason,
                                  description=description)
            self._append(entry)
            return entry

    def record_discovered(self, url: str, source: str, depth: int) -> None:
        """One line per URL admitted to the crawl, with how it was found (the discovery list)."""
        with self._lock:
            if self._closed or self._discovered is None:
                raise StoreClosed()
            line = json.dumps({"url": url, "source": source, "depth": depth}) + "\n"
            try:
                append_line(self._discovered, self.discovered_path, line)
            except DiskFull as exc:
                raise self._full(exc, self.discovered_path) from exc

    def close(self) -> None:
        """From here on nothing more is written. Idempotent."""
        with self._lock:
            self._close_files()

    def _close_files(self) -> None:
        self._closed = True
        for handle in (self._manifest, self._discovered, self._links):
            if handle is not None:
                handle.close()
        self._manifest = self._discovered = self._links = None

    @property
    def closed(self) -> bool:
        return self._closed


def drop_torn_tail(path: Path) -> int:
    """Truncate a JSON-lines file after its last complete line; returns the bytes removed."""
    if not path.exists():
        return 0
    with open(path, "rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        handle.seek(max(0, size - 1))
        if handle.read(1) == b"\n":
            return 0
        # Walk back to the last newline in blocks: the torn line is at most one record long.
        end = size
        while end > 0:
            start = max(0, end - 65536)
            handle.seek(start)
            block = handle.read(end - start)
            cut = block.rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                break
            end = start
        else:
            keep = 0
        handle.truncate(keep)
        return size - keep


def remove_partial_files(pages_dir: Path) -> int:
    """Delete temporary files a crash left behind (a page, or llms.txt beside pages/, is only real
    once renamed)."""
    removed = 0
    pages_dir = Path(pages_dir)
    for tmp in [*pages_dir.rglob(".tmp-*.part"), *pages_dir.parent.glob(".tmp-*.part")]:
        try:
            tmp.unlink()
            removed += 1
        except OSError:
            pass
    return removed
