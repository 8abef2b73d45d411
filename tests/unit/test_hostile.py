"""Hostile and broken sites: every fault ends as one `ok`, `failed` or `skipped` record with a clear
reason code, the crawl goes on and memory stays bounded.

Unit tests call the fetching and parsing stages directly against the hostile site
(tests/support/hostile.py) where that is the clearest; one end-to-end test crawls the whole site
with the real controller and process pool and checks every record.
"""

from __future__ import annotations

import random
import resource
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from crawler.engine.config import parse_crawl_config
from crawler.engine.controller import CrawlController
from crawler.engine.cpu import EXTRACT_ERROR_MARKER_ENV, AnalysisFailed, CpuPool, analyze_page
from crawler.engine.errors import FetchFailed, PageSkipped, TransientFailure
from crawler.engine.events import RecordingSink
from crawler.engine.fetch import FetchedPage, fetch_page, looks_binary
from crawler.engine.netguard import guard_session
from crawler.engine.parse import parse_document
from crawler.engine.urls import canonical_url
from crawler.folder.reader import iter_manifest
from crawler.folder.writer import CrawlStore
from tests.support.hostile import EXPECTED, EXTRACT_ERROR_MARKER, MAX_DEPTH, HostileSite
from tests.support.hostile import outcome_key as _key

MB = 1024 * 1024


@pytest.fixture(scope="module")
def site() -> Iterator[HostileSite]:
    hostile = HostileSite().start()
    yield hostile
    hostile.stop()


def fetch(url: str, timeout: float = 2.0) -> FetchedPage:
    """One fetch through a session as the crawler builds them (its connection guard, no address policy)."""
    with guard_session(requests.Session(), None) as session:
        return fetch_page(session, url, timeout=timeout, stop=threading.Event(), check_redirect=lambda target: None)


def failure_of(url: str, timeout: float = 2.0) -> FetchFailed | PageSkipped:
    """The exception fetching `url` ends with (a test of a fault that did not fault fails here)."""
    try:
        page = fetch(url, timeout)
    except (FetchFailed, PageSkipped) as exc:
        return exc
    raise AssertionError(f"{url} was fetched ({page.http_status}, {len(page.body)} bytes) instead of failing")


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KB


# ---- connecting ---------------------------------------------------------------------------


def test_connection_refused_is_transient_and_says_so(site):
    failure = failure_of(site.refused_url)
    assert isinstance(failure, TransientFailure)
    assert (failure.code, failure.reason) == ("connection", "connection refused")


def test_connection_reset_before_any_response_is_transient(site):
    failure = failure_of(site.url("/reset"))
    assert isinstance(failure, TransientFailure)
    assert (failure.code, failure.reason) == ("connection", "connection reset by the server")


def test_connection_reset_mid_body_is_an_interrupted_download(site):
    failure = failure_of(site.url("/reset-mid-body"))
    assert isinstance(failure, TransientFailure) and failure.code == "interrupted"
    assert "reset" in failure.reason and failure.http_status == 200


def test_a_name_that_does_not_resolve_fails_at_once_and_is_not_retried():
    """RFC 6761 reserves .invalid: no resolver may answer it, so this needs no network."""
    started = time.monotonic()
    failure = failure_of("http://no-such-host.invalid/docs/")
    assert type(failure) is FetchFailed, "a DNS failure will not fix itself in seconds: no TransientFailure"
    assert failure.code == "dns" and failure.reason.startswith("cannot resolve host 'no-such-host.invalid'")
    assert time.monotonic() - started < 10


def test_a_connect_that_never_completes_times_out(site):
    started = time.monotonic()
    failure = failure_of(site.connect_timeout_url, timeout=1.0)
    assert isinstance(failure, TransientFailure)
    assert (failure.code, failure.reason) == ("timeout", "could not connect within 1 s")
    assert time.monotonic() - started < 2.5


def test_a_server_that_never_answers_times_out(site):
    started = time.monotonic()
    failure = failure_of(site.url("/stall"), timeout=1.0)
    assert isinstance(failure, TransientFailure)
    assert (failure.code, failure.reason) == ("timeout", "no response within 1 s")
    assert time.monotonic() - started < 2.5


