"""Reading a crawl folder: the manifest (also while a crawl still writes it), the saved pages,
and what an earlier crawl knew of each page (for a refresh)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crawler.engine.events import PageStatus
from crawler.folder.paths import SITE_DIR, SITE_FILE_NAMES, SITE_FILES_INDEX, page_file, site_file

# What the writer puts on top of each page's Markdown: its title and its source URL.
_STORED_HEADER = re.compile(r"\A(?:# [^\n]*\n\n)?Source: <[^\n]*>\n")


def page_body(text: str) -> str:
    """A stored page's Markdown without the title and Source lines written on top of it."""
    return _STORED_HEADER.sub("", text, count=1).strip()


def read_page(crawl_dir: Path, relative: object, *, body: bool = True, limit: int | None = None) -> str | None:
    """A saved page's Markdown (without its stored header unless `body` is False; at most `limit`
    characters), or None when the file is gone or the path is not inside `pages/`."""
    file = page_file(crawl_dir, relative)
    if file is None:
        return None
    try:
        with open(file, encoding="utf-8", errors="replace") as handle:
            text = handle.read() if limit is None else handle.read(limit)
    except OSError:
        return None
    return page_body(text) if body else text


def saved_page_file(crawl_dir: Path, entry: dict[str, Any]) -> Path | None:
    """The file of a manifest entry that saved a page; None for any other entry, a path outside
    `pages/` or a file that is gone."""
    if entry.get("status") != PageStatus.OK or not isinstance(entry.get("url"), str):
        return None
    file = page_file(crawl_dir, entry.get("path"))
    return file if file is not None and file.is_file() else None


