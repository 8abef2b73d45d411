"""The official Firecrawl SDK (firecrawl-py, pinned in requirements-dev.txt) pointed at a real
server with `api_url` and an API key of this server, over a local site: scrape, map, crawl (which
waits), start_crawl with get_crawl_status paging, cancel_crawl; a wrong key is refused."""

from __future__ import annotations

import time

import pytest
import requests
from firecrawl import Firecrawl
from firecrawl.v2.types import PaginationConfig, WebhookConfig
from firecrawl.v2.utils.error_handler import BadRequestError, FirecrawlError, UnauthorizedError

from tests.support.server import Client
from tests.support.webhooks import Receiver


def new_key(base: str) -> tuple[requests.Session, str]:
    """A session (its cookie, as its browser has it) and an API key made by it."""
    http = requests.Session()
    assert http.get(base + "/api/health", timeout=5).status_code == 200
    made = http.post(base + "/api/keys", json={"name": "firecrawl sdk"}, timeout=5)
    assert made.status_code == 201, made.text
    return http, made.json()["key"]


def client(base: str, key: str) -> Firecrawl:
    return Firecrawl(api_key=key, api_url=base, timeout=120, max_retries=1)


def test_scrape_map_and_crawl_through_the_sdk(server, make_site):
    site = make_site(pages=10, sitemap=True, orphans=2)
    http, key = new_key(server.base)
    app = client(server.base, key)

    doc = app.scrape(site.url(1), formats=["markdown", "html", "links"])
    assert "Paragraph 0 of page 1" in doc.markdown and "Paragraph 0 of page 1" in doc.html
    assert {site.url(4), site.url(5)} <= set(doc.links)
    assert doc.metadata.source_url == site.url(1) and doc.metadata.status_code == 200 and doc.metadata.title

    mapped = app.map(site.url(0), limit=100)
    urls = [link.url for link in mapped.links]
    assert site.url(0) in urls and site.url(9) in urls and any("/orphans/" in url for url in urls)
    assert len(urls) == len(set(urls))

    job = app.crawl(site.url(0), limit=8, poll_interval=1, timeout=120, include_paths=["section|/docs/$"],
                    only_main_content=True, formats=["markdown"])
    assert job.status == "completed" and job.completed == job.total == 8 and len(job.data) == 8
    assert all(d.markdown and d.html is None and d.links is None for d in job.data)
    sources = [d.metadata.source_url for d in job.data]
    assert len(set(sources)) == 8 and site.url(0) in sources

    # Each call was an ordinary crawl of the key's session: its browser lists them.
    kinds = [row["kind"] for row in http.get(server.base + "/api/crawls", timeout=5).json()["crawls"]]
    assert sorted(kinds) == ["crawl", "crawl", "discovery"]


def test_start_crawl_and_page_through_its_status(server, make_site):
    site = make_site(pages=130, paragraphs=2)
    _, key = new_key(server.base)
    app = client(server.base, key)
    started = app.start_crawl(site.url(0), limit=130, max_concurrency=8)
    assert started.url.endswith(f"/v2/crawl/{started.id}")

    deadline = time.monotonic() + 120
    while (first := app.get_crawl_status(started.id, PaginationConfig(auto_paginate=False))).status == "scraping":
        assert time.monotonic() < deadline, "the crawl did not end"
        time.sleep(0.5)
    # completed counts every page handled: the 130 saved and the home page's few links that fail or are skipped
    assert first.status == "completed" and first.completed == first.total >= 130
    assert len(first.data) == 100 and first.next and f"/v2/crawl/{started.id}?skip=100" in first.next
    second = app.get_crawl_status_page(first.next)
    assert len(second.data) == 30 and second.next is None and second.id == started.id
    paged = [d.metadata.source_url for d in first.data + second.data]
    assert len(set(paged)) == 130

    everything = app.get_crawl_status(started.id)  # the SDK follows `next` itself
    assert [d.metadata.source_url for d in everything.data] == paged


