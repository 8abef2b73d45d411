"""Firecrawl's v2 API on a real server over a local site, through a plain HTTP client that follows
Firecrawl's published request examples (JSON bodies, `Authorization: Bearer <key>`, no cookies),
and the attacks on it: private addresses, another session's crawl ids, malformed and oversized
bodies, no key at all. (The official SDK: test_firecrawl_sdk.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.cookiejar import DefaultCookiePolicy

import pytest
import requests

from tests.support.mcp import cookie_of, over_http
from tests.support.server import SERVER_MODES, ServerProcess, wait_until


def session(base: str) -> requests.Session:
    http = requests.Session()
    assert http.get(base + "/api/health", timeout=5).status_code == 200
    return http


def with_key(base: str) -> requests.Session:
    """A client as Firecrawl's examples are written: the key in `Authorization: Bearer`, no cookie
    kept (the key is made by a session with its cookie, as its browser would)."""
    key = session(base).post(base + "/api/keys", json={"name": "examples"}, timeout=5).json()["key"]
    http = requests.Session()
    http.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    http.headers.update({"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    return http


def start(http: requests.Session, base: str, body: dict) -> dict:
    started = http.post(base + "/v2/crawl", json=body, timeout=10)
    assert started.status_code == 200, started.text
    return started.json()


def finished(http: requests.Session, status_url: str, timeout: float = 60) -> dict:
    def ended() -> dict | None:
        answer = http.get(status_url, timeout=10).json()
        return answer if answer["status"] != "scraping" else None
    return wait_until(ended, timeout=timeout, interval=0.2, message="the crawl to end")


def all_documents(http: requests.Session, status_url: str) -> list[dict]:
    docs, url = [], status_url
    while url:
        answer = http.get(url, timeout=10).json()
        docs += answer["data"]
        url = answer["next"]
    return docs


@pytest.mark.parametrize("server", SERVER_MODES, indirect=True)
def test_scrape_crawl_and_map_as_firecrawls_examples_make_them(server, make_site):
    site = make_site(pages=10, sitemap=True, orphans=2, site_meta=True)
    http = with_key(server.base)

    scraped = http.post(server.base + "/v2/scrape", json={"url": site.url(1), "formats": ["markdown", "html", "links"]},
                        timeout=90)
    assert scraped.status_code == 200, scraped.text
    doc = scraped.json()["data"]
    assert scraped.json()["success"] is True
    assert "Paragraph 0 of page 1" in doc["markdown"] and not doc["markdown"].startswith("Source:")
    assert "<p>" in doc["html"] and "Paragraph 0 of page 1" in doc["html"]
    assert {site.url(4), site.url(5), site.url(6)} <= set(doc["links"])
    assert doc["metadata"]["sourceURL"] == site.url(1) and doc["metadata"]["statusCode"] == 200
    assert doc["metadata"]["title"] and doc["metadata"]["scrapeId"] and doc["metadata"]["ogSiteName"] == "Test Docs"
    assert doc["metadata"]["description"]

    body = start(http, server.base, {"url": site.url(0), "limit": 6, "scrapeOptions": {"formats": ["markdown", "html"]}})
    assert body["success"] is True and body["url"] == f"{server.base}/v2/crawl/{body['id']}"
    status = finished(http, body["url"])
    assert status["status"] == "completed" and status["completed"] == status["total"] == 6
    assert status["next"] is None and len(status["data"]) == 6
    assert all({"markdown", "html", "metadata"} <= set(d) and "links" not in d for d in status["data"])
    assert {d["metadata"]["sourceURL"] for d in status["data"]} >= {site.url(0)}

    mapped = http.post(server.base + "/v2/map", json={"url": site.url(0)}, timeout=90)
    assert mapped.status_code == 200, mapped.text
    urls = [link["url"] for link in mapped.json()["links"]]
    assert len(urls) == len(set(urls)) and site.url(0) in urls and site.url(9) in urls
    assert any("/orphans/" in url for url in urls)  # only a sitemap lists them
    pages = {site.url(i) for i in range(10)}
    assert all(link.get("title") and link.get("description") for link in mapped.json()["links"] if link["url"] in pages)

    only = http.post(server.base + "/v2/map", json={"url": site.url(0), "sitemap": "only", "search": "orphan"},
                     timeout=90).json()
    assert only["success"] and only["links"] and all("/orphans/" in link["url"] for link in only["links"])
    assert not http.cookies  # the key alone carried the caller


def test_a_crawl_started_here_is_an_ordinary_crawl(server, make_site):
    """Listed in the dashboard's history with the settings it was translated into, stopped by a
    cancel and resumable, searchable, served by MCP."""
    site = make_site(pages=12, latency=0.15)
    http = session(server.base)
    body = start(http, server.base, {"url": site.url(0), "limit": 10, "maxConcurrency": 1,
                                     "excludePaths": ["page-1[01]"]})
    crawl_id = body["id"]
    assert crawl_id in [row["crawl_id"] for row in http.get(server.base + "/api/crawls", timeout=5).json()["crawls"]]
    detail = http.get(f"{server.base}/api/crawls/{crawl_id}", timeout=5).json()
    assert detail["kind"] == "crawl" and detail["config"]["max_pages"] == 10
    assert detail["config"]["exclude"] == ["re:page-1[01]"] and detail["config"]["concurrency"] == 1

    wait_until(lambda: http.get(body["url"], timeout=5).json()["data"], timeout=30, message="a first saved page")
    cancelled = http.delete(body["url"], timeout=10)
    assert cancelled.status_code == 200 and cancelled.json() == {"success": True, "status": "cancelled"}
    status = finished(http, body["url"])
    assert status["status"] == "cancelled" and 0 < len(status["data"]) < 10
    assert http.delete(body["url"], timeout=10).status_code == 409  # nothing left to cancel

    assert http.post(f"{server.base}/api/crawls/{crawl_id}/resume", timeout=10).status_code == 202
    status = finished(http, body["url"])
    assert status["status"] == "completed"
    urls = [d["metadata"]["sourceURL"] for d in all_documents(http, body["url"])]
    assert len(urls) == len(set(urls)) == 10 and site.url(10) not in urls and site.url(11) not in urls

    found = wait_until(lambda: http.get(server.base + "/api/search", params={"q": "paragraph", "crawl": crawl_id},
                                        timeout=5).json()["total"] == 10, timeout=30, message="the pages indexed")
    assert found
    listed, page = over_http(server.base + "/mcp", {"Cookie": cookie_of(http)},
                             [("list_sites", {}), ("get_page", {"url": site.url(2)})])
    assert crawl_id in listed[1] and not page[0] and "Paragraph 0 of page 2" in page[1]


def test_status_pages_through_next_without_gaps_or_repeats(server, make_site):
    site = make_site(pages=13)
    http = session(server.base)
    body = start(http, server.base, {"url": site.url(0), "limit": 13})
    finished(http, body["url"])
    seen, url, answers = [], body["url"] + "?limit=5", 0
    while url:
        answer = http.get(url, timeout=10).json()
        assert len(answer["data"]) <= 5
        seen += [d["metadata"]["sourceURL"] for d in answer["data"]]
        url, answers = answer["next"], answers + 1
        assert not url or "limit=5" in url
    assert answers == 3 and len(seen) == len(set(seen)) == 13
    assert http.get(body["url"] + "?skip=13", timeout=5).json()["data"] == []
    for bad in ("skip=-1", "limit=0", "limit=1001", "skip=x", "skip=%C2%B2", "limit=" + "9" * 5000, "skip=1e3"):
        refused = http.get(f"{body['url']}?{bad}", timeout=5)
        assert refused.status_code == 400 and refused.json()["success"] is False, bad


def test_a_running_crawl_offers_next_until_it_ends(server, make_site):
    site = make_site(pages=8, latency=0.3)
    http = session(server.base)
    body = start(http, server.base, {"url": site.url(0), "maxConcurrency": 1})
    running = http.get(body["url"], timeout=5).json()
    assert running["status"] == "scraping" and running["next"]  # more may come: the cursor stays offered
    status = finished(http, body["url"])
    assert status["status"] == "completed" and status["next"] is None and len(status["data"]) == 8


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server as it is run: private addresses refused."""
    proc = ServerProcess(tmp_path_factory.mktemp("guarded") / "crawls")
    yield proc
    proc.stop()


