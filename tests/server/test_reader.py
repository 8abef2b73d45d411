"""The reader: GET /api/crawls/<id>/tree and /page on the real server, over a real crawl of a
local site with a hostile page, and the Markdown renderer on its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from crawler.outputs.browse import MAX_PAGE_CHARS
from tests.support import contract
from tests.support.markup import assert_inert
from tests.support.reader_site import PAGES
from tests.support.reader_site import reader_site as reader_site_with_pages
from tests.support.server import Client, ServerProcess, crawl_over_rest, wait_until


@pytest.fixture
def reader_site() -> Iterator[str]:
    """The site's base URL; its start page is `<base>/docs/`."""
    site = reader_site_with_pages().start()
    yield site.base
    site.stop()


def crawl(server: ServerProcess, http: requests.Session, url: str) -> str:
    return crawl_over_rest(server.base, http, url, max_pages=20)








# ---- the routes, on the real server ------------------------------------------------------------


def test_reader_routes_tree_page_rendering_ownership_and_bad_input(server: ServerProcess, reader_site: str) -> None:
    alice, bob = Client(server.base, connect=False), Client(server.base, connect=False)
    try:
        start = reader_site + "/docs/"
        crawl_id = crawl(server, alice.http, start)
        base = f"{server.base}/api/crawls/{crawl_id}"

        tree = alice.http.get(base + "/tree").json()
        assert set(tree) == {"crawl_id", "state", "total", "offset", "next_offset", "pages"}
        assert (tree["crawl_id"], tree["state"], tree["total"], tree["offset"], tree["next_offset"]) == \
            (crawl_id, "completed", len(PAGES), 0, None)
        assert contract.rest_fields("GET /api/crawls/<id>/tree?offset=N&limit=M") == set(tree["pages"][0])
        by_url = {page["url"]: page for page in tree["pages"]}
        assert set(by_url) == {reader_site + path for path in PAGES}  # saved pages only: no external link
        assert by_url[reader_site + "/docs/guide/intro.html"] == {
            "url": reader_site + "/docs/guide/intro.html", "title": "Introduction",
            "path": "pages/docs/guide/intro.md"}
        paged = alice.http.get(base + "/tree", params={"offset": 1, "limit": 2}).json()
        assert [p["url"] for p in paged["pages"]] == [p["url"] for p in tree["pages"][1:3]]
        assert paged["next_offset"] == 3

        hostile = alice.http.get(base + "/page", params={"url": reader_site + "/docs/guide/hostile.html"})
        assert hostile.status_code == 200 and hostile.headers["Content-Type"].startswith("application/json")
        page = hostile.json()
        assert contract.rest_fields("GET /api/crawls/<id>/page?url=<url>&offset=N") == set(page)
        assert (page["crawl_id"], page["title"], page["offset"], page["next_offset"]) == \
            (crawl_id, "Hostile page", 0, None)
        assert page["total_chars"] == len(page["markdown"])
        # The crawled text does carry the hostile markup and link (the test means something)…
        assert "window.\\_\\_pwned = 1" in page["markdown"] and "javascript:window.__pwned=3" in page["markdown"]
        # … and none of it survives as markup.
        markup = assert_inert(page["html"])
        assert "<script" not in page["html"] and "<img" not in page["html"]
        links = {attrs["href"]: attrs for attrs in markup.links()}
        intro = reader_site + "/docs/guide/intro.html"
        assert links[intro]["data-reader-url"] == intro and "target" not in links[intro]
        assert links["https://example.com/elsewhere"]["rel"] == "noopener noreferrer"

        # A page longer than one answer comes in slices that add up to the whole.
        big_url = reader_site + "/docs/big.html"
        first = alice.http.get(base + "/page", params={"url": big_url}).json()
        assert first["total_chars"] > MAX_PAGE_CHARS and 0 < first["next_offset"] <= MAX_PAGE_CHARS
        rest = alice.http.get(base + "/page", params={"url": big_url, "offset": first["next_offset"]}).json()
        assert rest["next_offset"] is None and rest["offset"] == first["next_offset"]
        assert len(first["markdown"]) + len(rest["markdown"]) == first["total_chars"]
        assert rest["html"].startswith("<p>Paragraph")  # cut at a paragraph break

        # Another session's crawl answers exactly like a missing one.
        for path, params in (("/tree", {}), ("/page", {"url": intro})):
            refused = bob.http.get(base + path, params=params)
            assert refused.status_code == 404 and refused.json() == {"error": f"unknown crawl {crawl_id!r}"}
        assert alice.http.get(f"{server.base}/api/crawls/..%2F..%2Fetc/tree").status_code == 404

        # Bad input: a clear JSON error.
        for params, status, words in [({}, 400, "url is required"),
                                      ({"url": "  "}, 400, "url is required"),
                                      ({"url": reader_site + "/docs/nowhere.html"}, 404, "no saved page with the URL"),
                                      ({"url": "https://example.com/elsewhere"}, 404, "no saved page with the URL"),
                                      ({"url": intro, "offset": "-1"}, 400, "offset must be a whole number"),
                                      ({"url": intro, "offset": "10000000"}, 400, "past the end")]:
            answer = alice.http.get(base + "/page", params=params)
            assert answer.status_code == status and words in answer.json()["error"], (params, answer.text)
        answer = alice.http.get(base + "/tree", params={"limit": "lots"})
        assert answer.status_code == 400 and "limit must be a whole number" in answer.json()["error"]
        # A URL in another spelling of the same page (as the crawl canonicalises it) is found.
        same = alice.http.get(base + "/page", params={"url": reader_site.replace("http:", "HTTP:") + "/docs/index.html"})
        assert same.status_code == 200 and same.json()["url"] == start
    finally:
        alice.close()
        bob.close()


def test_a_running_crawl_can_be_read_as_it_grows_and_after_it_is_stopped(app_server: ServerProcess, make_site) -> None:
    site = make_site(pages=40, latency=0.15)
    client = Client(app_server.base, connect=False)
    try:
        answer = client.http.post(app_server.base + "/api/crawls",
                                  json={"url": site.url(0), "concurrency": 1, "use_sitemaps": False})
        assert answer.status_code == 202, answer.text
        base = f"{app_server.base}/api/crawls/{answer.json()['crawl_id']}"
        early = client.http.get(base + "/tree")  # whatever is saved so far, maybe nothing: never an error
        assert early.status_code == 200 and early.json()["total"] == len(early.json()["pages"])

        def saved(at_least: int) -> dict | None:
            tree = client.http.get(base + "/tree").json()
            return tree if tree["state"] == "running" and tree["total"] >= at_least else None

        first = wait_until(lambda: saved(2), timeout=30, message="two pages saved while the crawl runs")
        page = client.http.get(base + "/page", params={"url": first["pages"][-1]["url"]}).json()
        assert "Paragraph 0 of page" in page["markdown"] and "<p>" in page["html"]
        later = wait_until(lambda: saved(first["total"] + 1), timeout=30, message="the tree to grow")
        assert [p["url"] for p in later["pages"][:first["total"]]] == [p["url"] for p in first["pages"]]

        assert client.http.post(base + "/stop").status_code in (200, 202)
        wait_until(lambda: client.http.get(base).json()["state"] == "stopped", timeout=15, message="the stop")
        stopped = client.http.get(base + "/tree").json()
        assert stopped["state"] == "stopped" and stopped["total"] >= later["total"]
        last = client.http.get(base + "/page", params={"url": stopped["pages"][-1]["url"]})
        assert last.status_code == 200 and last.json()["url"] == stopped["pages"][-1]["url"]
    finally:
        client.close()
