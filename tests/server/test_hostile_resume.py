"""The issue's end-to-end case: a crawl of the hostile site through the real server, `kill -9`
in the middle, a restart and a resume; every page is accounted for and no record is lost."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from crawler.engine.cpu import EXTRACT_ERROR_MARKER_ENV
from crawler.engine.urls import canonical_url
from crawler.folder.reader import iter_manifest
from tests.support.hostile import EXPECTED, EXTRACT_ERROR_MARKER, MAX_DEPTH, HostileSite
from tests.support.hostile import outcome_key as _key
from tests.support.server import Client, ServerProcess, wait_until


def records(crawl_dir: Path) -> list[dict[str, Any]]:
    return list(iter_manifest(crawl_dir))


@pytest.mark.slow
def test_hostile_crawl_survives_kill_9_and_resume_with_every_page_accounted_for(tmp_path: Path):
    site = HostileSite().start()
    data_dir = tmp_path / "crawls"
    env = {EXTRACT_ERROR_MARKER_ENV: EXTRACT_ERROR_MARKER}
    server = ServerProcess(data_dir, "--allow-private-targets", env=env)
    try:
        client = Client(server.base, connect=False)
        answer = client.http.post(server.base + "/api/crawls", timeout=10, json={
            "url": site.base + "/", "scope": "subdomains", "timeout": 2, "max_retries": 1,
            "max_depth": MAX_DEPTH, "max_pages": 100, "concurrency": 4, "per_host_concurrency": 4,
            "respect_robots": False, "use_sitemaps": False})
        assert answer.status_code == 202, answer.text
        crawl_id = answer.json()["crawl_id"]
        crawl_dir = data_dir / crawl_id
        # Mid-crawl: some pages recorded, the slow faults (timeouts, trickle) still in flight.
        wait_until(lambda: len(records(crawl_dir)) >= 10, timeout=30, interval=0.01, message="ten records")
        server.process.kill()
        server.process.wait(10)
        server.stop()
        before = {entry["url"]: entry for entry in records(crawl_dir)}
        assert len(before) < len(EXPECTED) + MAX_DEPTH + 2, "the kill came before the end"

        server = ServerProcess(data_dir, "--allow-private-targets", env=env)
        client = Client(server.base, connect=True, cookies=client.http.cookies)
        assert client.http.post(server.base + f"/api/crawls/{crawl_id}/resume", timeout=10).status_code == 202
        summary = client.wait_finished(crawl_id, timeout=90)["summary"]
        assert summary["state"] == "completed", summary

        after = records(crawl_dir)
        per_url = Counter(entry["url"] for entry in after)
        assert max(per_url.values()) == 1, "no duplicate records"
        kept = {entry["url"]: entry for entry in after}
        assert all(kept.get(url) == entry for url, entry in before.items()), "records lost: 0"
        by_key = {_key(site, url): entry for url, entry in kept.items()}
        linked = {_key(site, canonical_url(link) or link) for link in site.index_links()}
        outcomes = {key: (by_key[key]["status"], by_key[key]["reason"]) for key in linked if key in by_key}
        assert outcomes == EXPECTED, "every link of the index page ends with its expected record"
        assert sum(1 for key in by_key if key.startswith("/calendar/")) == MAX_DEPTH
        refused = sum(summary["refused"].values())  # links refused at admission have their line too
        assert summary["ok"] + summary["failed"] + summary["skipped"] + refused == len(after)
        client.close()
    finally:
        server.stop()
        site.stop()