def test_private_addresses_are_refused_exactly_like_a_crawl(guarded_server, make_site):
    site = make_site(pages=3)
    http = session(guarded_server.base)
    for target in (site.url(0), "http://169.254.169.254/latest/meta-data/", "http://[::1]:9/", "http://10.1.2.3/"):
        crawl = http.post(guarded_server.base + "/api/crawls", json={"url": target}, timeout=10)
        assert crawl.status_code == 400
        for path in ("/v2/scrape", "/v2/map", "/v2/crawl"):
            refused = http.post(guarded_server.base + path, json={"url": target}, timeout=10)
            assert refused.status_code == 400, (path, refused.text)
            assert refused.json() == {"success": False, "error": crawl.json()["error"]}, path
            assert "refusing to crawl" in refused.json()["error"]
    # A public start address (an IP literal: no DNS) with a webhook to a private one.
    hooked = http.post(guarded_server.base + "/v2/crawl", json={"url": "http://1.1.1.1/", "webhook": {
        "url": "http://127.0.0.1:9/hook", "events": ["completed"]}}, timeout=10)
    assert hooked.status_code == 400 and "refusing to send webhooks to 127.0.0.1" in hooked.json()["error"]
    assert http.get(guarded_server.base + "/api/crawls", timeout=5).json()["crawls"] == []
    assert not site.requests  # nothing reached the site


