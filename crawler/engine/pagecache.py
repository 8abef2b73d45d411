"""A cache of fetched page bodies in the data directory, so a discovery followed by a crawl of
its selection downloads each selected page once.

A discovery fetches and parses every page it finds but stores none; the crawl of the pages a
person then selects would fetch them all again. The discovery puts each HTML body it fetched here
(keyed by the canonical URL it asked for), with the response's validators (ETag,
Last-Modified); the selection crawl looks each URL up before fetching it:

* an entry with validators is revalidated: the request carries ``If-None-Match`` /
  ``If-Modified-Since``, a 304 means the cached body is used, anything else is a normal fetch;
* an entry without validators is used as it is while it is younger than ``fresh_seconds``
  (10 minutes by default: a discovery and the crawl of its selection are minutes apart), and
  fetched again after that.

Layout: ``<data-dir>/.cache/pages/<sha256 of the URL>.page``, each file one JSON line of
metadata then the body, written atomically (temp file + rename), so several processes (web
servers and cluster workers on a shared data directory) can use one cache. Bounded in bytes
(``max_bytes``, 256 MB by default, ``CRAWLER_PAGE_CACHE_BYTES``): when a write takes it over
the limit, the least recently used files go first (a hit touches its file's modification time).
The cache only saves downloads: a missing, evicted or damaged entry is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crawler.engine.fetch import FetchedPage
from crawler.folder.writer import make_private_dirs, write_atomically

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_FRESH_SECONDS = 600.0
CACHE_SUBDIR = Path(".cache") / "pages"
SUFFIX = ".page"


@dataclass
class CachedPage:
    url: str  # the URL asked for (canonical)
    final_url: str  # where the body came from (after redirects)
    http_status: int
    encoding: str | None
    etag: str | None
    last_modified: str | None
    stored_at: float  # time.time() of the fetch
    body: bytes

    @property
    def has_validators(self) -> bool:
        return bool(self.etag or self.last_modified)

    def as_page(self) -> FetchedPage:
        return FetchedPage(self.final_url, self.http_status, self.body, self.encoding, self.etag, self.last_modified)

    def conditional_headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


def max_bytes_from_env(environ: dict[str, str] | None = None) -> int:
    raw = (environ if environ is not None else os.environ).get("CRAWLER_PAGE_CACHE_BYTES", "").strip()
    try:
        return int(raw) if raw else DEFAULT_MAX_BYTES
    except ValueError:
        log.warning("CRAWLER_PAGE_CACHE_BYTES must be a number of bytes, got %r; using the default", raw)
        return DEFAULT_MAX_BYTES


class PageCache:
    """Bodies by canonical URL, least recently used out first; safe from many threads."""

    def __init__(self, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES,
                 fresh_seconds: float = DEFAULT_FRESH_SECONDS) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.fresh_seconds = fresh_seconds
        self._lock = threading.Lock()
        self._size: int | None = None  # bytes on disk, counted on first write

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> PageCache:
        return cls(Path(data_dir) / CACHE_SUBDIR, max_bytes_from_env())

    def _path(self, url: str) -> Path:
        return self.directory / (hashlib.sha256(url.encode("utf-8")).hexdigest() + SUFFIX)

    def get(self, url: str) -> CachedPage | None:
        """The entry for `url`, or None (missing, damaged). A hit counts as a use (LRU)."""
        path = self._path(url)
        try:
            with open(path, "rb") as handle:
                meta = json.loads(handle.readline())
                body = handle.read()
            os.utime(path)
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("url") != url or meta.get("size") != len(body):
            return None
        return CachedPage(url, meta.get("final_url") or url, int(meta.get("http_status") or 200),
                          meta.get("encoding"), meta.get("etag"), meta.get("last_modified"),
                          float(meta.get("stored_at") or 0), body)

    def is_fresh(self, entry: CachedPage, now: float | None = None) -> bool:
        """Usable without asking the server: only entries without validators, while young."""
        return not entry.has_validators and (now or time.time()) - entry.stored_at < self.fresh_seconds

    def put(self, url: str, *, final_url: str, http_status: int, encoding: str | None, etag: str | None,
            last_modified: str | None, body: bytes) -> None:
        """Store a body (replacing any older one); never raises for a disk problem."""
        if len(body) > self.max_bytes // 4:  # one page may not push most of the cache out
            return
        meta = {"url": url, "final_url": final_url, "http_status": http_status, "encoding": encoding,
                "etag": etag, "last_modified": last_modified, "stored_at": time.time(), "size": len(body)}
        header = json.dumps(meta, ensure_ascii=False).encode("utf-8") + b"\n"
        target = self._path(url)
        try:
            make_private_dirs(self.directory)
            write_atomically(target, [header, body])
        except OSError as exc:
            log.warning("page cache: could not store %s: %s", url, exc)
            return
        with self._lock:
            if self._size is None:
                self._size = self._scan_size()
            else:
                self._size += len(header) + len(body)
            if self._size > self.max_bytes:
                self._size = self._evict()

    def _scan_size(self) -> int:
        total = 0
        for path in self.directory.glob("*" + SUFFIX):
            try:
                total += path.stat().st_size
            except OSError:
                pass
        return total

    def _evict(self) -> int:
        """Remove the least recently used files until the cache is at 90 % of its limit; the
        bytes left. Run with the lock held (other processes may evict at the same time: a file
        already gone is simply not counted)."""
        entries = []
        for path in self.directory.glob("*" + SUFFIX):
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((stat.st_mtime, stat.st_size, path))
        entries.sort()
        total = sum(size for _, size, _ in entries)
        goal = int(self.max_bytes * 0.9)
        for _, size, path in entries:
            if total <= goal:
                break
            try:
                path.unlink()
            except OSError:
                continue
            total -= size
        return total

    def size(self) -> int:
        return self._scan_size()


def fetch_through(cache: PageCache | None, url: str, fetch: Callable[[dict[str, str] | None], FetchedPage], *,
                  read: bool, write: bool) -> tuple[FetchedPage, str | None]:
    """Fetch `url` through the cache: (page, how) where `how` is None for a plain download,
    ``"cache"`` for a fresh entry used without a request, ``"revalidated"`` for a 304 answered to
    the entry's validators (its body used). `fetch(conditional)` downloads. With `write`, a full
    download is stored for later crawls."""
    entry = cache.get(url) if cache is not None and read else None
    if entry is not None and cache is not None and cache.is_fresh(entry):
        return entry.as_page(), "cache"
    conditional = entry.conditional_headers() if entry is not None and entry.has_validators else None
    page = fetch(conditional)
    if page.not_modified and entry is not None:
        return entry.as_page(), "revalidated"
    if cache is not None and write and not page.not_modified:
        cache.put(url, final_url=page.url, http_status=page.http_status, encoding=page.encoding, etag=page.etag,
                  last_modified=page.last_modified, body=page.body)
    return page, None
