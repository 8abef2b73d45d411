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
import logging
from pathlib import Path
from typing import Any

from crawler.engine.events import iso_timestamp
from crawler.folder.reader import (
    budget_reached,
    judged_urls,
    page_key,
    read_page,
    saved_pages,
)
from crawler.folder.writer import write_json

log = logging.getLogger(__name__)


CHANGES_FILE = "changes.json"


MAX_DIFF_BYTES = 20_000  # one page's diff beyond this is cut, with a note


MAX_TOTAL_DIFF_BYTES = 2_000_000  # diffs past this total are left out, with a note


DIFF_CONTEXT = 2


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
        after = read_page(new_dir, record["path"], body=False) or ""
        before = read_page(old_dir, old[key]["path"], body=False) or ""
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