def test_another_sessions_crawl_answers_exactly_like_an_unknown_one(server, make_site):
    site = make_site(pages=6, latency=0.3)
    alice, mallory = session(server.base), session(server.base)
    body = start(alice, server.base, {"url": site.url(0), "maxConcurrency": 1})
    crawl_id = body["id"]
    made_up = crawl_id[:-6] + ("000000" if not crawl_id.endswith("000000") else "111111")
    for method in ("get", "delete"):
        theirs = getattr(mallory, method)(body["url"], timeout=5)
        unknown = getattr(mallory, method)(f"{server.base}/v2/crawl/{made_up}", timeout=5)
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.json() == {"success": False, "error": f"unknown crawl {crawl_id!r}"}
        assert unknown.json() == {"success": False, "error": f"unknown crawl {made_up!r}"}
    for odd in ("..%2f..%2fetc", "x" * 300, "%00"):
        assert mallory.get(f"{server.base}/v2/crawl/{odd}", timeout=5).status_code == 404
    assert alice.get(body["url"], timeout=5).json()["status"] == "scraping"  # mallory's cancel did nothing
    assert finished(alice, body["url"])["status"] == "completed"


def test_bad_bodies_get_a_clear_400_and_start_nothing(server):
    http = session(server.base)
    before = http.get(server.base + "/api/crawls", timeout=5).json()["crawls"]
    cases = [
        ({"data": "{\"url\": ", "headers": {"Content-Type": "application/json"}}, "not valid JSON"),
        ({"data": "url=https://docs.example.org/"}, "Content-Type: application/json"),
        ({"json": ["https://docs.example.org/"]}, "must be a JSON object"),
        ({"data": "null", "headers": {"Content-Type": "application/json"}}, "must be a JSON object"),
        ({"data": '{"url": "https://docs.example.org/", "limit": Infinity, "maxDiscoveryDepth": NaN}',
          "headers": {"Content-Type": "application/json"}}, "limit must be a whole number"),
        ({"json": {"limit": 5}}, "url is required"),
        ({"json": {"url": "https://docs.example.org/", "limit": 10**12}}, "limit must be a whole number from 1 to 100,000"),
        ({"json": {"url": "https://docs.example.org/", "crawlerOptions": {}, "scrapeOptions": {"fromats": []}}},
         "unknown field 'crawlerOptions'; unknown field 'scrapeOptions.fromats' (did you mean 'scrapeOptions.formats'?)"),
        ({"json": {"url": "https://docs.example.org/", "webhook": {"url": "https://hooks.example.org/", "sign": 1}}},
         "unknown field webhook.sign"),
    ]
    for kwargs, words in cases:
        refused = http.post(server.base + "/v2/crawl", timeout=10, **kwargs)
        assert refused.status_code == 400, (kwargs, refused.text)
        assert refused.json()["success"] is False and words in refused.json()["error"], refused.json()
    for path, body, words in (("/v2/scrape", {"url": "https://docs.example.org/", "formats": ["json"]}, "json format"),
                              ("/v2/map", {"url": "https://docs.example.org/", "limit": -1}, "limit must be"),
                              ("/v2/scrape", {"url": "https://docs.example.org/", "actions": [{"type": "wait"}]},
                               "actions is not supported")):
        refused = http.post(server.base + path, json=body, timeout=10)
        assert refused.status_code == 400 and words in refused.json()["error"], refused.text
    huge = http.post(server.base + "/v2/crawl", data=b"{" + b" " * (17 * 1024 * 1024) + b"}",
                     headers={"Content-Type": "application/json"}, timeout=30)
    assert huge.status_code == 413 and huge.json() == {"success": False,
                                                       "error": "the request body is too large: at most 16 MB"}
    other = http.post(server.base + "/v2/extract", json={"urls": []}, timeout=5)
    assert other.status_code == 404 and "POST /v2/scrape" in other.json()["error"]
    active = http.get(server.base + "/v2/crawl/active", timeout=5)
    assert active.status_code == 404 and "GET /v2/crawl/active is not available here" in active.json()["error"]
    assert http.get(server.base + "/api/crawls", timeout=5).json()["crawls"] == before


