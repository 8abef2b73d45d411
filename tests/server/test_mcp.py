"""The MCP server through the SDK's own client: over stdio (crawler-mcp) and over
streamable HTTP at /mcp on the real server, against crawls the real server made."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from crawler.folder.reader import page_body
from crawler.outputs.llms import LLMS_TXT
from tests.support.mcp import TOOLS, cookie_of, over_http, over_stdio
from tests.support.server import ServerProcess, crawl_over_rest, wait_until

crawl = crawl_over_rest


def indexed(base: str, http: requests.Session, crawl_id: str, pages: int) -> None:
    def done() -> bool:
        answer = http.get(base + "/api/search", params={"q": "paragraph", "crawl": crawl_id}, timeout=5)
        assert answer.status_code == 200, answer.text
        return answer.json()["total"] == pages

    wait_until(done, message="the crawl's pages indexed")










def stored_body(data_dir: Path, crawl_id: str, url: str) -> str:
    response = next(line for line in (data_dir / crawl_id / "manifest.jsonl").read_text().splitlines()
                    if f'"url": "{url}"' in line)
    path = re.search(r'"path": "([^"]+)"', response).group(1)
    return page_body((data_dir / crawl_id / path).read_text(encoding="utf-8"))


def read_whole_page(answers: list[str]) -> str:
    """The text of a page read slice by slice (each answer: header, slice, then where to go on)."""
    text = ""
    for answer in answers:
        match = re.search(r"\[characters \d+–\d+ of \d+\]\n\n(.*)\n\n\[(?:\d+ more characters|end of text)", answer, re.S)
        assert match, answer
        text += match.group(1)
    return text


@pytest.mark.slow
@pytest.mark.parametrize("server", ["threading"], indirect=True)
def test_stdio_serves_every_crawl_of_the_data_dir(server, make_client, make_site):
    client = make_client(connect=False)
    site = make_site(pages=12, paragraphs=40, site_meta=True)
    crawl_id = crawl(server.base, client.http, site.url(0))
    indexed(server.base, client.http, crawl_id, 12)
    page_url = site.url(7)
    body = stored_body(server.data_dir, crawl_id, page_url)
    assert len(body) > 5000  # long enough to need several slices

    tools, answers = over_stdio(server.data_dir, [
        ("list_sites", {}),
        ("search_docs", {"query": '"Paragraph 3 of page 7"', "site": crawl_id}),  # other tests' crawls share the dir
        ("search_docs", {"query": "paragraph", "site": crawl_id, "limit": 5}),
        ("search_docs", {"query": "paragraph", "site": crawl_id, "limit": 5, "offset": 10}),
        ("get_page", {"url": page_url, "max_chars": 2000}),
        ("get_outline", {"site": crawl_id}),
        ("search_docs", {"query": '"unclosed phrase'}),
        ("search_docs", {"query": "paragraph", "limit": 500}),
        ("get_page", {"url": site.url(0) + "never-crawled.html"}),
        ("get_outline", {"site": "no-such-site.example"}),
    ])
    assert tools == TOOLS
    sites, phrase, first, last, page, outline, bad_query, bad_limit, unknown_page, unknown_site = answers
    assert not sites[0] and crawl_id in sites[1] and site.url(0) in sites[1] and "12 pages searchable" in sites[1]

    assert not phrase[0] and page_url in phrase[1] and "**Paragraph 3 of page 7**" in phrase[1]
    assert "Results 1–5 of 12" in first[1] and "offset=5)" in first[1] and "7 more results" in first[1]
    assert "Results 11–12 of 12" in last[1] and "more results" not in last[1]

    # A long page comes in slices; following what each answer says gives the whole page, exactly.
    assert not page[0] and re.search(r"\[characters 0–(\d+) of", page[1]) and 1000 <= int(re.search(r"\[characters 0–(\d+) of", page[1]).group(1)) <= 2000
    slices = [page[1]]
    while "more characters" in slices[-1]:
        offset = int(re.search(r"offset=(\d+)\) for the rest", slices[-1]).group(1))
        slices.append(over_stdio(server.data_dir, [("get_page", {"url": page_url, "offset": offset,
                                                                  "max_chars": 2000})])[1][0][1])
    assert len(slices) >= 3 and slices[-1].endswith("[end of text]")
    assert read_whole_page(slices) == body

    llms_txt = (server.data_dir / crawl_id / LLMS_TXT).read_text(encoding="utf-8")
    assert not outline[0] and llms_txt.strip() in outline[1] and "# Test Docs" in outline[1]

    assert bad_query[0] and "quotation mark is not closed" in bad_query[1]
    assert bad_limit[0] and "limit must be a whole number from 1 to 50" in bad_limit[1]
    assert unknown_page[0] and "no stored page has the URL" in unknown_page[1]
    assert unknown_site[0] and "call list_sites" in unknown_site[1]


@pytest.mark.parametrize("server", ["threading"], indirect=True)
def test_http_sees_only_the_sessions_own_crawls(server, make_client, make_site):
    alice, bob = make_client(connect=False), make_client(connect=False)
    site_a, site_b = make_site(pages=6), make_site(pages=5)
    crawl_a = crawl(server.base, alice.http, site_a.url(0))
    crawl_b = crawl(server.base, bob.http, site_b.url(0))
    indexed(server.base, alice.http, crawl_a, 6)
    indexed(server.base, bob.http, crawl_b, 5)
    calls = [("list_sites", {}), ("search_docs", {"query": "paragraph", "limit": 50}),
             ("get_page", {"url": site_a.url(3)}), ("get_page", {"url": site_b.url(3)}),
             ("get_outline", {"site": crawl_a}), ("get_outline", {"site": crawl_b})]

    sites, results, page_a, page_b, outline_a, outline_b = over_http(
        server.base + "/mcp", {"Cookie": cookie_of(alice.http)}, calls)
    assert crawl_a in sites[1] and crawl_b not in sites[1]
    assert "of 6 for 'paragraph'" in results[1] and site_b.url(0) not in results[1]
    assert not page_a[0] and "Paragraph 0 of page 3" in page_a[1]
    assert page_b[0] and "no stored page has the URL" in page_b[1]
    assert not outline_a[0] and site_a.url(0) in outline_a[1]
    assert outline_b[0] and "unknown site" in outline_b[1]

    sites, results, page_a, page_b, _, outline_b = over_http(
        server.base + "/mcp", {"Cookie": cookie_of(bob.http)}, calls)
    assert crawl_b in sites[1] and crawl_a not in sites[1]
    assert "of 5 for 'paragraph'" in results[1] and site_a.url(0) not in results[1]
    assert page_a[0] and not page_b[0] and not outline_b[0]

    # No cookie: a new session, which has no crawls.
    sites, results, page_a, *_ = over_http(server.base + "/mcp", {}, calls)
    assert "No crawled sites yet" in sites[1] and "No results" in results[1] and page_a[0]


@pytest.mark.parametrize("server", ["threading"], indirect=True)
def test_http_on_loopback_keeps_the_dns_rebinding_guard(server):
    """Without a token the server is on loopback only; a page on another host name that resolves
    to 127.0.0.1 must not reach the tools."""
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
               "MCP-Protocol-Version": "2025-06-18"}
    refused = requests.post(server.base + "/mcp", json=request, timeout=10,
                            headers={**headers, "Host": f"rebound.example:{server.port}"})
    assert refused.status_code in (400, 403, 421), refused.text
    allowed = requests.post(server.base + "/mcp", json=request, timeout=10, headers=headers)
    assert allowed.status_code == 200 and "search_docs" in allowed.text


def test_http_follows_the_access_token_rule(tmp_path, make_site):
    token = "mcp-test-token-0123456789"
    server = ServerProcess(tmp_path / "crawls", "--allow-private-targets", "--token", token)
    try:
        site = make_site(pages=4)
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        http.get(server.base + "/api/health", timeout=5)
        crawl_id = crawl(server.base, http, site.url(0))
        indexed(server.base, http, crawl_id, 4)
        request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        missing = requests.post(server.base + "/mcp", json=request, headers=headers, timeout=10)
        wrong = requests.post(server.base + "/mcp", json=request, timeout=10,
                              headers={**headers, "Authorization": "Bearer wrong"})
        assert missing.status_code == 401 and "access token is required" in missing.json()["error"]
        assert wrong.status_code == 401 and wrong.json()["error"] == "the access token is not valid"
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")

        answers = over_http(server.base + "/mcp", {"Authorization": f"Bearer {token}",
                                                   "Cookie": cookie_of(http)},
                            [("list_sites", {}), ("search_docs", {"query": '"Paragraph 1 of page 2"'})])
        assert crawl_id in answers[0][1] and site.url(2) in answers[1][1]
    finally:
        server.stop()


@pytest.mark.parametrize("server", ["eventlet"], indirect=True)
def test_under_eventlet_search_works_and_mcp_over_http_says_where_to_go(server, make_client, make_site):
    client = make_client(connect=False)
    site = make_site(pages=5)
    crawl_id = crawl(server.base, client.http, site.url(0))
    indexed(server.base, client.http, crawl_id, 5)
    answer = client.http.post(server.base + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                              timeout=10)
    assert answer.status_code == 501 and "crawler-mcp" in answer.json()["error"]


def test_the_server_loads_the_mcp_sdk_on_the_first_mcp_request_only(tmp_path):
    """The SDK (pydantic, starlette...) costs a server ~35 MB: a server nobody asks over /mcp
    never imports it; the first request does."""
    script = (
        "import sys\n"
        "from crawler.web.app import create_app\n"
        f"app = create_app({{'data_dir': {str(tmp_path / 'crawls')!r}, 'cpu_workers': 1}})\n"
        "print('mcp' in sys.modules)\n"
        "client = app.test_client()\n"
        "client.get('/api/health')\n"
        "answer = client.post('/mcp', json={'jsonrpc': '2.0', 'id': 1, 'method': 'ping'},\n"
        "                     headers={'Accept': 'application/json, text/event-stream'})\n"
        "print('mcp' in sys.modules, answer.status_code)\n"
        "import os; os._exit(0)\n")
    out = tmp_path / "out.txt"
    with out.open("w") as handle:  # a file, not a pipe: the extraction processes may outlive the script a moment
        subprocess.run([sys.executable, "-c", script], stdout=handle, stderr=subprocess.DEVNULL, timeout=60,
                       cwd=str(Path(__file__).resolve().parents[2]))
    assert out.read_text().split()[:3] == ["False", "True", "200"], out.read_text()
