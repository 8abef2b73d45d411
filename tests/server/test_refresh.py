"""Refresh: a second crawl of a site that changed, reusing what did not, and the report of what did.
Also the page cache between a discovery and the crawl of its selection.

The site here changes between two crawls (pages added, removed, edited), and answers conditional
requests the way real servers do: some pages with an ETag, some with Last-Modified, some with
neither. It records every request with its conditional headers and what it answered, so the
tests assert on what the server really saw.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from crawler.engine.pagecache import PageCache
from crawler.folder.reader import iter_manifest
from tests.support import contract
from tests.support.changing_site import CONFIG, LAST_MODIFIED, change_the_site, crawl
from tests.support.server import PROJECT_ROOT, Client


def by_url(crawl_dir: Path) -> dict[str, dict[str, Any]]:
    return {entry["url"]: entry for entry in iter_manifest(crawl_dir)}


# ---------------------------------------------------------------- refresh through the server


def test_refresh_reuses_unchanged_pages_and_reports_exactly_what_changed(app_server, app_client, changing_site):
    old_id, first = crawl(app_client, {"url": changing_site.url("/docs/"), **CONFIG})
    assert first["state"] == "completed" and first["ok"] == 8
    old_records = by_url(app_server.data_dir / old_id)
    assert old_records[changing_site.url("/docs/a.html")]["etag"] == '"/docs/a.html-v1"'
    assert old_records[changing_site.url("/docs/b.html")]["last_modified"] == LAST_MODIFIED
    assert "etag" not in old_records[changing_site.url("/docs/c.html")] and old_records[changing_site.url("/docs/c.html")]["body_sha256"]

    change_the_site(changing_site)
    changing_site.clear()
    answer = app_client.http.post(f"{app_client.base}/api/crawls/{old_id}/refresh", timeout=10)
    assert answer.status_code == 202, answer.text
    assert set(answer.json()) == contract.rest_answer_fields("POST /api/crawls/<id>/refresh")
    new_id = answer.json()["crawl_id"]
    assert answer.json()["refresh_of"] == old_id and new_id != old_id
    summary = app_client.wait_finished(new_id, timeout=30)["summary"]
    assert summary["state"] == "completed" and summary["ok"] == 8
    assert summary["reused"] == 4  # a, b, deep (304) and c (same body): none extracted again

    # What the server saw: validators sent back; 304 for the unchanged pages that have them.
    (a,) = changing_site.hits_of("/docs/a.html")
    assert (a.if_none_match, a.status, a.bytes) == ('"/docs/a.html-v1"', 304, 0)
    (b,) = changing_site.hits_of("/docs/b.html")
    assert (b.if_modified_since, b.if_none_match, b.status) == (LAST_MODIFIED, None, 304)
    (c,) = changing_site.hits_of("/docs/c.html")
    assert (c.if_none_match, c.if_modified_since, c.status) == (None, None, 200)  # nothing to send: full body
    (d,) = changing_site.hits_of("/docs/d.html")
    assert (d.if_none_match, d.status) == ('"/docs/d.html-v1"', 200)  # edited: the new version
    (deep,) = changing_site.hits_of("/docs/deep.html")  # linked only from a, which was reused: still followed
    assert deep.status == 304
    assert changing_site.hits_of("/docs/gone.html") == []  # no longer linked

    # The manifest says which pages were reused and how; their files are the earlier ones.
    new_dir, old_dir = app_server.data_dir / new_id, app_server.data_dir / old_id
    records = by_url(new_dir)
    reused = {url.rsplit("/", 1)[1]: entry.get("reused") for url, entry in records.items() if entry.get("reused")}
    assert reused == {"a.html": "not_modified", "b.html": "not_modified", "deep.html": "not_modified",
                      "c.html": "same_body"}
    for name in ("a.html", "b.html", "c.html", "deep.html"):
        url = changing_site.url(f"/docs/{name}")
        assert (new_dir / records[url]["path"]).read_text() == (old_dir / old_records[url]["path"]).read_text()
    assert records[changing_site.url("/docs/a.html")]["etag"] == '"/docs/a.html-v1"'  # kept for the next refresh

    # The report, page by page.
    report = app_client.http.get(f"{app_client.base}/api/crawls/{new_id}/changes", timeout=10).json()
    assert json.loads((new_dir / "changes.json").read_text()) == report
    documented, example = contract.example_fields('{"crawl_id": "<refresh>"')
    assert set(report) == documented
    assert set(report["counts"]) == contract._top_level_keys(example[example.index('"counts"'):])
    assert {"url", "why"} == set(report["removed"][0]) == contract._top_level_keys(example[example.index('"removed"'):])
    changed_doc = contract._top_level_keys(example[example.index('"changed": [') + len('"changed": ['):])
    assert all(set(entry) in (changed_doc, changed_doc | {"note"}) for entry in report["changed"])
    assert report["refresh_of"] == old_id and report["complete"] is True
    assert report["counts"] == {"new": 1, "changed": 3, "removed": 1, "unchanged": 4, "unchecked": 0, "reused": 4}
    assert report["new"] == [changing_site.url("/docs/new.html")]
    assert report["removed"] == [{"url": changing_site.url("/docs/gone.html"), "why": "no longer linked from the site"}]
    assert report["unchanged"] == sorted(changing_site.url(f"/docs/{n}") for n in ("a.html", "b.html", "c.html", "deep.html"))
    changed = {entry["url"]: entry for entry in report["changed"]}
    assert sorted(changed) == sorted([changing_site.url("/docs/"), changing_site.url("/docs/d.html"), changing_site.url("/docs/e.html")])
    delta = changed[changing_site.url("/docs/d.html")]
    assert delta["truncated"] is False and delta["title"] == "Delta"
    assert "-Delta explains deployment on one server." in delta["diff"]
    assert "+Delta explains deployment on a cluster of servers." in delta["diff"]
    assert delta["diff"].startswith(f"--- before: {changing_site.url('/docs/d.html')}")

    # The link between the two crawls, in the record, the list row and crawl.json.
    detail = app_client.http.get(f"{app_client.base}/api/crawls/{new_id}", timeout=10).json()
    assert detail["refresh_of"] == old_id
    rows = {row["crawl_id"]: row for row in app_client.http.get(f"{app_client.base}/api/crawls", timeout=10).json()["crawls"]}
    assert rows[new_id]["refresh_of"] == old_id and rows[old_id]["refresh_of"] is None
    assert json.loads((new_dir / "crawl.json").read_text())["refresh_of"] == old_id

    # A refresh of the refresh: everything answers 304 or hashes the same now.
    changing_site.clear()
    again = app_client.call("refresh_crawl", {"crawl_id": new_id})
    assert again["ok"] and again["refresh_of"] == new_id and again["state"] == "queued", again
    assert set(again) == contract.socket_ack_fields("refresh_crawl")
    third = app_client.wait_finished(again["crawl_id"], timeout=30)["summary"]
    assert third["ok"] == 8 and third["reused"] == 8  # six 304s, and c and e hash the same
    report = app_client.http.get(f"{app_client.base}/api/crawls/{again['crawl_id']}/changes", timeout=10).json()
    assert report["counts"] == {"new": 0, "changed": 0, "removed": 0, "unchanged": 8, "unchecked": 0, "reused": 8}
    assert sorted(hit.path for hit in changing_site.hits if hit.status == 200) == ["/docs/c.html", "/docs/e.html"]
    assert sum(hit.bytes for hit in changing_site.hits) < sum(len(p.body) for p in changing_site.pages.values())


def test_refresh_refuses_what_it_cannot_do(app_server, app_client, changing_site):
    changing_site.delay["/docs/a.html"] = 3.0
    running = app_client.start({"url": changing_site.url("/docs/"), **CONFIG})
    answer = app_client.http.post(f"{app_client.base}/api/crawls/{running}/refresh", timeout=10)
    assert answer.status_code == 409 and "still" in answer.json()["error"]
    ack = app_client.call("refresh_crawl", {"crawl_id": running})
    assert ack["ok"] is False and "still" in ack["error"]
    assert app_client.http.get(f"{app_client.base}/api/crawls/{running}/changes", timeout=10).status_code == 404  # not a refresh

    other = Client(app_client.base)
    try:  # another session's crawl is unknown, in the same words as one that does not exist
        answer = other.http.post(f"{app_client.base}/api/crawls/{running}/refresh", timeout=10)
        assert answer.status_code == 404 and answer.json()["error"] == f"unknown crawl {running!r}"
        assert other.call("refresh_crawl", {"crawl_id": running}) == {"ok": False,
                                                                      "error": f"unknown crawl {running!r}"}
    finally:
        other.close()
    assert app_client.http.post(f"{app_client.base}/api/crawls/20260101-000000-abcdef/refresh", timeout=10).status_code == 404
    assert app_client.http.post(f"{app_client.base}/api/crawls/..%2F..%2Fetc/refresh", timeout=10).status_code == 404
    assert app_client.call("refresh_crawl", {}) == {"ok": False, "error": 'refresh_crawl needs {"crawl_id": "..."}'}
    app_client.http.post(f"{app_client.base}/api/crawls/{running}/stop", timeout=10)
    app_client.wait_finished(running, timeout=30)

    discovery = app_client.http.post(f"{app_client.base}/api/discover", json={"url": changing_site.url("/docs/"), **CONFIG},
                                 timeout=10).json()["crawl_id"]
    app_client.wait_finished(discovery, timeout=30)
    answer = app_client.http.post(f"{app_client.base}/api/crawls/{discovery}/refresh", timeout=10)
    assert answer.status_code == 409 and "discovery" in answer.json()["error"]

    del changing_site.pages["/docs/"]  # the start page answers 404: the crawl fails, nothing saved
    empty, summary = crawl(app_client, {"url": changing_site.url("/docs/"), **CONFIG})
    assert summary["ok"] == 0
    answer = app_client.http.post(f"{app_client.base}/api/crawls/{empty}/refresh", timeout=10)
    assert answer.status_code == 409 and "saved no page" in answer.json()["error"]


# ---------------------------------------------------------------- discovery, then its selection


def test_a_selection_crawl_after_its_discovery_downloads_each_page_once(app_server, app_client, changing_site):
    answer = app_client.http.post(f"{app_client.base}/api/discover", json={"url": changing_site.url("/docs/"), **CONFIG}, timeout=10)
    discovery = answer.json()["crawl_id"]
    assert app_client.wait_finished(discovery, timeout=30)["state"] == "completed"
    found = app_client.http.get(f"{app_client.base}/api/discover/{discovery}", timeout=10).json()["urls"]
    chosen = [entry["url"] for entry in found if entry["url"].rsplit("/", 1)[1] in ("a.html", "b.html", "c.html", "e.html")]
    assert len(chosen) == 4
    cache = PageCache(app_server.data_dir / ".cache" / "pages")
    assert all(cache.get(url) is not None for url in chosen)

    crawl_id, summary = crawl(app_client, {"url": chosen[0], "urls": chosen, **CONFIG})
    assert summary["ok"] == 4 and summary["from_cache"] == 4
    for url in chosen:
        path = url[len(changing_site.base):]
        full = [hit for hit in changing_site.hits_of(path) if hit.status == 200]
        assert len(full) == 1, f"{path} was downloaded {len(full)} times in full"
        page = changing_site.pages[path]
        if page.validator == "none":  # fresh in the cache: not asked again at all
            assert len(changing_site.hits_of(path)) == 1
        else:  # revalidated: one conditional request, answered 304
            assert [hit.status for hit in changing_site.hits_of(path)] == [200, 304]
    saved = [entry for entry in iter_manifest(app_server.data_dir / crawl_id) if entry["status"] == "ok"]
    assert sorted(entry["url"] for entry in saved) == sorted(chosen)
    assert all((app_server.data_dir / crawl_id / entry["path"]).read_text().count("explains") >= 1 for entry in saved)


# ---------------------------------------------------------------- the terminal


def test_cli_refresh_writes_a_new_folder_beside_the_old_one_with_its_report(tmp_path, changing_site):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "crawler", *args], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=60)

    first = run(changing_site.url("/docs/"), "--out", str(tmp_path), "--allow-private-targets", "--quiet",
                "--ignore-robots", "--no-sitemaps")
    assert first.returncode == 0, first.stderr
    (old_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    change_the_site(changing_site)
    result = run("--refresh", str(old_dir), "--allow-private-targets", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "changes since " + old_dir.name + ": 1 new, 3 changed, 1 removed, 4 unchanged, 0 not reached" in result.stdout
    (new_dir,) = [p for p in tmp_path.iterdir() if p.is_dir() and p != old_dir]
    assert json.loads((new_dir / "crawl.json").read_text())["refresh_of"] == old_dir.name
    assert json.loads((new_dir / "changes.json").read_text())["counts"]["reused"] == 4
    assert json.loads((new_dir / "summary.json").read_text())["reused"] == 4

    refused = run("--refresh", str(tmp_path / "nothing-here"), "--allow-private-targets")
    assert refused.returncode == 2 and "--refresh needs a crawl folder" in refused.stderr
    refused = run("--refresh", str(old_dir), changing_site.url("/docs/"))
    assert refused.returncode == 2 and "give no URL" in refused.stderr
