"""Discovery, selection and politeness, judged by what the test site actually saw.

These behaviours live in the engine, not in the server mode, so they run against the threading
server only (the integration suite covers both modes).
"""

from __future__ import annotations

import json
import re
from collections import deque

import pytest

from tests.support.server import ServerProcess, wait_until
from tests.support.site import SiteOptions, children, orphan_path, page_path, sitemap_paths

pytestmark = pytest.mark.parametrize("server", ["threading"], indirect=True)


def manifest(server: ServerProcess, crawl_id: str) -> list[dict]:
    path = server.data_dir / crawl_id / "manifest.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3].split("?")[0]


def reachable_pages(options: SiteOptions, disallowed: re.Pattern[str]) -> set[str]:
    """What a correct crawler must store: pages it may visit, reached from the home page or from any
    sitemap page by links it may follow."""
    def allowed(path: str) -> bool:
        return not disallowed.search(path)

    index_of = {page_path(i): i for i in range(options.pages)}
    listed = [p for p in sitemap_paths(options) if allowed(p)]
    found: set[str] = {p for p in listed if p not in index_of}  # orphans link nowhere
    queue = deque([0, *(index_of[p] for p in listed if p in index_of)])
    while queue:
        index = queue.popleft()
        path = page_path(index)
        if path in found or not allowed(path):
            continue
        found.add(path)
        queue.extend(children(index, options.pages))
    return found


@pytest.mark.slow
def test_a_large_site_is_crawled_completely_once_politely(server, make_client, make_site):
    """Done-when of the discovery issue: sitemap-only and link-only pages, robots, cap, retries."""
    robots = "User-agent: *\nDisallow: /docs/section-6/\nDisallow: /*print\n"
    site = make_site(pages=2500, paragraphs=2, sitemap=True, orphans=150, unlisted_every=7, robots=robots,
                     flaky={10: 2, 22: 1, 30: 2}, extra_links=False)
    expected = reachable_pages(site.options, re.compile(r"^/docs/section-6/|print"))
    sitemap_only = {orphan_path(k) for k in range(150)}
    link_only = {page_path(i) for i in range(7, 2500, 7)} & expected
    assert sitemap_only <= expected and len(link_only) > 100

    client = make_client()
    crawl_id = client.start({"url": site.url(0), "max_pages": 10_000, "concurrency": 16,
                             "per_host_concurrency": 4, "max_retries": 3})
    finished = client.wait_finished(crawl_id, timeout=240)
    assert finished["state"] == "completed"

    entries = manifest(server, crawl_id)
    saved = [path_of(e["url"]) for e in entries if e["status"] == "ok"]
    assert len(saved) == len(set(saved)), "a page was stored twice"
    assert set(saved) == expected, (len(saved), len(expected), sorted(expected - set(saved))[:5])
    for path in expected:
        failures = {page_path(10): 2, page_path(22): 1, page_path(30): 2}.get(path, 0)
        assert site.hits[path] == 1 + failures, f"{path} requested {site.hits[path]} times"
    assert not [raw for _, raw in site.requests if raw.startswith("/docs/section-6/")], "robots.txt was ignored"
    assert site.max_in_flight <= 4, f"{site.max_in_flight} requests in flight at once on one host"
    assert {e["source"] for e in entries if path_of(e["url"]) in sitemap_only} == {"sitemap"}
    refused = [e for e in entries if e["reason"] == "robots"]
    assert refused and finished["summary"]["refused"].get("robots") == len(refused)
    assert "robots" not in finished["summary"]["skip_reasons"], "a refused link is not a skipped page"
    retries = [line["message"] for line in client.of("crawler_log", crawl_id) if line["message"].startswith("try ")]
    assert len(retries) == 5 and all("HTTP 500" in message for message in retries)
    discovered = client.of("crawler_detailed_progress", crawl_id)[-1]["discovered"]
    assert discovered >= len(expected)
    print(f"{len(saved)} pages stored once each in {finished['summary']['duration']} s; "
          f"{len(sitemap_only)} only in the sitemap, {len(link_only)} only linked; max in flight {site.max_in_flight}")


def test_canonical_links_tracking_parameters_and_index_html_store_one_page_once(server, make_client, make_site):
    site = make_site(pages=10, canonical_copies=3, tracking_links=True, extra_links=False)
    client = make_client()
    crawl_id = client.start({"url": site.url(0), "concurrency": 2})
    finished = client.wait_finished(crawl_id)
    entries = manifest(server, crawl_id)
    stored = [e.get("canonical") or e["url"] for e in entries if e["status"] == "ok"]
    assert len(stored) == len(set(stored)) == 10, stored
    # Each print copy declares its original as canonical: whichever of the two is fetched first is
    # stored (under the original's URL), the other is skipped as a duplicate.
    duplicates = [e for e in entries if e["reason"] == "duplicate"]
    assert len(duplicates) == 3
    assert {e.get("canonical") or e["url"] for e in entries if e["status"] == "ok"} >= {site.url(i) for i in (1, 2, 3)}
    assert not [raw for _, raw in site.requests if "utm_" in raw or "fbclid" in raw or raw.endswith("index.html")]
    assert finished["summary"]["skip_reasons"].get("duplicate", 0) == len(duplicates)