def test_cancel_a_crawl_through_the_sdk(server, make_site):
    site = make_site(pages=20, latency=0.2)
    http, key = new_key(server.base)
    app = client(server.base, key)
    started = app.start_crawl(site.url(0), max_concurrency=1)
    assert app.cancel_crawl(started.id) is True
    deadline = time.monotonic() + 30
    while (status := app.get_crawl_status(started.id)).status == "scraping":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert status.status == "cancelled" and len(status.data) < 20
    assert app.cancel_crawl(started.id) is False  # already ended: Firecrawl's 409
    detail = http.get(f"{server.base}/api/crawls/{started.id}", timeout=5).json()
    assert detail["state"] == "stopped" and detail["resumable"] is True


def test_wrong_keys_and_other_sessions_are_refused(server, make_site):
    site = make_site(pages=3)
    _, key = new_key(server.base)
    _, other_key = new_key(server.base)
    started = client(server.base, key).start_crawl(site.url(0), limit=3)

    for wrong in ("not-a-key", "cdk_" + "0" * 12 + "_" + "A" * 43, key[:-2] + ("AA" if not key.endswith("AA") else "BB")):
        with pytest.raises(UnauthorizedError, match="not valid"):
            client(server.base, wrong).scrape(site.url(0))
        with pytest.raises(UnauthorizedError):
            client(server.base, wrong).get_crawl_status(started.id)

    with pytest.raises(FirecrawlError) as theirs:
        client(server.base, other_key).get_crawl_status(started.id)
    assert theirs.value.status_code == 404 and f"unknown crawl '{started.id}'" in str(theirs.value)
    with pytest.raises(FirecrawlError) as cancel:
        client(server.base, other_key).cancel_crawl(started.id)
    assert cancel.value.status_code == 404

    with pytest.raises(BadRequestError, match="the screenshot format is not supported"):
        client(server.base, key).scrape(site.url(0), formats=["markdown", "screenshot"])
    with pytest.raises(BadRequestError, match="scrapeOptions.mobile is accepted only as false"):
        client(server.base, key).start_crawl(site.url(0), mobile=True)


def test_a_webhook_given_to_the_sdk_receives_the_crawls_events(server, make_site):
    """Firecrawl's webhook object becomes the crawl's webhook setting (docs/api.md "Webhooks")."""
    site = make_site(pages=4)
    _, key = new_key(server.base)
    receiver = Receiver()
    try:
        job = client(server.base, key).crawl(
            site.url(0), limit=3, poll_interval=1, timeout=60,
            webhook=WebhookConfig(url=receiver.url, metadata={"run": "sdk"}, events=["started", "completed"]))
        assert job.status == "completed"
        receiver.wait_for(lambda: receiver.of("completed"), message="the completed webhook")
        assert [post.event for post in receiver.posts] == ["started", "completed"]
        completed = receiver.of("completed")[0].json
        assert completed["crawl_id"] == job.id and completed["metadata"] == {"run": "sdk"}
        assert completed["data"]["summary"]["ok"] == 3
    finally:
        receiver.stop()


def test_a_crawl_started_with_the_key_is_live_in_its_sessions_dashboard(server, make_site):
    """The key acts as the session that made it: that session's open dashboard (its Socket.IO
    room) receives the crawl's events as they happen."""
    site = make_site(pages=6)
    browser = Client(server.base)
    try:
        key = browser.http.post(server.base + "/api/keys", json={"name": "live"}, timeout=5).json()["key"]
        started = client(server.base, key).start_crawl(site.url(0), limit=6)
        finished = browser.wait_finished(started.id, timeout=60)
        assert finished["state"] == "completed" and finished["summary"]["ok"] == 6
        assert browser.of("crawler_detailed_progress", started.id) and browser.of("crawler_page", started.id)
    finally:
        browser.close()
