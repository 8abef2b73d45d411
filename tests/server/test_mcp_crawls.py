"""The MCP crawl tools (crawl_site, refresh_site, crawl_status) through the SDK's own client over
streamable HTTP: offered to a caller with an API key only, answering at once with the crawl id,
acting as the key's session, within the server's limits and its address policy."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests

from tests.support.changing_site import ChangingSite, change_the_site, first_version
from tests.support.mcp import CRAWL_TOOLS, TOOLS, cookie_of, descriptions_over_http, session_over_http
from tests.support.server import ServerProcess, wait_until


@pytest.fixture
def site() -> Iterator[ChangingSite]:
    served = ChangingSite(first_version(), delay={"/docs/e.html": 3.0})  # long enough to see it run
    yield served
    served.stop()


def key_session(base: str) -> tuple[requests.Session, dict[str, str]]:
    http = requests.Session()
    assert http.get(base + "/api/health", timeout=5).status_code == 200
    made = http.post(base + "/api/keys", json={"name": "assistant"}, timeout=5)
    assert made.status_code in (200, 201), made.text
    return http, {"Authorization": f"Bearer {made.json()['key']}"}


def status(base: str, headers: dict[str, str], crawl_id: str) -> dict:
    [(failed, text)] = session_over_http(base + "/mcp", headers, [("crawl_status", {"crawl_id": crawl_id})])[1]
    assert not failed, text
    return json.loads(text)


def test_with_a_key_a_site_is_crawled_followed_and_refreshed(app_server: ServerProcess, site):
    base = app_server.base
    http, headers = key_session(base)
    descriptions_over_http(base + "/mcp", headers)  # the server loads the MCP SDK on its first /mcp request
    started = time.monotonic()
    tools, [(failed, text)] = session_over_http(base + "/mcp", headers, [
        ("crawl_site", {"url": site.url("/docs/"), "max_pages": 20, "exclude": ["*/gone.html"]})])
    took = time.monotonic() - started
    assert tools == TOOLS | CRAWL_TOOLS
    assert not failed, text
    answer = json.loads(text)
    crawl_id = answer["crawl_id"]
    assert answer["state"] == "queued" and "crawl_status" in answer["next"]
    assert took < 2.5  # returned before the crawl could end (one of its pages alone takes 3 s)
    assert status(base, headers, crawl_id)["done"] is False

    done = wait_until(lambda: (s := status(base, headers, crawl_id))["done"] and s, timeout=60, interval=0.3,
                      message="the crawl to end")
    assert done["state"] == "completed" and done["pages"]["ok"] == 7  # gone.html excluded
    # The crawl is the key's session's: listed for its cookie, as if it had started it over REST.
    rows = http.get(base + "/api/crawls", timeout=10).json()["crawls"]
    assert [row["crawl_id"] for row in rows] == [crawl_id]
    detail = http.get(f"{base}/api/crawls/{crawl_id}", timeout=10).json()
    assert detail["config"]["max_pages"] == 20 and detail["config"]["exclude"] == ["*/gone.html"]

    change_the_site(site)
    host = site.url("/").split("//", 1)[1].rstrip("/").split(":")[0]
    _, [(failed, text)] = session_over_http(base + "/mcp", headers, [("refresh_site", {"site": host})])
    assert not failed, text
    refreshed = json.loads(text)
    assert refreshed["refresh_of"] == crawl_id and host
    after = wait_until(lambda: (s := status(base, headers, refreshed["crawl_id"]))["done"] and s, timeout=60,
                       interval=0.3, message="the refresh to end")
    assert after["refresh_of"] == crawl_id and after["changes"]["new"] == 1 and after["changes"]["changed"] == 3


def test_without_a_key_the_crawl_tools_are_neither_offered_nor_callable(app_server: ServerProcess, site):
    http = requests.Session()
    assert http.get(app_server.base + "/api/health", timeout=5).status_code == 200
    tools, [(failed, text)] = session_over_http(app_server.base + "/mcp", {"Cookie": cookie_of(http)},
                                                [("crawl_site", {"url": site.url("/docs/")})])
    assert tools == TOOLS
    assert failed and "crawl_site" in text
    assert http.get(app_server.base + "/api/crawls", timeout=10).json()["crawls"] == []
    assert site.hits == []


def test_the_descriptions_say_who_may_call_them_and_what_limits_apply(app_server: ServerProcess):
    _, headers = key_session(app_server.base)
    descriptions = descriptions_over_http(app_server.base + "/mcp", headers)
    for name in CRAWL_TOOLS:
        assert "API key" in descriptions[name] and "private" in descriptions[name], name
        assert "max_pages 1-100000" in descriptions[name]


@pytest.mark.parametrize(("arguments", "words"), [
    ({"max_pages": 0}, "max_pages must be between 1 and 100000"),
    ({"max_pages": 100_001}, "max_pages must be between 1 and 100000"),
    ({"include": [f"/p{i}/*" for i in range(101)]}, "include accepts at most 100 patterns"),
    ({"exclude": ["re:("]}, "not a valid regular expression"),
])
def test_the_limits_are_the_servers(app_server: ServerProcess, site, arguments, words):
    http, headers = key_session(app_server.base)
    _, [(failed, text)] = session_over_http(app_server.base + "/mcp", headers,
                                            [("crawl_site", {"url": site.url("/docs/"), **arguments})])
    assert failed and words in text, text
    assert http.get(app_server.base + "/api/crawls", timeout=10).json()["crawls"] == []


def test_another_sessions_crawl_is_unknown_to_a_key(app_server: ServerProcess, site):
    _, mine = key_session(app_server.base)
    _, theirs = key_session(app_server.base)
    _, [(_, text)] = session_over_http(app_server.base + "/mcp", mine, [("crawl_site", {"url": site.url("/docs/")})])
    crawl_id = json.loads(text)["crawl_id"]
    _, answers = session_over_http(app_server.base + "/mcp", theirs, [("crawl_status", {"crawl_id": crawl_id}),
                                                                       ("refresh_site", {"site": crawl_id}),
                                                                       ("crawl_status", {"crawl_id": "../../etc"})])
    assert [failed for failed, _ in answers] == [True, True, True]
    assert "unknown crawl" in answers[0][1] and "unknown site" in answers[1][1] and "unknown crawl" in answers[2][1]


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("guarded-mcp") / "crawls")
    yield proc
    proc.stop()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/docs/", "http://169.254.169.254/latest/meta-data/",
                                 "http://localhost:9/", "http://[::1]:9/", "http://10.1.2.3/docs/"])
def test_a_private_address_is_refused(guarded_server: ServerProcess, url):
    http, headers = key_session(guarded_server.base)
    _, [(failed, text)] = session_over_http(guarded_server.base + "/mcp", headers,
                                            [("crawl_site", {"url": url})])
    assert failed and "refusing to crawl" in text and "address" in text, text
    assert http.get(guarded_server.base + "/api/crawls", timeout=10).json()["crawls"] == []
