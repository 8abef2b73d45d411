"""Refreshing a crawl: what the earlier crawl knew about each page, and what changed since.

A refresh is a new crawl with the same settings as an earlier one (`refresh_of` in its
crawl.json). While it runs, :class:`PreviousCrawl` gives the engine, for each URL the earlier
crawl saved, its validators (ETag, Last-Modified: sent as ``If-None-Match`` /
``If-Modified-Since``), the hash of the body it fetched, its manifest record, its Markdown file
and the links found on it (``links.jsonl``). A page that answers 304, or whose body hashes the
same, is reused: its file and record are copied into the new crawl and its stored links are
followed, without parsing or extracting it again.

At the end, :func:`write_changes` compares the two folders page by page and writes
``changes.json``: pages new, changed (with a unified diff of their Markdown), removed and
unchanged.
"""

from __future__ import annotations

import difflib
import json
import logging
import threading
from pathlib import Path
from typing import Any

from .events import iso_timestamp
from .store import LINKS_FILE, inside, iter_manifest, write_json

log = logging.getLogger(__name__)

CHANGES_FILE = "changes.json"
MAX_DIFF_BYTES = 20_000  # one page's diff beyond this is cut, with a note
MAX_TOTAL_DIFF_BYTES = 2_000_000  # diffs past this total are left out, with a note
DIFF_CONTEXT = 2


def page_key(record: dict[str, Any]) -> str:
    """A page's identity in a crawl folder: its canonical URL when it declared one, else its URL."""
    return record.get("canonical") or record["url"]


def saved_pages(crawl_dir: Path) -> dict[str, dict[str, Any]]:
    """The saved pages of a crawl folder by URL fetched (the last record wins)."""
    pages: dict[str, dict[str, Any]] = {}
    for record in iter_manifest(crawl_dir):
        if record.get("status") == "ok" and isinstance(record.get("url"), str) and isinstance(record.get("path"), str):
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


def read_page_file(crawl_dir: Path, relative: str) -> str | None:
    """A page's Markdown, never from outside the folder's pages/."""
    path = inside(Path(crawl_dir) / "pages", Path(crawl_dir) / relative)
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


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
        return read_page_file(self.crawl_dir, record["path"]) if record else None


def unified_diff(before: str, after: str, url: str) -> tuple[str, bool]:
    """A readable unified diff of two Markdown texts; (diff, cut) with `cut` when it was capped."""
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), fromfile=f"before: {url}",
                                 tofile=f"after: {url}", n=DIFF_CONTEXT, lineterm="")
    out: list[str] = []
    size = 0
    for line in lines:
        size += len(line.encode("utf-8")) + 1
        if size > MAX_DIFF_BYTES:
            return "\n".join(out) + "\n", True
        out.append(line)
    return "\n".join(out) + "\n", False


def build_changes(old_dir: Path, new_dir: Path, *, state: str | None = None) -> dict[str, Any]:
    """The report: every page saved by either crawl in exactly one of new, changed, removed,
    unchanged or unchecked (by page identity; unchanged means the same Markdown)."""
    old = {page_key(r): r for r in saved_pages(old_dir).values()}
    new = {page_key(r): r for r in saved_pages(new_dir).values()}
    added = [key for key in new if key not in old]
    # A page the refresh did not save is `removed` only when that is known: the refresh asked
    # for it and got no page (a 404, a redirect away, a refusal), or it ran to its end within its
    # page budget and never found a link to it. Otherwise (stopped early, budget used up) it is
    # `unchecked`: the refresh did not reach it.
    judged = judged_urls(new_dir)
    exhaustive = state == "completed" and not budget_reached(new_dir)
    removed: list[dict[str, Any]] = []
    unchecked: list[str] = []
    for key, record in old.items():
        if key in new:
            continue
        seen = judged.get(key) or judged.get(record["url"])
        if seen is not None:
            removed.append({"url": key, "why": seen.get("error") or seen.get("status")})
        elif exhaustive:
            removed.append({"url": key, "why": "no longer linked from the site"})
        else:
            unchecked.append(key)
    unchanged: list[str] = []
    changed: list[dict[str, Any]] = []
    reused = sum(1 for record in new.values() if record.get("reused"))
    total_diff = 0
    for key, record in new.items():
        if key not in old:
            continue
        after = read_page_file(new_dir, record["path"]) or ""
        before = read_page_file(old_dir, old[key]["path"]) or ""
        if after == before:
            unchanged.append(key)
            continue
        entry: dict[str, Any] = {"url": key, "title": record.get("title"),
                                 "bytes_before": len(before.encode("utf-8")), "bytes_after": len(after.encode("utf-8"))}
        if total_diff >= MAX_TOTAL_DIFF_BYTES:
            entry.update(diff=None, truncated=True,
                         note=f"diff left out: the report already holds {MAX_TOTAL_DIFF_BYTES:,} bytes of diffs")
        else:
            diff, cut = unified_diff(before, after, key)
            total_diff += len(diff)
            entry.update(diff=diff, truncated=cut)
            if cut:
                entry["note"] = f"diff cut at {MAX_DIFF_BYTES:,} bytes; compare the two crawls' files for the rest"
        changed.append(entry)
    return {
        "crawl_id": Path(new_dir).name,
        "refresh_of": Path(old_dir).name,
        "state": state,
        "complete": state == "completed",
        "generated_at": iso_timestamp(),
        "counts": {"new": len(added), "changed": len(changed), "removed": len(removed),
                   "unchanged": len(unchanged), "unchecked": len(unchecked), "reused": reused},
        "new": sorted(added),
        "changed": sorted(changed, key=lambda entry: entry["url"]),
        "removed": sorted(removed, key=lambda entry: entry["url"]),
        "unchanged": sorted(unchanged),
        "unchecked": sorted(unchecked),
    }


def write_changes(old_dir: Path, new_dir: Path, *, state: str | None = None) -> dict[str, Any] | None:
    """Write changes.json into the new crawl's folder; None (logged) if either folder is gone."""
    if not Path(old_dir).is_dir() or not Path(new_dir).is_dir():
        log.warning("no change report for %s: the crawl it refreshes (%s) is gone", Path(new_dir).name,
                    Path(old_dir).name)
        return None
    report = build_changes(old_dir, new_dir, state=state)
    write_json(Path(new_dir) / CHANGES_FILE, report)
    return report