def test_a_scrape_follows_a_redirect_and_a_scrape_that_fails_says_why(server, make_site):
    site = make_site(pages=3, redirects={"/old/": "/docs/section-1/page-1.html"})
    site.route("/manual.pdf", b"%PDF-1.4 not a page", headers={"Content-Type": "application/pdf"})
    http = session(server.base)
    moved = http.post(server.base + "/v2/scrape", json={"url": site.base + "/old/"}, timeout=90).json()["data"]
    assert moved["metadata"]["sourceURL"] == site.base + "/old/" and moved["metadata"]["url"] == site.url(1)
    assert "Paragraph 0 of page 1" in moved["markdown"]

    started = time.monotonic()
    failed = http.post(server.base + "/v2/scrape", json={"url": site.base + "/docs/missing.html"}, timeout=90)
    assert failed.status_code == 422, failed.text
    assert failed.json()["success"] is False and failed.json()["code"] == "SCRAPE_FAILED"
    assert "the page failed (http_error)" in failed.json()["error"] and "404" in failed.json()["error"]
    assert time.monotonic() - started < 30
    skipped = http.post(server.base + "/v2/scrape", json={"url": site.base + "/manual.pdf"}, timeout=90)
    assert skipped.status_code == 422 and "the page was skipped (not_html)" in skipped.json()["error"]


def test_a_caller_with_neither_key_nor_session_cookie_is_refused(server, make_site):
    """Firecrawl's clients keep no cookies: without a key each request would be a new session,
    and a crawl it started could never be followed, stopped or deleted. Refused, nothing started."""
    site = make_site(pages=2)
    folders = {p.name for p in server.data_dir.iterdir()}
    for method, path, body in (("post", "/v2/scrape", {"url": site.url(0)}), ("post", "/v2/crawl", {"url": site.url(0)}),
                               ("post", "/v2/map", {"url": site.url(0)}), ("get", "/v2/crawl/20261202-101010-abcdef", None),
                               ("delete", "/v2/crawl/20261202-101010-abcdef", None)):
        refused = requests.request(method, server.base + path, json=body, timeout=10)
        assert refused.status_code == 401, (path, refused.text)
        assert refused.json()["success"] is False and "an API key is required" in refused.json()["error"]
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert {p.name for p in server.data_dir.iterdir()} == folders and not site.requests


def test_a_scrape_or_map_that_runs_out_of_time_answers_408_and_stops_its_crawl(server, make_site):
    site = make_site(pages=6, slow_pages={1: 8.0}, latency=0.3)
    http = session(server.base)
    for path, body, code in (("/v2/scrape", {"url": site.url(1), "timeout": 1500}, "SCRAPE_TIMEOUT"),
                             ("/v2/map", {"url": site.url(0), "timeout": 1000}, "MAP_TIMEOUT")):
        started = time.monotonic()
        late = http.post(server.base + path, json=body, timeout=30)
        assert late.status_code == 408, late.text
        assert late.json()["code"] == code and "was stopped" in late.json()["error"]
        assert time.monotonic() - started < 6
    rows = http.get(server.base + "/api/crawls", timeout=5).json()["crawls"]
    assert sorted(row["kind"] for row in rows) == ["crawl", "discovery"]
    wait_until(lambda: all(row["state"] == "stopped" for row in
                           http.get(server.base + "/api/crawls", timeout=5).json()["crawls"]),
               timeout=15, message="both crawls stopped")


def test_the_sessions_slots_and_queue_apply(tmp_path, make_site):
    """A scrape waits for a free slot of its session like any crawl (and says so when it runs out
    of time); past the session's queue, a start is refused with Firecrawl's 429."""
    site = make_site(pages=20, latency=0.3)
    proc = ServerProcess(tmp_path / "crawls", "--allow-private-targets", "--max-crawls-per-session", "1",
                         "--max-queued-per-session", "1")
    try:
        http = with_key(proc.base)
        running = start(http, proc.base, {"url": site.url(0), "maxConcurrency": 1})
        late = http.post(proc.base + "/v2/scrape", json={"url": site.url(1), "timeout": 1500}, timeout=30)
        assert late.status_code == 408 and "it was still queued" in late.json()["error"], late.text
        wait_until(lambda: [row["state"] for row in http.get(proc.base + "/api/crawls", timeout=5).json()["crawls"]
                            if row["crawl_id"] != running["id"]] == ["stopped"], timeout=15,
                   message="the scrape's crawl to leave the queue")
        start(http, proc.base, {"url": site.url(0), "limit": 2})  # the one place in the queue
        full = http.post(proc.base + "/v2/crawl", json={"url": site.url(0)}, timeout=10)
        assert full.status_code == 429 and full.json()["success"] is False, full.text
        assert http.delete(running["url"], timeout=10).json()["status"] == "cancelled"
    finally:
        proc.stop()