# ---- the body -----------------------------------------------------------------------------


def test_a_body_that_trickles_forever_hits_the_total_time_limit(site):
    """Each byte arrives well within the read timeout; only the per-page limit (3 × timeout) ends it."""
    started = time.monotonic()
    failure = failure_of(site.url("/trickle"), timeout=1.0)
    elapsed = time.monotonic() - started
    assert type(failure) is FetchFailed and failure.code == "too_slow"
    assert 3.0 <= elapsed < 4.5


def test_headers_that_trickle_forever_hit_the_same_time_limit(site):
    """Socket timeouts bound each read; headers sent a byte at a time need the wall-clock limit."""
    started = time.monotonic()
    failure = failure_of(site.url("/slow-headers"), timeout=1.0)
    elapsed = time.monotonic() - started
    assert type(failure) is FetchFailed and failure.code == "too_slow"
    assert "response headers" in failure.reason
    assert 3.0 <= elapsed < 4.5
    assert fetch(site.url("/good/1"), 1.0).http_status == 200  # the limit does not linger on the thread


def test_a_body_announced_larger_than_the_cap_is_refused_before_reading(site):
    started = time.monotonic()
    failure = failure_of(site.url("/huge"))
    assert type(failure) is FetchFailed and failure.code == "too_large"
    assert "Content-Length 15,728,640" in failure.reason and time.monotonic() - started < 1


def test_an_endless_body_without_length_is_cut_while_streaming(site):
    before = max_rss_mb()
    failure = failure_of(site.url("/huge-stream"))
    assert type(failure) is FetchFailed and failure.code == "too_large"
    assert "cut off while downloading" in failure.reason
    assert max_rss_mb() - before < 100


@pytest.mark.parametrize("path", ["/bomb.gz", "/bomb.deflate", "/bomb-nested.gz"])
def test_a_compression_bomb_is_cut_at_the_cap_after_decompression(site, path):
    """Each bomb inflates to 1 GB of HTML; decoding stops after 10 MB and memory does not jump.

    (ru_maxrss is the process's peak: a bomb inflated whole would raise it by about a gigabyte.)
    """
    before = max_rss_mb()
    started = time.monotonic()
    failure = failure_of(site.url(path))
    assert type(failure) is FetchFailed and failure.code == "too_large", failure.reason
    assert max_rss_mb() - before < 200
    assert time.monotonic() - started < 5


def test_a_corrupt_gzip_body_fails_without_a_retry(site):
    failure = failure_of(site.url("/bad-gzip"))
    assert type(failure) is FetchFailed and failure.code == "bad_encoding"


def test_a_body_shorter_than_its_content_length_is_an_interrupted_download(site):
    failure = failure_of(site.url("/truncated"))
    assert isinstance(failure, TransientFailure) and failure.code == "interrupted"
    assert "closed before the whole body arrived" in failure.reason


def test_binary_bytes_served_as_html_are_skipped(site):
    failure = failure_of(site.url("/binary"))
    assert isinstance(failure, PageSkipped)
    assert (failure.code, failure.http_status) == ("binary", 200)


def test_an_empty_page_is_skipped_as_empty(site):
    failure = failure_of(site.url("/empty"))
    assert isinstance(failure, PageSkipped)
    assert (failure.code, failure.reason) == ("empty", "empty page (the server sent no content)")


def test_binary_detection_leaves_text_in_any_encoding_alone():
    text = "<html><body><p>Documentation: 設定ファイルの読み込み, café, naïve, Ελληνικά.</p></body></html>" * 20
    for encoding in ("utf-8", "shift_jis", "utf-16", "utf-32", "cp1252"):
        data = text.encode(encoding, errors="replace")
        assert not looks_binary(data[:1024], encoding), encoding
    assert not looks_binary("<p>ok</p>".encode("utf-16"), None), "a BOM marks UTF-16 even without a charset"
    assert not looks_binary(b"<p>one stray \x00 byte in real markup</p>" * 10, "utf-8")
    noise = random.Random(7).randbytes(1024)
    assert looks_binary(noise, "utf-8") and looks_binary(bytes(1024), "utf-8")
    assert looks_binary(b"%PDF-1.7\n" + b"x" * 100, None) and looks_binary(b"\x1f\x8b\x08" + b"x" * 100, None)