def saved_page_files(crawl_dir: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """(manifest entry, file) of every saved page in crawl order, each file once, never a path
    outside `pages/` nor a file that is gone. (It remembers every file: a folder of 100,000 pages
    is better read entry by entry with saved_page_file, dropping repeats elsewhere, as llms.py does.)"""
    seen: set[Path] = set()
    for entry in iter_manifest(crawl_dir):
        file = saved_page_file(crawl_dir, entry)
        if file is None or file in seen:
            continue
        seen.add(file)
        yield entry, file


def page_key(record: dict[str, Any]) -> str:
    """A page's identity in a crawl folder: its canonical URL when it declared one, else its URL."""
    return record.get("canonical") or record["url"]


def saved_pages(crawl_dir: Path) -> dict[str, dict[str, Any]]:
    """The saved pages of a crawl folder by URL fetched (the last record wins)."""
    pages: dict[str, dict[str, Any]] = {}
    for record in iter_manifest(crawl_dir):
        if record.get("status") == PageStatus.OK and isinstance(record.get("url"), str) and isinstance(record.get("path"), str):
            pages[record["url"]] = record
    return pages


def judged_urls(crawl_dir: Path) -> dict[str, dict[str, Any]]:
    """Every URL a crawl folder's manifest has a line for, by URL (the last line wins)."""
    records: dict[str, dict[str, Any]] = {}
    for record in iter_manifest(crawl_dir):
        if isinstance(record.get("url"), str) and record.get("status"):
            records[record["url"]] = record
    return records


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def budget_reached(crawl_dir: Path) -> bool:
    """Whether a crawl admitted as many pages as its `max_pages` allows: pages beyond went unseen."""
    max_pages = _read_json(Path(crawl_dir) / "config.json").get("max_pages")
    discovered = _read_json(Path(crawl_dir) / "summary.json").get("discovered")
    return isinstance(max_pages, int) and isinstance(discovered, int) and discovered >= max_pages


class PreviousCrawl:
    """The earlier crawl a refresh compares with: read once from its folder, then only looked up.

    Records are held in memory (a few hundred bytes a page); the links of a page are read from
    ``links.jsonl`` only when the page is reused, by the offset of its line.
    """

    def __init__(self, crawl_dir: Path) -> None:
        self.crawl_dir = Path(crawl_dir)
        self.crawl_id = self.crawl_dir.name
        self._lock = threading.Lock()
        self._pages: dict[str, dict[str, Any]] | None = None
        self._link_offsets: dict[str, int] = {}

    @property
    def pages(self) -> dict[str, dict[str, Any]]:
        """Read on first use (in the crawl's own thread, not while a host holds its locks)."""
        with self._lock:
            if self._pages is None:
                self._link_offsets = self._read_link_offsets()
                self._pages = saved_pages(self.crawl_dir)
            return self._pages

    def _read_link_offsets(self) -> dict[str, int]:
        offsets: dict[str, int] = {}
        path = self.crawl_dir / LINKS_FILE
        if not path.exists():
            return offsets
        with open(path, "rb") as handle:
            offset = 0
            for line in handle:
                try:
                    url = json.loads(line).get("url")
                except (ValueError, AttributeError):
                    url = None
                if isinstance(url, str):
                    offsets[url] = offset
                offset += len(line)
        return offsets

    def record(self, url: str) -> dict[str, Any] | None:
        return self.pages.get(url)

    def conditional_headers(self, url: str) -> dict[str, str]:
        """If-None-Match / If-Modified-Since for a page the earlier crawl saved with validators.

        Only for pages whose links were stored too: a 304 gives no body to find links in."""
        record = self.pages.get(url)
        if record is None or url not in self._link_offsets:  # (pages read first: offsets are set)
            return {}
        if not (self.crawl_dir / record["path"]).is_file():
            return {}  # its file is gone: a 304 would leave nothing to reuse
        headers = {}
        if record.get("etag"):
            headers["If-None-Match"] = record["etag"]
        if record.get("last_modified"):
            headers["If-Modified-Since"] = record["last_modified"]
        return headers

    def links(self, url: str) -> list[str] | None:
        """The links found on the page when the earlier crawl saved it, or None if not stored."""
        _ = self.pages
        offset = self._link_offsets.get(url)
        if offset is None:
            return None
        try:
            with open(self.crawl_dir / LINKS_FILE, "rb") as handle:
                handle.seek(offset)
                entry = json.loads(handle.readline())
        except (OSError, ValueError):
            return None
        links = entry.get("links") if isinstance(entry, dict) else None
        return [link for link in links if isinstance(link, str)] if isinstance(links, list) else None

    def reuse_reason(self, url: str, not_modified: bool, body_sha256: str | None) -> str | None:
        """Why the earlier crawl's copy of `url` can stand for this fetch: ``not_modified`` (a 304),
        ``same_body`` (the body hashes the same), or None (extract it). Only pages whose links
        were stored qualify: a reused page's links are still followed."""
        record = self.pages.get(url)
        if record is None or url not in self._link_offsets:
            return None
        if not_modified:
            return "not_modified"
        if body_sha256 is not None and record.get("body_sha256") == body_sha256:
            return "same_body"
        return None

    def markdown(self, url: str) -> str | None:
        record = self.pages.get(url)
        return read_page(self.crawl_dir, record["path"], body=False) if record else None


LINKS_FILE = "links.jsonl"  # one line per saved page: {"url", "links"}, the links found on it


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def iter_manifest(crawl_dir: Path, name: str = "manifest.jsonl") -> Iterator[dict[str, Any]]:
    """Entries of a JSON-lines file in order; a torn last line (crash mid-write) is ignored."""
    path = Path(crawl_dir) / name
    if not path.exists():
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def site_files(crawl_dir: Path) -> dict[str, dict[str, Any]]:
    """The files the site publishes for models that the crawl kept (`site/`), by name (`llms.txt`,
    `llms-full.txt`): each `{"url", "bytes", "truncated", "fetched_at", "file"}`; only those there."""
    try:
        known = json.loads((Path(crawl_dir) / SITE_DIR / SITE_FILES_INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    found = {}
    for name in SITE_FILE_NAMES:
        info, file = known.get(name) if isinstance(known, dict) else None, site_file(crawl_dir, name)
        if isinstance(info, dict) and file is not None and file.is_file():
            found[name] = {"url": str(info.get("url", "")), "bytes": file.stat().st_size,
                           "truncated": bool(info.get("truncated")), "fetched_at": str(info.get("fetched_at", "")),
                           "file": file}
    return found
