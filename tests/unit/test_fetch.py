"""The fetching stage against a real local HTTP server: redirects, content types, stop, timeouts."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from crawler.engine.errors import FetchFailed, PageSkipped, StopRequested, TransientFailure
from crawler.engine.fetch import fetch_page
from tests.support.site import page_path


def fetch(site, path, stop=None, timeout=5.0, refuse=lambda target: None):
    with requests.Session() as session:
        return fetch_page(session, site.base + path, timeout=timeout, stop=stop or threading.Event(),
                          check_redirect=refuse)


def test_fetches_html_with_charset(make_site):
    site = make_site(pages=3)
    page = fetch(site, page_path(1))
    assert page.http_status == 200 and page.encoding == "utf-8" and b"Page 1 title" in page.body


def test_follows_a_redirect_chain_checking_every_hop(make_site):
    site = make_site(pages=3, redirects={"/docs/old": "/docs/older", "/docs/older": page_path(2)})
    asked = []
    page = fetch(site, "/docs/old", refuse=lambda target: asked.append(target))
    assert page.url == site.base + page_path(2)
    assert asked == [site.base + "/docs/older", site.base + page_path(2)]


def test_each_answer_is_reported_when_its_headers_arrive(make_site):
    """The frontier counts a host's Crawl-delay from the later of sending and answer: every hop
    the site answered is reported, in order, before the page is returned."""
    site = make_site(pages=3, redirects={"/docs/old": page_path(2)})
    answered = []
    with requests.Session() as session:
        page = fetch_page(session, site.base + "/docs/old", timeout=5, stop=threading.Event(),
                          check_redirect=lambda target: None, answered=answered.append)
    assert page.url == site.base + page_path(2)
    assert answered == [site.base + "/docs/old", site.base + page_path(2)]


def test_redirect_refused_by_scope_is_skipped_without_requesting_it(make_site):
    site = make_site(pages=3, redirects={"/docs/away": "/outside/"})
    with pytest.raises(PageSkipped, match="redirected to .*/outside/: out of scope"):
        fetch(site, "/docs/away", refuse=lambda target: "out of scope")
    assert site.hits["/outside/"] == 0


def test_redirect_loop_ends_with_a_clear_reason(make_site):
    site = make_site(pages=1, redirects={"/docs/a": "/docs/b", "/docs/b": "/docs/a"})
    with pytest.raises(FetchFailed, match="redirect loop"):
        fetch(site, "/docs/a")
    assert site.hits["/docs/a"] == 1 and site.hits["/docs/b"] == 1


def test_non_html_is_skipped_by_content_type(make_site):
    site = make_site(pages=1)
    with pytest.raises(PageSkipped, match=r"not HTML \(application/pdf\)"):
        fetch(site, "/docs/manual.pdf")


def test_http_errors_fail_with_the_status(make_site):
    site = make_site(pages=1)
    with pytest.raises(FetchFailed) as failure:
        fetch(site, "/docs/missing.html")
    assert failure.value.http_status == 404 and "HTTP 404" in failure.value.reason


def test_a_slow_server_times_out(make_site):
    site = make_site(pages=3, slow_pages={1: 3.0})
    started = time.monotonic()
    with pytest.raises(TransientFailure, match="no response within 1 s"):
        fetch(site, page_path(1), timeout=1.0)
    assert time.monotonic() - started < 2.5


def test_stop_interrupts_a_trickling_body(make_site):
    site = make_site(pages=3, trickle_pages={1})
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    with pytest.raises(StopRequested):
        fetch(site, page_path(1), stop=stop, timeout=10)
    assert time.monotonic() - started < 1.5, "the stop is seen between chunks, not after the body"


def test_connection_refused_is_a_failure_not_a_crash():
    with requests.Session() as session, pytest.raises(TransientFailure, match="^connection refused$"):
        fetch_page(session, "http://127.0.0.1:9/", timeout=2, stop=threading.Event(),
                   check_redirect=lambda target: None)


@pytest.fixture
def forward_proxy():
    """A plain-HTTP proxy that answers every request itself, naming the URL it was asked for."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"<html><title>proxied</title><body>via proxy: {self.path}</body></html>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_crawl_session_keeps_the_environments_proxies_and_reads_them_once_per_host(make_site, forward_proxy,
                                                                                     monkeypatch):
    import requests.sessions

    from crawler.engine.fetch import CrawlSession

    site = make_site(pages=3)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "all_proxy", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", forward_proxy)
    reads = []
    original = requests.sessions.get_environ_proxies
    monkeypatch.setattr(requests.sessions, "get_environ_proxies",
                        lambda url, no_proxy=None: reads.append(url) or original(url, no_proxy=no_proxy))
    other_host = site.base.replace("127.0.0.1", "localhost")
    with CrawlSession() as session:
        for n in range(1, 4):
            page = fetch_page(session, site.base + page_path(n), timeout=5, stop=threading.Event(),
                              check_redirect=lambda target: None)
            assert page.body.startswith(b"<html><title>proxied") and page_path(n).encode() in page.body
        fetch_page(session, other_host + page_path(1), timeout=5, stop=threading.Event(),
                   check_redirect=lambda target: None)
    assert [url.split("/docs")[0] for url in reads] == [site.base, other_host]  # once per host, not per page
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # a new session sees the change; this host now goes direct
    with CrawlSession() as session:
        page = fetch_page(session, site.base + page_path(1), timeout=5, stop=threading.Event(),
                          check_redirect=lambda target: None)
    assert b"Page 1 title" in page.body and b"via proxy" not in page.body
