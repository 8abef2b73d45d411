"""Crash safety and resume: torn journals, stop-then-resume in the engine, kill -9 of the real server."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from crawler.folder.reader import iter_manifest
from tests.support.server import Client, ServerProcess, wait_until
from tests.support.site import DocSite, SiteOptions, page_path


def manifest(crawl_dir: Path) -> list[dict[str, Any]]:
    return list(iter_manifest(crawl_dir))


def log_seqs(lines: list[dict[str, Any]]) -> list[int]:
    """The numbered log lines' seqs, in the order they were emitted."""
    return [line["seq"] for line in lines if line["seq"] is not None]


# ---- kill -9 of the real server, restart, resume ----

def crawl_row(client: Client, crawl_id: str) -> dict[str, Any]:
    rows = client.http.get(client.base + "/api/crawls", timeout=5).json()["crawls"]
    return next(row for row in rows if row["crawl_id"] == crawl_id)


@pytest.mark.slow
def test_kill_9_then_restart_lists_interrupted_and_resume_completes(tmp_path: Path):
    site = DocSite(SiteOptions(pages=60, latency=0.05, extra_links=False)).start()
    data_dir = tmp_path / "crawls"
    server = ServerProcess(data_dir, "--allow-private-targets")
    try:
        client = first_client = Client(server.base, connect=True)  # records the first run's log lines
        started = client.http.post(server.base + "/api/crawls", timeout=10, json={
            "url": site.base + "/docs/", "concurrency": 2, "use_sitemaps": False})
        assert started.status_code == 202, started.text
        crawl_id = started.json()["crawl_id"]
        crawl_dir = data_dir / crawl_id
        wait_until(lambda: sum(1 for e in manifest(crawl_dir) if e["status"] == "ok") >= 12, timeout=60,
                   message="a dozen saved pages")
        wait_until(lambda: first_client.of("crawler_log", crawl_id), timeout=10, message="the first log lines")
        server.process.kill()  # SIGKILL: no handler runs, no summary is written
        server.process.wait(10)
        server.stop()
        first_client.close()
        first_seqs = log_seqs(first_client.of("crawler_log", crawl_id))
        kept = [e for e in manifest(crawl_dir) if e["status"] == "ok"]
        assert not (crawl_dir / "summary.json").exists()

        server = ServerProcess(data_dir, "--allow-private-targets")
        client = Client(server.base, connect=True, cookies=client.http.cookies)
        row = crawl_row(client, crawl_id)
        assert row["state"] == "interrupted" and row["ok"] == len(kept)
        download = client.http.get(server.base + f"/api/crawls/{crawl_id}/download?format=jsonl", timeout=10)
        assert download.status_code == 200
        downloaded = [json.loads(line) for line in download.text.splitlines()]
        assert {e["url"] for e in kept} <= {e["url"] for e in downloaded if e["status"] == "ok"}

        resumed = client.http.post(server.base + f"/api/crawls/{crawl_id}/resume", timeout=10)
        assert resumed.status_code == 202, resumed.text
        summary = client.wait_finished(crawl_id, timeout=90)["summary"]
        assert summary["state"] == "completed", summary

        records = manifest(crawl_dir)
        urls = Counter(e["url"] for e in records)
        assert max(urls.values()) == 1, [u for u, n in urls.items() if n > 1]  # no duplicate records
        assert {urlsplit(u).path for u in urls} == {page_path(i) for i in range(60)}  # every page accounted for
        assert all(e["status"] == "ok" for e in records)
        assert {e["url"] for e in kept} <= set(urls)  # records lost: 0
        for entry in kept:  # stored before the kill: never fetched again
            assert len(site.times_of(urlsplit(entry["url"]).path)) == 1, entry["url"]
        assert crawl_row(client, crawl_id)["ok"] == 60
        # The resumed run's log lines, as Socket.IO delivered them, are numbered after every line
        # of the run the kill cut off: a client merging by seq keeps them all.
        resumed_seqs = log_seqs(client.of("crawler_log", crawl_id))
        assert first_seqs and resumed_seqs
        seqs = first_seqs + resumed_seqs
        assert all(a < b for a, b in zip(seqs, seqs[1:])), seqs
        client.close()
    finally:
        server.stop()
        site.stop()


@pytest.mark.parametrize("mode", ["threading", "eventlet"])
def test_sigterm_marks_running_crawls_interrupted_and_resumable(tmp_path: Path, mode: str):
    site = DocSite(SiteOptions(pages=60, latency=0.05, extra_links=False)).start()
    data_dir = tmp_path / "crawls"
    server = ServerProcess(data_dir, "--allow-private-targets", "--server", mode)
    try:
        client = Client(server.base, connect=False)
        crawl_id = client.http.post(server.base + "/api/crawls", timeout=10, json={
            "url": site.base + "/docs/", "concurrency": 2, "use_sitemaps": False}).json()["crawl_id"]
        crawl_dir = data_dir / crawl_id
        wait_until(lambda: sum(1 for e in manifest(crawl_dir) if e["status"] == "ok") >= 5, timeout=60)
        server.process.terminate()  # SIGTERM
        assert server.process.wait(20) is not None
        summary = json.loads((crawl_dir / "summary.json").read_text())
        assert summary["state"] == "interrupted" and summary["ok"] >= 5
        assert json.loads((crawl_dir / "crawl.json").read_text())["state"] == "interrupted"
        server.stop()

        server = ServerProcess(data_dir, "--allow-private-targets")
        client = Client(server.base, connect=False, cookies=client.http.cookies)
        assert crawl_row(client, crawl_id)["state"] == "interrupted"
        assert client.http.post(server.base + f"/api/crawls/{crawl_id}/resume", timeout=10).status_code == 202
        wait_until(lambda: crawl_row(client, crawl_id)["state"] == "completed", timeout=90)
        assert crawl_row(client, crawl_id)["ok"] == 60
        client.close()
    finally:
        server.stop()
        site.stop()


def test_resume_refuses_running_completed_and_foreign_crawls(tmp_path: Path):
    site = DocSite(SiteOptions(pages=5, extra_links=False)).start()
    server = ServerProcess(tmp_path / "crawls", "--allow-private-targets")
    try:
        owner, stranger = Client(server.base, connect=True), Client(server.base, connect=True)
        crawl_id = owner.start({"url": site.base + "/docs/", "use_sitemaps": False})
        owner.wait_finished(crawl_id)
        answer = owner.http.post(server.base + f"/api/crawls/{crawl_id}/resume", timeout=10)
        assert answer.status_code == 409 and "completed" in answer.json()["error"]
        assert stranger.http.post(server.base + f"/api/crawls/{crawl_id}/resume", timeout=10).status_code == 404
        ack = stranger.call("resume_crawl", {"crawl_id": crawl_id})
        assert ack["ok"] is False and "unknown crawl" in ack["error"]
        ack = owner.call("resume_crawl", {"crawl_id": crawl_id})
        assert ack["ok"] is False and "completed" in ack["error"]
        owner.close()
        stranger.close()
    finally:
        server.stop()
        site.stop()