# ---- decoding and parsing what arrived ------------------------------------------------------


@pytest.mark.parametrize(("path", "title"), [
    ("/bad-charset", "Bad charset café"),  # charset=foo-bar: the page's own <meta charset> is used
    ("/no-charset", "No charset naïve"),  # no charset anywhere: valid UTF-8 is read as UTF-8
    ("/bad-utf8", "Bad UTF-8"),  # invalid bytes become U+FFFD, the rest of the page is intact
    ("/no-content-type", "No content type"),
])
def test_lying_or_missing_charsets_still_give_the_page(site, path, title):
    page = fetch(site.url(path))
    analysis = analyze_page(page.body, page.encoding, page.url)
    assert analysis.title == title
    assert analysis.words > 100 and "scheduler hands each request" in analysis.markdown


def test_malformed_html_is_parsed_leniently(site):
    page = fetch(site.url("/malformed"))
    analysis = analyze_page(page.body, page.encoding, page.url)
    assert analysis.words > 20 and site.url("/good/1") in analysis.links


@pytest.mark.parametrize("body", [b"<!-- only a comment -->", b"   \n\t", b"\x00\x00", b"<?xml version='1.0'?>", b""])
@pytest.mark.parametrize("encoding", ["utf-8", "foo-bar", "base64", None])
def test_parsing_never_raises_on_what_a_server_sends(body, encoding):
    tree = parse_document(body, encoding)
    assert tree.tag == "html"


# ---- redirects and errors -----------------------------------------------------------------


def test_a_redirect_loop_fails_as_a_loop(site):
    failure = failure_of(site.url("/loop-a"))
    assert type(failure) is FetchFailed and failure.code == "redirect_loop"


def test_an_over_long_redirect_chain_fails_after_ten_hops(site):
    before = sum(count for path, count in site.hits.items() if path.startswith("/chain/"))
    failure = failure_of(site.url("/chain/1"))
    assert type(failure) is FetchFailed and failure.code == "too_many_redirects"
    assert sum(count for path, count in site.hits.items() if path.startswith("/chain/")) - before == 11


def test_4xx_fails_at_once_and_5xx_is_worth_a_retry(site):
    not_found = failure_of(site.url("/404"))
    assert type(not_found) is FetchFailed and (not_found.code, not_found.http_status) == ("http_error", 404)
    server_error = failure_of(site.url("/500"))
    assert isinstance(server_error, TransientFailure)
    assert (server_error.code, server_error.http_status) == ("http_error", 500)


# ---- extraction ---------------------------------------------------------------------------


def test_an_exception_in_extraction_fails_the_page_with_its_stage(site, monkeypatch):
    monkeypatch.setenv(EXTRACT_ERROR_MARKER_ENV, EXTRACT_ERROR_MARKER)
    page = fetch(site.url("/extract-raises"))
    with pytest.raises(AnalysisFailed) as failure:
        analyze_page(page.body, page.encoding, page.url)
    assert failure.value.code == "extract_error" and failure.value.reason.startswith("extract error: RuntimeError")
    assert isinstance(failure.value, FetchFailed), "recorded like any failed page, never retried"
    good = fetch(site.url("/good/1"))
    assert analyze_page(good.body, good.encoding, good.url).words > 100


# ---- link traps ---------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "canonical"), [
    ("http://h/docs/page.html;jsessionid=0A1B2C3D4E", "http://h/docs/page.html"),
    ("http://h/docs/page.html;JSESSIONID=0A1B?b=2&a=1", "http://h/docs/page.html?a=1&b=2"),
    ("http://h/docs/;jsessionid=abc/page", "http://h/docs/page"),
    ("http://h/p?PHPSESSID=9f8e7d&lang=en", "http://h/p?lang=en"),
    ("http://h/p?sid=123&page=2", "http://h/p?page=2"),
    ("http://h/p?sessionid=1&session_id=2&SessId=3&jsessionid=4", "http://h/p"),
    ("http://h/p?ASPSESSIONIDQQGGQGPG=ABC&CFID=1&CFTOKEN=2", "http://h/p"),
    ("http://h/(S(lit3py55t21z5v55vlm25s55))/page.aspx", "http://h/page.aspx"),
    # Lookalikes are kept: only whole parameter names are session ids.
    ("http://h/docs/sidebar?side=left&sidx=2&sids=3", "http://h/docs/sidebar?side=left&sids=3&sidx=2"),
    ("http://h/docs/sid=1/page", "http://h/docs/sid=1/page"),
])
def test_canonical_url_drops_session_ids(raw, canonical):
    assert canonical_url(raw) == canonical


