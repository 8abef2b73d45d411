"""MCP answers an assistant can use, through the SDK's own client over stdio and streamable HTTP:
URL variants resolve, a section comes back by its heading, highlights never break a link, a site
crawled three times gives each hit once, and every tool is annotated read-only."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support.flat_site import ENVIRONMENT_WORD, PAGES, SPECIAL_WORD, FlatSite
from tests.support.mcp import call_all, cookie_of, over_stdio
from tests.support.server import crawl_over_rest, wait_until

TOOLS = {"list_sites", "search_docs", "get_page", "get_outline"}


@pytest.fixture
def flat_site() -> Iterator[FlatSite]:
    site = FlatSite().start()
    yield site
    site.stop()


def searchable(base: str, http: requests.Session, crawl_id: str, word: str = "plain") -> None:
    def done() -> bool:
        answer = http.get(base + "/api/search", params={"q": word, "crawl": crawl_id}, timeout=5)
        return answer.status_code == 200 and answer.json()["total"] >= 1

    wait_until(done, message="the crawl's pages indexed")


def refresh(base: str, http: requests.Session, crawl_id: str) -> str:
    answer = http.post(f"{base}/api/crawls/{crawl_id}/refresh", timeout=10)
    assert answer.status_code in (200, 202), answer.text
    new_id = answer.json()["crawl_id"]
    wait_until(lambda: http.get(f"{base}/api/crawls/{new_id}", timeout=5).json()["state"] == "completed",
               timeout=60, message="the refresh to complete")
    return new_id


def over_http_with_tools(url: str, headers: dict[str, str],
                         calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[Any], list[tuple[bool, str]]]:
    async def run() -> tuple[list[Any], list[tuple[bool, str]]]:
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http, \
                Client(streamable_http_client(url, http_client=http)) as client:
            tools = (await client.list_tools()).tools
            return tools, await call_all(client, calls)

    return asyncio.run(run())


def highlighted_inside_link(text: str) -> bool:
    """Whether a **mark** sits inside Markdown link syntax or a URL."""
    return bool(re.search(r"\]\([^)]*\*\*|https?://\S*\*\*", text))


@pytest.mark.parametrize("server", ["threading"], indirect=True)
def test_url_variants_sections_and_highlights_over_stdio(server, make_client, flat_site):
    client = make_client(connect=False)
    crawl_id = crawl_over_rest(server.base, client.http, flat_site.url(), render="never")
    searchable(server.base, client.http, crawl_id, SPECIAL_WORD)
    reference = flat_site.url("Reference-manual_functions.html")
    options = flat_site.url("Builtin-options.html")
    quick = flat_site.url("Quick-guide.html")

    tools, answers = over_stdio(server.data_dir, [
        ("get_page", {"url": reference + "#add_global_arguments"}),  # a link copied out of a page
        ("get_page", {"url": quick + "?utm_source=newsletter&utm_medium=mail#cross-builds", "max_chars": 50000}),
        ("get_page", {"url": flat_site.url("index.html")}),  # index.html is the directory
        ("get_page", {"url": flat_site.url("Reference-manual_function.html")}),  # a typo
        ("get_page", {"url": options, "section": "Configuration › Environment variables"}),
        ("get_page", {"url": options, "section": "environment-variables"}),
        ("get_page", {"url": options, "section": "../../../etc/passwd"}),
        ("get_page", {"url": options, "section": "x" * 5000}),
        ("get_page", {"url": options, "offset": 10**12}),
        ("get_page", {"url": reference, "max_chars": 3000}),
        ("get_page", {"url": reference + "#fn_3"}),  # the site's own id, not a slug of the heading
        ("search_docs", {"query": '"function 3 reference"', "site": crawl_id, "limit": 1}),
        ("search_docs", {"query": SPECIAL_WORD, "site": crawl_id}),
        ("search_docs", {"query": '"cross compilation"', "site": crawl_id}),
        ("search_docs", {"query": ENVIRONMENT_WORD, "site": crawl_id, "section_chars": 0}),
        ("get_outline", {"site": crawl_id}),
    ])
    assert tools == TOOLS
    (fragment, tracked, index_html, typo, by_path, by_anchor, traversal, huge_section, huge_offset, sliced,
     site_id, site_id_hit, special, cross, environment, outline) = answers

    # The fragment names a heading: that section comes back, not the 20,000-character page.
    assert not fragment[0], fragment[1]
    assert f"Source: {reference}" in fragment[1] and "Section: Functions › add_global_arguments()" in fragment[1]
    assert SPECIAL_WORD in fragment[1] and "function_3()" not in fragment[1] and "late_0" not in fragment[1]
    # Tracking parameters dropped; a fragment that names no heading... here it does: Cross builds.
    assert not tracked[0] and f"Source: {quick}" in tracked[1] and "Section: Quick guide › Cross builds" in tracked[1]
    assert not index_html[0] and f"Source: {flat_site.url()}" in index_html[1]
    assert typo[0] and "nearest saved pages" in typo[1] and reference in typo[1]

    for answer in (by_path, by_anchor):
        assert not answer[0], answer[1]
        assert "Section: Built-in options › Configuration › Environment variables" in answer[1]
        assert ENVIRONMENT_WORD in answer[1] and "Machine files" not in answer[1] and "[end of text]" in answer[1]
    assert traversal[0] and "has no section" in traversal[1] and "environment-variables" in traversal[1]
    assert huge_section[0] and "at most 1000 characters" in huge_section[1]
    assert huge_offset[0] and "past the end" in huge_offset[1]

    # A slice ends between paragraphs or lines, never mid-word, and says where to go on.
    assert not sliced[0]
    shown = re.search(r"\[characters 0–(\d+) of (\d+)\]\n\n(.*)\n\n\[\d+ more characters", sliced[1], re.S)
    assert shown and int(shown.group(1)) <= 3000 and shown.group(3).endswith(("\n", ".", ")", "`"))

    # A heading's id on the site (fn_3 for "function_3()") names its section, in get_page and in hits.
    assert not site_id[0] and "Section: Functions › function_3()" in site_id[1], site_id[1][:300]
    assert "function 3 reference" in site_id[1] and "function 4 reference" not in site_id[1]
    assert not site_id_hit[0] and f"url: {reference}#fn_3\n" in site_id_hit[1], site_id_hit[1][:600]
    assert "section='fn_3'" in site_id_hit[1] or "section: Functions › function_3()" in site_id_hit[1]

    # A search hit is a section: its heading path, its URL with the anchor, sizes, its text.
    assert not special[0], special[1]
    assert "Functions › add_global_arguments()" in special[1]
    assert f"url: {reference}#add_global_arguments" in special[1]
    assert re.search(r"page: \d{4,} characters\s+section: \d+ characters", special[1])
    assert f"**{SPECIAL_WORD}**" in special[1] and "Adds global arguments to the compiler command line" in special[1]

    # The link's text is highlighted, its target is not part of the snippet at all.
    assert not cross[0], cross[1]
    assert "**cross** **compilation**" in cross[1].lower() or "**cross compilation**" in cross[1].lower()
    assert "example.invalid" not in cross[1] and "](" not in cross[1] and not highlighted_inside_link(cross[1])

    assert not environment[0] and "Built-in options › Configuration › Environment variables" in environment[1]
    assert "more characters in this section: get_page(" in environment[1]

    # The outline notes what the site publishes for models itself.
    assert not outline[0] and f"The site publishes its own <{flat_site.url('llms.txt')}>" in outline[1]
    assert "## Getting started" in outline[1] and "## Optional" in outline[1]


@pytest.mark.parametrize("server", ["threading"], indirect=True)
def test_three_crawls_of_one_site_give_each_hit_once_over_http(server, make_client, flat_site):
    client = make_client(connect=False)
    first = crawl_over_rest(server.base, client.http, flat_site.url(), render="never")
    second = refresh(server.base, client.http, first)
    third = refresh(server.base, client.http, second)
    for crawl_id in (first, second, third):
        searchable(server.base, client.http, crawl_id, SPECIAL_WORD)

    headers = {"Cookie": cookie_of(client.http)}
    tools, answers = over_http_with_tools(server.base + "/mcp", headers, [
        ("search_docs", {"query": SPECIAL_WORD}),
        ("search_docs", {"query": "plain words"}),
        ("search_docs", {"query": SPECIAL_WORD, "site": first}),
        ("list_sites", {}),
        ("get_page", {"url": flat_site.url("Reference-manual_functions.html") + "#add_global_arguments"}),
    ])
    special, common, older, sites, page = answers

    assert {tool.name for tool in tools} == TOOLS
    for tool in tools:  # read-only, safe to call again, no side effects
        assert tool.annotations is not None and tool.annotations.read_only_hint is True, tool
        assert tool.annotations.destructive_hint is False and tool.annotations.title

    assert not special[0] and "Results 1–1 of 1 for" in special[1] and special[1].count("url: ") == 1
    assert f"site: {third}" in special[1]  # the newest completed crawl stands for the site
    pages_with_words = int(re.search(r"of (\d+) for", common[1]).group(1))
    assert pages_with_words <= len(PAGES) + 1  # never three times the site
    urls = re.findall(r"url: (\S+)", common[1])
    assert len(urls) == len(set(urls))
    # An older crawl stays reachable by its id.
    assert not older[0] and f"site: {first}" in older[1]

    assert not sites[0] and "1 sites (3 crawls" in sites[1] and "- Flat Docs" in sites[1]
    assert f"site: {third} (current, completed)" in sites[1] and f"site: {first} (older crawl, completed)" in sites[1]
    assert f"start URL: {flat_site.url()}" in sites[1] and "last crawled: 20" in sites[1]
    assert "pages searchable" in sites[1] and "search_docs(query" in sites[1]

    assert not page[0] and f"(site {third}" in page[1] and SPECIAL_WORD in page[1]
    assert "Section: Functions › add_global_arguments()" in page[1] and "late_0" not in page[1]

    # The REST search of the dashboard counts the site once too, with plain-text snippets.
    answer = client.http.get(server.base + "/api/search", params={"q": "cross compilation"}, timeout=5).json()
    assert answer["total"] == 1, answer
    snippet = answer["results"][0]["snippet"]
    assert "<mark>cross</mark>" in snippet.lower() and "](" not in snippet and "example.invalid" not in snippet
