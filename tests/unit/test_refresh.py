"""Refresh: a second crawl of a site that changed, reusing what did not, and the report of what did.
Also the page cache between a discovery and the crawl of its selection.

The site here changes between two crawls (pages added, removed, edited), and answers conditional
requests the way real servers do: some pages with an ETag, some with Last-Modified, some with
neither. It records every request with its conditional headers and what it answered, so the
tests assert on what the server really saw.
"""

from __future__ import annotations

import json

from crawler.engine.pagecache import PageCache
from crawler.outputs.changes import build_changes


def test_changes_report_caps_a_long_diff(tmp_path):
    """A page whose every line changed: its diff is cut at the cap, with a note saying so."""
    from crawler.outputs.changes import MAX_DIFF_BYTES

    for name, text in (("old", "old line"), ("new", "new line")):
        folder = tmp_path / name
        (folder / "pages").mkdir(parents=True)
        (folder / "pages" / "p.md").write_text("\n".join(f"{text} {n}" for n in range(5000)))
        (folder / "manifest.jsonl").write_text(json.dumps(
            {"url": "https://x.org/p", "status": "ok", "path": "pages/p.md", "title": "P"}) + "\n")
    report = build_changes(tmp_path / "old", tmp_path / "new", state="completed")
    (entry,) = report["changed"]
    assert entry["truncated"] is True and "cut at" in entry["note"]
    assert MAX_DIFF_BYTES - 100 < len(entry["diff"].encode()) <= MAX_DIFF_BYTES + 1


def test_pages_a_refresh_did_not_reach_are_unchecked_not_removed(tmp_path):
    """Removed only when known: a page the refresh asked for and lost, or one it never found
    although it ran to its end within its budget. A stopped refresh, or one whose page budget
    ran out, did not reach the rest: those are `unchecked`."""
    def folder(name: str, records: list[dict], summary: dict | None = None, max_pages: int = 100) -> None:
        path = tmp_path / name
        (path / "pages").mkdir(parents=True)
        for record in records:
            if record["status"] == "ok":
                (path / record["path"]).write_text(f"# {record['url']}\n")
        (path / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        (path / "config.json").write_text(json.dumps({"max_pages": max_pages}))
        (path / "summary.json").write_text(json.dumps(summary or {"discovered": len(records)}))

    def ok(n: int) -> dict:
        return {"url": f"https://x.org/{n}", "status": "ok", "path": f"pages/{n}.md"}

    folder("old", [ok(1), ok(2), ok(3)])
    folder("new", [ok(1), {"url": "https://x.org/2", "status": "failed", "error": "HTTP 404 Not Found"}])
    stopped = build_changes(tmp_path / "old", tmp_path / "new", state="stopped")
    assert stopped["removed"] == [{"url": "https://x.org/2", "why": "HTTP 404 Not Found"}]
    assert stopped["unchecked"] == ["https://x.org/3"] and stopped["counts"]["unchecked"] == 1
    completed = build_changes(tmp_path / "old", tmp_path / "new", state="completed")
    assert [entry["url"] for entry in completed["removed"]] == ["https://x.org/2", "https://x.org/3"]
    assert completed["removed"][1]["why"] == "no longer linked from the site" and completed["unchecked"] == []
    folder("full", [ok(1), {"url": "https://x.org/2", "status": "failed", "error": "HTTP 404 Not Found"}],
           summary={"discovered": 2}, max_pages=2)
    budget = build_changes(tmp_path / "old", tmp_path / "full", state="completed")
    assert budget["unchecked"] == ["https://x.org/3"]


def test_page_cache_evicts_the_least_recently_used(tmp_path):
    cache = PageCache(tmp_path / "cache", max_bytes=10_000)
    for n in range(4):
        cache.put(f"https://x.org/{n}", final_url=f"https://x.org/{n}", http_status=200, encoding=None,
                  etag=None, last_modified=None, body=b"x" * 2000)
    assert cache.get("https://x.org/0") is not None  # used: now the most recent
    for n in range(4, 6):
        cache.put(f"https://x.org/{n}", final_url=f"https://x.org/{n}", http_status=200, encoding=None,
                  etag=None, last_modified=None, body=b"x" * 2000)
    kept = {n for n in range(6) if cache.get(f"https://x.org/{n}") is not None}
    assert cache.size() <= 10_000
    assert 0 in kept and 5 in kept and 1 not in kept
