"""Full-text search: the index over real crawl folders, and GET /api/search on the real server."""

from __future__ import annotations

import sqlite3

import pytest
import requests

from tests.support import contract
from tests.support.server import ServerProcess, crawl_over_rest, wait_until

# ---- GET /api/search on the real server ---------------------------------------------------------


def crawl(server: ServerProcess, http: requests.Session, url: str) -> str:
    return crawl_over_rest(server.base, http, url, max_pages=20)


def search(server: ServerProcess, http: requests.Session, **params) -> requests.Response:
    return http.get(server.base + "/api/search", params=params, timeout=10)


@pytest.mark.parametrize("server", ["threading"], indirect=True)
def test_rest_search_sees_only_the_sessions_own_crawls(server, make_client, make_site):
    alice, bob = make_client(connect=False), make_client(connect=False)
    site_a, site_b = make_site(pages=12), make_site(pages=8)
    crawl_a = crawl(server, alice.http, site_a.url(0))
    crawl_b = crawl(server, bob.http, site_b.url(0))

    wait_until(lambda: search(server, alice.http, q="paragraph", crawl=crawl_a).json()["total"] == 12,
               message="alice's pages indexed")
    wait_until(lambda: search(server, bob.http, q="paragraph", crawl=crawl_b).json()["total"] == 8,
               message="bob's pages indexed")

    answer = search(server, alice.http, q='"Paragraph 2 of page 5"').json()
    assert set(answer) == {"query", "total", "page", "per_page", "results"}
    assert answer["total"] == 1 and answer["query"] == '"Paragraph 2 of page 5"'
    hit = answer["results"][0]
    assert set(hit) == {"crawl_id", "url", "title", "snippet", "score", "path", "section", "anchor", "section_url",
                        "section_text", "section_chars", "page_chars"}
    assert contract.rest_fields("GET /api/search?q=...&crawl=<id>&page=N&per_page=M&text_chars=C") == set(hit)
    assert hit["crawl_id"] == crawl_a and hit["url"] == site_a.url(5) and hit["path"].endswith("page-5.md")
    assert "<mark>Paragraph 2 of page 5</mark>" in hit["snippet"]
    # Its best section, as MCP's search_docs names it: heading path, anchor, plain text, sizes.
    assert hit["section"] == "Page 5 title" and hit["anchor"] == "page-5-title"
    assert hit["section_url"] == site_a.url(5) + "#page-5-title"
    text = hit["section_text"]
    assert text.startswith("Page 5 title") and 0 < len(text) <= 600 and not {"#", "<mark>", "**", "&lt;"} & set(text.split())
    assert hit["section_chars"] >= len(text) and hit["page_chars"] >= hit["section_chars"] // 2
    whole = search(server, alice.http, q='"Paragraph 2 of page 5"', text_chars=4000).json()["results"][0]
    assert whole["section_text"].startswith(text.rstrip()) and len(whole["section_text"]) == hit["section_chars"] <= 4000
    assert search(server, alice.http, q='"Paragraph 2 of page 5"', text_chars=0).json()["results"][0]["section_text"] == ""

    # The same words are on bob's site: each session finds its own page only.
    for who, mine, site in ((alice, crawl_a, site_a), (bob, crawl_b, site_b)):
        results = search(server, who.http, q="configuration", per_page=50).json()["results"]
        assert results and {r["crawl_id"] for r in results} == {mine}
        assert all(r["url"].startswith(site.url(0)) for r in results)
    # Naming the other session's crawl is answered as an unknown crawl.
    refused = search(server, alice.http, q="configuration", crawl=crawl_b)
    assert refused.status_code == 404 and refused.json() == {"error": f"unknown crawl {crawl_b!r}"}
    assert search(server, bob.http, q="configuration", crawl=crawl_b).json()["total"] >= 8
    # A fresh session (no crawls) finds nothing at all.
    stranger = make_client(connect=False)
    assert search(server, stranger.http, q="configuration").json() == {
        "query": "configuration", "total": 0, "page": 1, "per_page": 10, "results": []}


@pytest.mark.parametrize("server", ["threading"], indirect=True)
def test_rest_search_pages_prefixes_and_refuses_bad_queries_with_400(server, make_client, make_site):
    client = make_client(connect=False)
    site = make_site(pages=15)
    crawl_id = crawl(server, client.http, site.url(0))
    wait_until(lambda: search(server, client.http, q="paragraph", crawl=crawl_id).json()["total"] == 15,
               message="every page indexed")

    first = search(server, client.http, q="paragraph", crawl=crawl_id, per_page=4, page=1).json()
    second = search(server, client.http, q="paragraph", crawl=crawl_id, per_page=4, page=2).json()
    last = search(server, client.http, q="paragraph", crawl=crawl_id, per_page=4, page=4).json()
    assert (first["total"], first["page"], first["per_page"], len(first["results"])) == (15, 1, 4, 4)
    assert len(last["results"]) == 3
    assert not {r["url"] for r in first["results"]} & {r["url"] for r in second["results"]}
    assert search(server, client.http, q="paragr*", crawl=crawl_id).json()["total"] == 15
    assert search(server, client.http, q="paragr", crawl=crawl_id).json()["total"] == 0

    for params, words in [({"q": '"configuration loader'}, "quotation mark is not closed"),
                          ({"q": "OR loader"}, "OR cannot begin"),
                          ({"q": ""}, "empty"),
                          ({"q": "loader", "per_page": "500"}, "per_page must be a whole number from 1 to 50"),
                          ({"q": "loader", "page": "zero"}, "page must be a whole number"),
                          ({"q": "loader", "text_chars": "4001"}, "text_chars must be a whole number from 0 to 4000"),
                          ({"q": "loader", "text_chars": "-1"}, "text_chars must be a whole number from 0 to 4000")]:
        answer = search(server, client.http, **params)
        assert answer.status_code == 400, (params, answer.text)
        assert words in answer.json()["error"]
    assert search(server, client.http, q="x", crawl="../../etc").status_code == 404


@pytest.mark.parametrize("server", ["threading"], indirect=True)
def test_deleting_a_crawl_removes_it_from_the_index(server, make_client, make_site):
    client = make_client(connect=False)
    site = make_site(pages=6)
    crawl_id = crawl(server, client.http, site.url(0))
    wait_until(lambda: search(server, client.http, q="paragraph", crawl=crawl_id).json()["total"] == 6)
    assert client.http.delete(f"{server.base}/api/crawls/{crawl_id}").status_code == 200

    def gone() -> bool:
        with sqlite3.connect(server.data_dir / ".search.sqlite") as connection:
            return connection.execute("SELECT count(*) FROM pages WHERE crawl_id = ?", (crawl_id,)).fetchone()[0] == 0

    wait_until(gone, timeout=20, message="the deleted crawl's pages to leave the index")
    assert search(server, client.http, q="paragraph").json()["total"] == 0


def test_with_the_indexer_in_a_thread_pages_are_found_and_no_indexer_process_is_listed(tmp_path, make_site):
    server = ServerProcess(tmp_path / "crawls", "--allow-private-targets", "--search-indexer", "thread")
    http = requests.Session()
    try:
        site = make_site(pages=5)
        crawl_id = crawl(server, http, site.url(0))
        wait_until(lambda: search(server, http, q="paragraph", crawl=crawl_id).json()["total"] == 5,
                   message="every page indexed by the server's own thread")
        assert http.get(server.base + "/api/system", timeout=10).json()["indexer"] == []
    finally:
        http.close()
        server.stop()
