"""The Firecrawl-compatible API in cluster mode: the official SDK on one web server, its crawls run
by a worker, followed and cancelled through another web server with the same API key."""

from __future__ import annotations

import time

import pytest
import requests
from firecrawl import Firecrawl

from tests.support.cluster import RedisServer, WorkerProcess, wait_for_workers, web_server
from tests.support.site import DocSite, SiteOptions


@pytest.mark.slow
def test_scrape_map_crawl_and_cancel_across_web_servers(tmp_path):
    data_dir = tmp_path / "crawls"
    redis = RedisServer(tmp_path / "redis")
    worker = WorkerProcess(redis.url, data_dir, tmp_path)
    site = DocSite(SiteOptions(pages=8, sitemap=True, orphans=1)).start()
    slow = DocSite(SiteOptions(pages=30, latency=0.2)).start()
    servers = []
    try:
        servers = [web_server(data_dir, redis.url), web_server(data_dir, redis.url)]
        a, b = servers
        wait_for_workers(a, [worker])
        http = requests.Session()
        assert http.get(a.base + "/api/health", timeout=5).status_code == 200
        key = http.post(a.base + "/api/keys", json={"name": "cluster"}, timeout=5).json()["key"]
        on_a = Firecrawl(api_key=key, api_url=a.base, timeout=120, max_retries=1)
        on_b = Firecrawl(api_key=key, api_url=b.base, timeout=120, max_retries=1)

        doc = on_a.scrape(site.url(2), formats=["markdown", "links"])
        assert "Paragraph 0 of page 2" in doc.markdown and doc.metadata.source_url == site.url(2)
        urls = [link.url for link in on_b.map(site.url(0)).links]
        assert site.url(7) in urls and any("/orphans/" in url for url in urls)

        started = on_a.start_crawl(site.url(0), limit=8)
        deadline = time.monotonic() + 60
        while (status := on_b.get_crawl_status(started.id)).status == "scraping":
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert status.status == "completed" and len(status.data) == 8

        running = on_b.start_crawl(slow.url(0), max_concurrency=1)
        assert on_a.cancel_crawl(running.id) is True
        deadline = time.monotonic() + 30
        while (status := on_b.get_crawl_status(running.id)).status == "scraping":
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert status.status == "cancelled" and len(status.data) < 30
        rows = http.get(b.base + "/api/crawls", timeout=5).json()["crawls"]
        assert {row["crawl_id"] for row in rows} >= {started.id, running.id} and len(rows) == 4
    finally:
        for server in servers:
            server.stop()
        worker.stop()
        redis.stop()
        site.stop()
        slow.stop()