def test_a_fresh_session_id_in_every_link_is_one_page():
    urls = {canonical_url(f"http://h/session?sid={n}") for n in range(50)}
    urls |= {canonical_url(f"http://h/session;jsessionid={n}") for n in range(50)}
    assert urls == {"http://h/session"}


# ---- the whole site, end to end -------------------------------------------------------------

RETRIED = {"refused", "connect-timeout", "/stall", "/reset", "/reset-mid-body", "/truncated", "/500"}


@pytest.mark.slow
def test_crawling_the_hostile_site_gives_one_clear_record_per_link(tmp_path: Path, monkeypatch):
    """The whole site through the real controller and process pool: the crawl ends, in bounded
    time, with exactly one record per link on the index page, each with the expected outcome."""
    monkeypatch.setenv(EXTRACT_ERROR_MARKER_ENV, EXTRACT_ERROR_MARKER)
    site = HostileSite().start()
    # spawn: the workers start with this test's environment (a fork server may predate it).
    cpu = CpuPool(workers=2, start_method="spawn")
    try:
        config = parse_crawl_config({
            "url": site.base + "/", "scope": "subdomains",  # other ports of 127.0.0.1 are in scope
            "timeout": 2, "max_retries": 1, "max_depth": MAX_DEPTH, "max_pages": 100,
            "concurrency": 16, "per_host_concurrency": 16, "respect_robots": False, "use_sitemaps": False,
        })
        store = CrawlStore(tmp_path / "crawl")
        sink = RecordingSink()
        controller = CrawlController("hostile", config, store, sink, threading.Event(), cpu)
        started = time.monotonic()
        summary = controller.run()
        elapsed = time.monotonic() - started
    finally:
        cpu.shutdown()
        site.stop()

    assert summary["state"] == "completed", summary
    assert elapsed < 25, f"the crawl took {elapsed:.1f} s"
    records = list(iter_manifest(tmp_path / "crawl"))
    per_url = Counter(record["url"] for record in records)
    assert not [url for url, count in per_url.items() if count > 1], "one record per URL"
    by_key = {_key(site, record["url"]): record for record in records}

    linked = {_key(site, canonical_url(link) or link) for link in site.index_links()}
    assert linked == set(EXPECTED), "the test's table lists every link of the index page"
    outcomes = {key: (by_key[key]["status"], by_key[key]["reason"]) for key in linked if key in by_key}
    assert outcomes == EXPECTED
    for key in linked:
        record = by_key[key]
        if record["status"] != "ok":
            assert record["error"], f"{key} has no human-readable reason"
        if key in RETRIED:
            assert record["error"].endswith("(after 2 tries)"), (key, record["error"])
    assert by_key["/"]["status"] == "ok" and by_key["/good/1"]["words"] > 100

    # The traps are bounded: the calendar by max_depth, session ids by the canonical URL.
    calendar = [key for key in by_key if key.startswith("/calendar/")]
    assert len(calendar) == MAX_DEPTH and all(by_key[key]["status"] == "ok" for key in calendar)
    assert sum(count for path, count in site.hits.items() if path.startswith("/calendar/")) == MAX_DEPTH
    # Fresh ids in every link, yet two pages: /session and /session?lang=en (lang is a real parameter).
    assert sorted(key for key in by_key if key.startswith("/session")) == ["/session", "/session?lang=en"]
    assert sum(count for path, count in site.hits.items() if path.startswith("/session")) == 2
    assert summary["failed"] == sum(1 for record in records if record["status"] == "failed")