def test_429_backs_off_the_host_for_retry_after_and_the_dashboard_sees_it(server, make_client, make_site):
    site = make_site(pages=8, rate_limited={1: 2}, extra_links=False)
    client = make_client()
    crawl_id = client.start({"url": site.url(0), "concurrency": 4})
    finished = client.wait_finished(crawl_id, timeout=30)
    assert finished["summary"]["ok"] == 8
    times = site.times_of(page_path(1))
    assert len(times) == 3
    assert times[1] - times[0] >= 0.95 and times[2] - times[1] >= 0.95, "Retry-After: 1 was not honoured"
    backoffs = [p["backoff"] for p in client.of("crawler_detailed_progress", crawl_id) if p["backoff"]]
    assert backoffs and backoffs[0][0]["reason"].startswith("HTTP 429")


def test_transient_failures_give_up_after_max_retries_each_try_logged(server, make_client, make_site):
    site = make_site(pages=4, flaky={1: 10}, extra_links=False)
    client = make_client()
    crawl_id = client.start({"url": site.url(0), "max_retries": 2})
    finished = client.wait_finished(crawl_id, timeout=30)
    assert site.hits[page_path(1)] == 3
    failed = [e for e in manifest(server, crawl_id) if e["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["error"] == "HTTP 500 Internal Server Error (after 3 tries)"
    assert finished["summary"]["ok"] == 3 - 1 + 1  # pages 0, 2, 3; page 1's child pages do not exist
    tries = [line["message"] for line in client.of("crawler_log", crawl_id) if line["message"].startswith("try ")]
    assert [m.split(" for ")[0] for m in tries] == ["try 1 of 3", "try 2 of 3"]


def test_redirects_stay_in_scope_and_loops_end(server, make_client, make_site):
    site = make_site(pages=3, extra_links=False, redirects={
        "/docs/": "/docs/start/", "/docs/start/": page_path(1),  # a chain into the site
    })
    client = make_client()
    chain = client.start({"url": site.base + "/docs/"})
    assert client.wait_finished(chain)["summary"]["ok"] >= 1
    stored = [e for e in manifest(server, chain) if e["status"] == "ok"]
    assert stored[0]["canonical"] == site.url(1), "stored under the page it redirected to"

    looping = make_site(pages=1, extra_links=False, redirects={"/docs/": "/docs/a", "/docs/a": "/docs/"})
    loop_id = client.start({"url": looping.base + "/docs/"})
    finished = client.wait_finished(loop_id)
    assert finished["state"] == "failed" and "redirect loop" in finished["summary"]["stop_reason"]

    away = make_site(pages=1, extra_links=False, redirects={"/docs/": "/elsewhere/"})
    away_id = client.start({"url": away.base + "/docs/"})
    finished = client.wait_finished(away_id)
    assert "outside the crawl's scope" in finished["summary"]["stop_reason"]
    assert away.hits["/elsewhere/"] == 0


def test_a_calendar_trap_ends_at_the_limits_and_max_pages_is_exact(server, make_client, make_site):
    site = make_site(pages=200, calendar=True, extra_links=False)
    client = make_client()
    crawl_id = client.start({"url": site.url(0), "max_depth": 4, "concurrency": 8, "max_pages": 1000})
    client.wait_finished(crawl_id, timeout=60)
    months = [p for p in site.hits if p.startswith("/docs/calendar/")]
    assert len(months) == 4, months  # depths 1 to 4 below the home page, not one more

    requests_before = len(site.requests)
    capped = client.start({"url": site.url(0), "max_pages": 25, "concurrency": 16, "per_host_concurrency": 16})
    finished = client.wait_finished(capped, timeout=60)
    assert finished["summary"]["ok"] == 25
    assert sum(1 for e in manifest(server, capped) if e["status"] == "ok") == 25
    page_requests = [raw for _, raw in site.requests[requests_before:]
                     if raw.startswith("/docs/") and raw not in ("/docs/llms.txt", "/docs/llms-full.txt")]
    assert len(page_requests) == 25, f"{len(page_requests)} pages fetched for max_pages 25"


def test_robots_agent_group_wildcards_and_crawl_delay(server, make_client, make_site):
    robots = ("User-agent: *\nDisallow: /\n\n"
              "User-agent: CrawlerDashboard\nDisallow: /docs/section-1/\nDisallow: /*.pdf$\n"
              "Allow: /docs/\nCrawl-delay: 1\n")
    site = make_site(pages=6, robots=robots)
    client = make_client()
    crawl_id = client.start({"url": site.url(0), "concurrency": 4})
    finished = client.wait_finished(crawl_id, timeout=30)
    assert site.hits[page_path(1)] == 0 and site.hits["/docs/manual.pdf"] == 0
    assert finished["summary"]["ok"] == 3  # pages 0, 2, 3: pages 4 and 5 are linked only from page 1
    starts = sorted(t for t, raw in site.requests if raw.startswith("/docs/"))
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= 0.95, f"Crawl-delay: 1 not honoured: {gaps}"
    robots_skips = [e["url"] for e in manifest(server, crawl_id) if e["reason"] == "robots"]
    assert site.url(1) in robots_skips and site.base + "/docs/manual.pdf" in robots_skips


def test_discover_then_crawl_a_selection(server, make_client, make_site):
    site = make_site(pages=40, sitemap=True, orphans=4, extra_links=False)
    client = make_client(connect=False)
    response = client.http.post(server.base + "/api/discover", json={"url": site.url(0)})
    assert response.status_code == 202
    discovery_id = response.json()["discovery_id"]
    result = wait_until(lambda: (lambda r: r if r["complete"] else None)(
        client.http.get(f"{server.base}/api/discover/{discovery_id}").json()), timeout=30, message="discovery")
    assert result["state"] == "completed" and result["count"] == 44
    by_path = {path_of(u["url"]): u for u in result["urls"]}
    assert {by_path[orphan_path(k)]["source"] for k in range(4)} == {"sitemap"}
    assert by_path["/docs/"]["source"] == "start" and by_path["/docs/"]["depth"] == 0
    assert not list((server.data_dir / discovery_id / "pages").rglob("*.md")), "a discovery stores no pages"

    chosen = [site.url(3), site.url(7), site.base + orphan_path(2)]
    hits_before = dict(site.hits)
    crawl = client.http.post(server.base + "/api/crawls", json={"url": site.url(0), "urls": chosen})
    crawl_id = crawl.json()["crawl_id"]
    wait_until(lambda: client.http.get(f"{server.base}/api/crawls/{crawl_id}").json()["state"] == "completed",
               timeout=30, message="selection crawl")
    saved = sorted(e["url"] for e in manifest(server, crawl_id) if e["status"] == "ok")
    assert saved == sorted(chosen)
    fetched_now = {p: n - hits_before.get(p, 0) for p, n in site.hits.items() if n - hits_before.get(p, 0)}
    # The discovery fetched the chosen pages minutes ago and this site sends no validators: they
    # come from the page cache (crawler/engine/pagecache.py), not downloaded a second time.
    assert set(fetched_now) == {"/robots.txt"}, fetched_now
    assert client.http.get(f"{server.base}/api/crawls/{crawl_id}").json()["summary"]["from_cache"] == 3


def test_sitemap_total_drives_progress_from_the_start(server, make_client, make_site):
    site = make_site(pages=120, sitemap=True, latency=0.02, extra_links=False)
    client = make_client()
    crawl_id = client.start({"url": site.url(0), "concurrency": 4})
    client.wait_finished(crawl_id, timeout=60)
    running = [p for p in client.of("crawler_detailed_progress", crawl_id) if p["state"] == "running"]
    assert running[0]["total"] >= 100, "the sitemap's pages count toward the total at once"
    assert running[0]["total_final"] is False, "links may still add pages"
    assert client.of("crawler_detailed_progress", crawl_id)[-1]["total_final"] is True
    statuses = [s["state"] for s in client.of("crawler_status", crawl_id)]
    assert statuses[:3] == ["queued", "discovering", "running"]


def test_bad_discovery_input(server, make_client):
    client = make_client()
    response = client.http.post(server.base + "/api/discover", json={"urls": ["http://127.0.0.1/a"]})
    assert response.status_code == 400 and "a discovery starts from url" in response.json()["error"]
    ack = client.call("start_discovery", {"url": "http://127.0.0.1/", "scope": "galaxy"})
    assert ack["ok"] is False and "scope must be one of prefix, host, subdomains" in ack["error"]
    ack = client.call("start_crawl", {"urls": ["http://127.0.0.1/", "nope://x"]})
    assert ack["ok"] is False and ack["error"].startswith("urls:")
    assert client.http.get(server.base + "/api/discover/unknown").status_code == 404


def test_progress_payload_has_politeness_fields(server, make_client, make_site):
    site = make_site(pages=5, extra_links=False)
    client = make_client()
    crawl_id = client.start({"url": site.url(0)})
    client.wait_finished(crawl_id)
    last = client.of("crawler_detailed_progress", crawl_id)[-1]
    assert last["backoff"] == [] and isinstance(last["skip_reasons"], dict) and last["discovered"] == 5
    page_events = [p for batch in client.of("crawler_page", crawl_id) for p in batch["pages"]]
    assert {p["source"] for p in page_events if p["stage"] == "fetching"} == {"start", "link"}

