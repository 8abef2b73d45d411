"""Unit tests of the pure parts: config, URLs, frontier, storage paths, parsing, progress maths."""

from __future__ import annotations

import json
import random
import re
import threading
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.engine.config import ConfigError, parse_crawl_config
from crawler.engine.estimate import eta_seconds, percent_of, windowed_speed
from crawler.engine.events import PAGE_FIELDS, PAYLOAD_FIELDS, Event, RecordingSink, Stage, State, iso_timestamp
from crawler.engine.extract import extract_markdown, page_document
from crawler.engine.fetch import parse_retry_after
from crawler.engine.frontier import Admission, Frontier
from crawler.engine.netguard import ensure_public_target, non_public_reason
from crawler.engine.parse import find_canonical, find_links, find_title, parse_document
from crawler.engine.progress import ProgressTracker
from crawler.engine.robots import rules_from_response
from crawler.engine.scheduler import backoff_seconds
from crawler.engine.sender import ProgressSender
from crawler.engine.urls import canonical_url, host_of, in_scope, matches_any, passes_filters, scope_prefix
from crawler.folder.reader import iter_manifest
from crawler.folder.writer import CrawlStore, StoreClosed, relative_page_path
from tests.support import contract

ROOT = Path(__file__).resolve().parents[2]


# ---- config ----

def test_config_defaults_and_normalised_url():
    config = parse_crawl_config({"url": "docs.example.org/guide/"})
    assert config.url == "https://docs.example.org/guide/"
    assert (config.max_pages, config.max_depth, config.concurrency, config.scope) == (500, 10, 8, "prefix")
    assert config.respect_robots is True


@pytest.mark.parametrize("data, message", [
    ({"url": "https://x.org", "concurrency": 0}, "concurrency must be between 1 and 64"),
    ({"url": "https://x.org", "concurrency": True}, "concurrency must be a whole number"),
    ({"url": "https://x.org", "max_depth": "deep"}, "max_depth must be a whole number"),
    ({"url": "https://x.org", "timeout": 0.5}, "timeout must be between 1 and 120"),
    ({"url": "https://x.org", "scope": "planet"}, "scope must be one of prefix, host"),
    ({"url": "https://user:pw@x.org"}, "user name or password"),
    ({"url": "https://x.org:99999/"}, "url is not valid"),
    ({"url": "  "}, "url is required"),
    ({"url": "https://x.org", "concurency": 3}, "did you mean 'concurrency'"),
    ({"url": "https://x.org", "user_agent": "a\r\nX-Injected: 1"}, "single line"),
    ("https://x.org", "must be a JSON object"),
])
def test_config_errors_are_specific(data, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_crawl_config(data)


def test_config_accepts_patterns_as_text_lines():
    config = parse_crawl_config({"url": "https://x.org/", "include": "/docs/*\n\n/api/*", "respect_robots": "false"})
    assert config.include == ("/docs/*", "/api/*") and config.respect_robots is False


# ---- URLs ----

@pytest.mark.parametrize("raw, canonical", [
    ("HTTP://Docs.Example.ORG:80/a/./b/../c#frag", "http://docs.example.org/a/c"),
    ("https://x.org:443//guide//intro/", "https://x.org/guide/intro/"),
    ("https://x.org", "https://x.org/"),
    ("https://x.org/%7euser/a%20b", "https://x.org/~user/a%20b"),
    ("https://x.org/p?b=2&a=1", "https://x.org/p?a=1&b=2"),
    ("https://x.org/p?utm_source=news&utm_medium=x&fbclid=1&gclid=2&q=1", "https://x.org/p?q=1"),
    ("https://x.org/guide/index.html", "https://x.org/guide/"),
    ("https://x.org/guide/INDEX.HTM?x=1", "https://x.org/guide/?x=1"),
    ("https://x.org/guide/index.html.md", "https://x.org/guide/index.html.md"),
    ("https://x.org:8443/p", "https://x.org:8443/p"),
    ("mailto:someone@x.org", None),
    ("ftp://x.org/file", None),
    ("https:///nohost", None),
])
def test_canonical_url(raw, canonical):
    assert canonical_url(raw) == canonical


def test_scope_prefix_and_host():
    start = "https://x.org/docs/v2/index.html"
    assert scope_prefix(start) == "/docs/v2/"
    assert in_scope("https://x.org/docs/v2/api/", start, "prefix")
    assert not in_scope("https://x.org/docs/v1/", start, "prefix")
    assert in_scope("https://x.org/blog/", start, "host")
    assert not in_scope("https://other.org/docs/v2/", start, "host")
    assert not in_scope("http://x.org/docs/v2/", start, "prefix"), "another scheme is another site"
    www = "https://www.x.org/docs/"
    assert in_scope("https://api.x.org/", www, "subdomains") and in_scope("http://x.org/a", www, "subdomains")
    assert not in_scope("https://evilx.org/", www, "subdomains") and not in_scope("https://x.org.evil.com/", www, "subdomains")
    assert not in_scope("https://api.x.org/", www, "host")


def test_glob_filters_match_path_or_whole_url():
    url = "https://x.org/docs/api/client.html?v=2"
    assert matches_any(url, ("/docs/api/*",))
    assert matches_any(url, ("*.html?v=2",))
    assert matches_any(url, ("https://x.org/docs/*",))
    assert not matches_any(url, ("/blog/*",))
    assert passes_filters(url, (), ("*/changelog*",))
    assert not passes_filters("https://x.org/docs/changelog/", (), ("*/changelog*",))
    assert not passes_filters(url, ("/guide/*",), ())


# ---- frontier ----

class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_frontier(**overrides) -> Frontier:
    options = dict(scope="prefix", max_depth=3, max_pages=100)
    options.update(overrides)
    return Frontier("https://x.org/docs/", **options)


def admit(frontier: Frontier, url: str, depth: int = 1) -> Admission:
    return frontier.offer(url, depth)[0]


def test_frontier_deduplicates_equivalent_urls_and_keeps_bfs_order():
    frontier = make_frontier(per_host_concurrency=10)
    assert admit(frontier, "https://x.org/docs/", 0) == Admission.QUEUED
    assert admit(frontier, "HTTPS://X.org:443/docs/index.html#top") == Admission.SEEN
    assert admit(frontier, "https://x.org/docs/a") == Admission.QUEUED
    assert admit(frontier, "https://x.org/docs/b?utm_source=feed") == Admission.QUEUED
    assert admit(frontier, "https://x.org/docs/b") == Admission.SEEN
    assert admit(frontier, "https://x.org/docs/./a", 2) == Admission.SEEN
    assert [frontier.next_request().url for _ in range(3)] == [
        "https://x.org/docs/", "https://x.org/docs/a", "https://x.org/docs/b"]
    assert frontier.next_request() is None


def test_frontier_remembers_canonical_forms_without_changing_them():
    frontier = make_frontier()
    sidebar = "https://x.org/docs/#/guide/install"
    assert frontier.canonical(sidebar) == "https://x.org/docs/"
    frontier.keep_routes("x.org")  # the host turned out to be hash-routed: the remembered form is not used
    assert frontier.canonical(sidebar) == "https://x.org/docs/#/guide/install"
    cached = frontier._canonical_of.cache_info()
    assert cached.hits == 1 and cached.misses == 1, "each page's repeated links are canonicalised once"
    long = "https://x.org/docs/" + "a" * 1000 + "?utm_source=x"
    assert frontier.canonical(long) == "https://x.org/docs/" + "a" * 1000
    assert frontier._canonical_of.cache_info().currsize == 1, "a long URL (a hostile page's) is not kept"
    frontier.close()
    assert frontier._canonical_of.cache_info().currsize == 0, "an ended crawl keeps none"


def test_frontier_refuses_out_of_scope_too_deep_filtered_and_robots():
    robots = rules_from_response(200, "User-agent: *\nDisallow: /docs/private/\n", "CrawlerDashboard")
    frontier = make_frontier(exclude=("*/changelog*",), allowed_by_robots=robots.allows)
    assert admit(frontier, "https://x.org/blog/") == Admission.OUT_OF_SCOPE
    assert admit(frontier, "https://x.org/docs/deep", 4) == Admission.TOO_DEEP
    assert admit(frontier, "https://x.org/docs/deep", 2) == Admission.QUEUED, "a shorter path may come later"
    assert admit(frontier, "https://x.org/docs/changelog/") == Admission.FILTERED
    assert admit(frontier, "https://x.org/docs/private/key") == Admission.ROBOTS
    assert admit(frontier, "https://x.org/docs/private/key") == Admission.SEEN, "reported once"
    assert frontier.offer("https://x.org/blog/chosen", 0, source="selection", forced=True)[0] == Admission.QUEUED
    assert frontier.offer("https://x.org/docs/private/x", 0, forced=True)[0] == Admission.ROBOTS, "robots always apply"
    assert frontier.queued == 2


def test_frontier_budget_is_exact_and_failures_free_their_slot():
    frontier = make_frontier(max_pages=2, per_host_concurrency=10)
    for index in range(5):
        admit(frontier, f"https://x.org/docs/{index}")
    first, second = frontier.next_request(), frontier.next_request()
    assert first and second and frontier.next_request() is None, "two slots, two requests in flight"
    frontier.finish(first, saved=False)  # the first failed: its slot goes to the next URL
    third = frontier.next_request()
    assert third is not None and frontier.next_request() is None
    frontier.finish(second, saved=True)
    frontier.finish(third, saved=True)
    assert frontier.saved == 2 and frontier.budget_exhausted and frontier.next_request() is None
    assert frontier.is_done()


def test_frontier_per_host_cap_and_delay():
    clock = FakeClock()
    frontier = make_frontier(scope="subdomains", per_host_concurrency=2, delay=1.0, clock=clock)
    for index in range(4):
        admit(frontier, f"https://x.org/docs/{index}")
        admit(frontier, f"https://api.x.org/{index}")
    handed = [frontier.next_request() for _ in range(3)]
    assert [host_of(r.url) for r in handed if r] == ["x.org", "api.x.org"], "round robin, delay blocks a 2nd start"
    assert handed[2] is None
    clock.now += 1.0
    third = frontier.next_request()
    assert third is not None and host_of(third.url) == "x.org"
    clock.now += 1.0
    assert host_of(frontier.next_request().url) == "api.x.org"
    clock.now += 1.0
    assert frontier.next_request() is None, "both hosts are at their cap of 2 in flight"
    frontier.finish(third, saved=True)
    assert host_of(frontier.next_request().url) == "x.org"


def test_a_hosts_delay_counts_from_when_its_request_is_sent_not_taken():
    clock = FakeClock()
    frontier = make_frontier(per_host_concurrency=4, delay=1.0, clock=clock)
    for index in range(3):
        admit(frontier, f"https://x.org/docs/{index}")
    first = frontier.next_request()
    clock.now += 0.3  # a fetcher thread to wake, a session to open: the request leaves late
    frontier.sending(first.url)
    clock.now += 0.8  # 1.1 s after it was taken, 0.8 s after it was sent
    assert frontier.next_request() is None, "the site would see two requests 0.8 s apart"
    clock.now += 0.2
    second = frontier.next_request()
    assert second is not None
    frontier.sending(second.url)
    clock.now += 0.4  # the connection took a while: the answer begins 0.4 s after sending
    frontier.sending(second.url)
    clock.now += 0.8
    assert frontier.next_request() is None, "the site may have seen the request only 0.8 s ago"
    clock.now += 0.2
    assert frontier.next_request() is not None
    no_delay = make_frontier(per_host_concurrency=4, clock=clock)
    admit(no_delay, "https://x.org/docs/a")
    admit(no_delay, "https://x.org/docs/b")
    no_delay.sending(no_delay.next_request().url)
    assert no_delay.next_request() is not None, "without a delay, sending holds nothing back"


def test_a_page_being_processed_holds_no_fetch_slot_of_its_host_but_its_budget():
    frontier = make_frontier(max_pages=3, per_host_concurrency=1)
    for index in range(5):
        admit(frontier, f"https://x.org/docs/{index}")
    first = frontier.next_request()
    assert first is not None and frontier.next_request() is None, "one request in flight: the cap"
    frontier.fetch_ended(first)  # fetched, now being processed: the host may be asked again
    second = frontier.next_request()
    assert second is not None and frontier.next_request() is None
    frontier.finish(first, saved=True, fetch_ended=True)  # processed: the slot is not given back twice
    assert frontier.next_request() is None, "the second request still holds the host's one slot"
    frontier.fetch_ended(second)
    again = frontier.retry_later(second, 0.0, fetch_ended=True)  # processing asked for a retry
    third = frontier.next_request()
    assert third is not None and third.url == again.url and frontier.next_request() is None
    frontier.finish(third, saved=True)  # a fetch that ends the request gives its slot back here
    assert frontier.saved == 2 and frontier.next_request() is not None


def test_frontier_back_off_and_retry_later():
    clock = FakeClock()
    frontier = make_frontier(clock=clock)
    admit(frontier, "https://x.org/docs/a")
    admit(frontier, "https://x.org/docs/b")
    first = frontier.next_request()
    frontier.back_off("x.org", 10.0, "HTTP 429")
    again = frontier.retry_later(first, 10.0)
    assert again.tries == 1 and frontier.queued == 2
    assert frontier.next_request() is None and frontier.backoffs()[0]["reason"] == "HTTP 429"
    assert not frontier.is_done(), "a retry is still due"
    clock.now += 10.0
    retried = frontier.next_request()
    assert retried.url == "https://x.org/docs/a" and retried.tries == 1, "a retry goes before new work"
    assert frontier.backoffs() == []


def test_frontier_stores_a_page_once_and_drops_queued_copies():
    frontier = make_frontier(per_host_concurrency=10)
    admit(frontier, "https://x.org/docs/a")
    admit(frontier, "https://x.org/docs/b")
    page = frontier.next_request()
    assert frontier.claim_page("https://x.org/docs/b"), "a's rel=canonical names b"
    assert not frontier.claim_page("https://x.org/docs/b")
    frontier.finish(page, saved=True)
    assert frontier.next_request() is None, "b was stored already: not fetched again"


def test_frontier_claims_redirect_targets_once():
    frontier = make_frontier()
    admit(frontier, "https://x.org/docs/a")
    assert not frontier.claim("https://x.org/docs/a#x")
    assert frontier.claim("https://x.org/docs/b")
    assert not frontier.claim("https://x.org/docs/b")
    assert frontier.accepts("https://x.org/blog/") == Admission.OUT_OF_SCOPE


def test_backoff_is_exponential_jittered_capped_and_honours_retry_after():
    rng = random.Random(1)
    delays = [backoff_seconds(tries, rng=rng) for tries in range(8)]
    assert all(0.5 * min(60, 2 ** t) <= d <= 1.5 * min(60, 2 ** t) for t, d in enumerate(delays))
    assert backoff_seconds(0, retry_after=7) == 7 and backoff_seconds(0, retry_after=10_000) == 120
    assert parse_retry_after("5") == 5.0 and parse_retry_after("soon") is None
    now = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Mon, 23 Nov 2026 12:00:30 GMT", now=now) == 30.0


def test_robots_rules_follow_the_conventions():
    assert rules_from_response(404, "", "bot").allows("https://x.org/anything")
    assert not rules_from_response(503, "", "bot").allows("https://x.org/anything")
    rules = rules_from_response(200, "User-agent: *\nDisallow: /*.pdf$\nAllow: /docs/\nCrawl-delay: 2", "bot")
    assert rules.allows("https://x.org/docs/a.html") and not rules.allows("https://x.org/docs/a.pdf")
    assert rules.crawl_delay == 2.0


# ---- storage ----

@pytest.mark.parametrize("url, path", [
    ("https://x.org/", "pages/index.md"),
    ("https://x.org/docs/", "pages/docs/index.md"),
    ("https://x.org/docs/a.html", "pages/docs/a.md"),
    ("https://x.org/docs/a", "pages/docs/a.md"),
    ("https://x.org/docs/%2e%2e/%2e%2e/etc/passwd", "pages/docs/_/_/etc/passwd.md"),
    ("https://x.org/docs/a b<>:|.html", "pages/docs/a_b_.md"),
])
def test_relative_page_path_is_safe_and_mirrors_the_url(url, path):
    assert relative_page_path(url) == path


def test_relative_page_path_query_and_long_segments():
    with_query = relative_page_path("https://x.org/search?q=1")
    assert with_query.startswith("pages/search_q-") and with_query.endswith(".md")
    assert with_query != relative_page_path("https://x.org/search?q=2")
    long_path = relative_page_path("https://x.org/" + "a" * 500)
    assert len(long_path.split("/")[-1]) <= 84


def test_store_streams_pages_never_collides_and_stops_writing_when_closed(tmp_path):
    store = CrawlStore(tmp_path / "crawl")
    store.open()
    first = store.save_page(url="https://x.org/a", document="# A\n", title="A", depth=0, http_status=200,
                            words=1, fetched_at=iso_timestamp())
    second = store.save_page(url="https://x.org/a.html", document="# A2\n", title="A2", depth=1, http_status=200,
                             words=1, fetched_at=iso_timestamp())
    assert first.path == "pages/a.md" and second.path != first.path
    assert (tmp_path / "crawl" / second.path).read_text() == "# A2\n"
    store.record(url="https://x.org/b.pdf", status="skipped", error="not HTML", depth=1, http_status=200,
                 fetched_at=iso_timestamp())
    # Each line is on disk at once (flushed), before the store is closed.
    assert [e["status"] for e in iter_manifest(tmp_path / "crawl")] == ["ok", "ok", "skipped"]
    store.close()
    with pytest.raises(StoreClosed):
        store.save_page(url="https://x.org/c", document="x", title=None, depth=0, http_status=200, words=0,
                        fetched_at=iso_timestamp())
    assert len(list(iter_manifest(tmp_path / "crawl"))) == 3
    assert not list((tmp_path / "crawl").rglob("*.part"))


def test_manifest_reader_ignores_a_torn_last_line(tmp_path):
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"url": "a", "status": "ok"}) + "\n{\"url\": \"b\", \"sta")
    assert [e["url"] for e in iter_manifest(tmp_path)] == ["a"]


# ---- parsing and extraction ----

HTML = b"""<html><head><title> Getting
  started </title><base href="/docs/"></head><body>
<nav><a href="/">Home</a></nav>
<article><h1>Getting started</h1><p>Install the package with pip and run the command shown
below to crawl your first documentation site in under a minute.</p>
<pre><code>pip install crawler</code></pre>
<p>See <a href="guide.html#setup">the guide</a>, <a href="guide.html">again</a>,
<a href="mailto:x@y.z">mail</a>, <a href="javascript:void(0)">js</a>,
<a rel="nofollow" href="/login">login</a> and <a href="https://other.org/">elsewhere</a>.</p></article>
</body></html>"""


def test_parse_finds_title_and_links_relative_to_base():
    tree = parse_document(HTML)
    assert find_title(tree) == "Getting started"
    assert find_links(tree, "https://x.org/docs/start.html") == [
        "https://x.org/", "https://x.org/docs/guide.html", "https://other.org/"]


def test_parse_finds_the_canonical_link_relative_to_base():
    tree = parse_document(b'<html><head><base href="/docs/"><link rel="alternate" href="/fr/">'
                          b'<link rel="Canonical" href="guide.html"></head></html>')
    assert find_canonical(tree, "https://x.org/print/guide.html") == "https://x.org/docs/guide.html"
    assert find_canonical(parse_document(HTML), "https://x.org/") is None


def test_extracted_markdown_keeps_relative_links_relative_to_the_page():
    paragraph = "<p>A paragraph long enough to be taken for the main content of this page. </p>" * 4
    tree = parse_document(f"<html><body><article><h1>Guide</h1>{paragraph}<p>See <a href='intro.html'>the intro</a>, "
                          f"<a href='../api/client.html#connect'>the client</a> and <a href='https://o.org/a'>o</a>."
                          f"</p></article></body></html>".encode())
    markdown = extract_markdown(tree, "https://x.org/docs/guide/start.html")
    assert "[the intro](https://x.org/docs/guide/intro.html)" in markdown
    assert "[the client](https://x.org/docs/api/client.html#connect)" in markdown
    assert "[o](https://o.org/a)" in markdown


def test_a_plain_preformatted_block_is_kept_as_a_fenced_code_block():
    paragraph = "<p>A paragraph long enough to be taken for the main content of this page. </p>" * 4
    tree = parse_document(f"<html><body><article><h1>Guide</h1>{paragraph}<pre>pip install crawler\n"
                          f"crawler --help</pre><p>Then run it.</p></article></body></html>".encode())
    assert "```\npip install crawler\ncrawler --help\n```" in extract_markdown(tree, "https://x.org/docs/")


def test_permalinks_in_headings_are_dropped_and_other_links_kept():
    paragraph = "<p>A paragraph long enough to be taken for the main content of this page. </p>" * 4
    tree = parse_document(f"<html><body><article><h1>Guide</h1>{paragraph}"
                          f"<h2><a href='#/guide/install?id=details' class='anchor'><span>Details</span></a></h2>"
                          f"{paragraph}<h2>Setup <a class='headerlink' href='#setup'>#</a></h2>{paragraph}"
                          f"<h3><a href='https://o.org/spec'>The spec</a></h3>{paragraph}</article></body></html>".encode())
    markdown = extract_markdown(tree, "https://x.org/docs/#/guide/install")
    assert "## Details" in markdown and "?id=details" not in markdown
    # the permalink sign itself (`#`, Sphinx's `¶`) is page chrome, not part of the heading
    assert "## Setup\n" in markdown and "#setup" not in markdown
    assert "[The spec](https://o.org/spec)" in markdown


def test_parse_honours_http_charset_and_survives_garbage():
    text = "<html><head><title>Café</title></head><body></body></html>".encode("latin-1")
    assert find_title(parse_document(text, "iso-8859-1")) == "Café"
    assert find_title(parse_document(b"")) is None
    assert find_title(parse_document(b"\x00\xff\xfe binary", None)) is None


def test_extract_keeps_content_and_code_drops_navigation():
    markdown = extract_markdown(parse_document(HTML), "https://x.org/docs/start.html")
    assert "Install the package with pip" in markdown and "pip install crawler" in markdown
    document = page_document("Getting started", "https://x.org/docs/start.html", markdown)
    assert document.startswith("# Getting started\n\nSource: <https://x.org/docs/start.html>")


# ---- progress maths and the sender ----

def test_speed_eta_percent():
    times = deque([1.0, 2.0, 3.0, 9.0, 10.0])
    assert windowed_speed(times, now=12.0, started=0.0, window=10.0) == pytest.approx(0.4)
    assert list(times) == [2.0, 3.0, 9.0, 10.0], "finishes older than the window leave it"
    assert windowed_speed(deque(), now=5.0, started=0.0) == 0.0
    assert windowed_speed(deque([0.2, 0.4]), now=0.5, started=0.0) == 2.0, "short spans count as 1 s"
    assert eta_seconds(30, 2.0) == 15.0 and eta_seconds(30, 0.0) is None and eta_seconds(0, 0.0) == 0.0
    assert percent_of(1, 3) == 33.3 and percent_of(0, 0) == 0.0 and percent_of(5, 4) == 100.0


def test_tracker_counts_stages_and_ignores_late_stage_updates():
    clock = iter(range(100)).__next__
    tracker = ProgressTracker("c", "s", clock=lambda: float(clock()))
    tracker.set_state(State.RUNNING, "go")
    tracker.page_stage("u1", Stage.FETCHING, 0)
    tracker.page_stage("u1", Stage.EXTRACTING, 0)
    tracker.page_stage("u1", Stage.PARSING, 0)  # late: ignored
    tracker.page_stage("u2", Stage.FETCHING, 1)
    tracker.page_done("u2", "failed", 1, error="HTTP 404")
    tracker.page_stage("u2", Stage.EXTRACTING, 1)  # after done: ignored
    tracker.set_frontier(pending=3, queued=2, final=False)
    snapshot = tracker.snapshot()
    assert snapshot["stages"] == {"fetching": 0, "rendering": 0, "parsing": 0, "extracting": 1, "storing": 0}
    assert (snapshot["current"], snapshot["failed"], snapshot["total"], snapshot["in_flight"]) == (1, 1, 4, 1)
    assert set(snapshot) == set(PAYLOAD_FIELDS[Event.PROGRESS])
    _, pages, _, _ = tracker.drain()
    assert [(p["url"], p["stage"]) for p in pages] == [
        ("u1", "fetching"), ("u1", "extracting"), ("u2", "fetching"), ("u2", "done")]
    assert all(set(p) == set(PAGE_FIELDS) for p in pages)


def test_sender_emits_in_order_and_finishes_once():
    tracker = ProgressTracker("c", "s")
    sink = RecordingSink()
    sender = ProgressSender(tracker, sink)
    sender.INTERVAL = 0.01
    sender.start()
    tracker.set_state(State.RUNNING, "go")
    tracker.log("info", "hello")
    tracker.page_stage("u", Stage.FETCHING, 0)
    tracker.page_done("u", "ok", 0, title="T")
    tracker.set_state(State.COMPLETED, "done")
    sender.finish(State.COMPLETED, {"ok": 1})
    names = [name for name, _ in sink.events]
    assert names[-1] == "crawler_finished" and names.count("crawler_finished") == 1
    assert names[-2] == "crawler_detailed_progress"
    assert [p["state"] for p in sink.of(Event.STATUS)] == ["running", "completed"]
    assert sink.of(Event.LOG)[0]["seq"] == 1
    for name, payload in sink.events:
        assert set(payload) == set(PAYLOAD_FIELDS[Event(name)]), name


def test_sender_that_never_started_still_finishes_once():
    tracker = ProgressTracker("c", "s")
    sink = RecordingSink()
    ProgressSender(tracker, sink).finish(State.STOPPED, {"ok": 0})
    assert [name for name, _ in sink.events][-1] == "crawler_finished"


def test_iso_timestamp_has_milliseconds():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", iso_timestamp())


# ---- network guard ----

@pytest.mark.parametrize("address, reason", [
    ("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("192.168.0.1", "private"),
    ("169.254.169.254", "link-local"), ("::1", "loopback"), ("::ffff:10.0.0.1", "private"),
    ("0.0.0.0", "unspecified"), ("8.8.8.8", None), ("2606:4700::1111", None),
])
def test_non_public_addresses_are_named(address, reason):
    assert non_public_reason(address) == reason


def test_ensure_public_target_refuses_loopback_names():
    with pytest.raises(ConfigError, match="--allow-private-targets"):
        ensure_public_target("http://localhost:8000/docs/")


# ---- the contract document ----

def test_docs_name_every_event_and_field():
    """docs/events.md documents each event's payload exactly: every field the engine sends, and no
    field it does not (from the progress table and the other events' JSON examples)."""
    progress = contract.event_section(Event.PROGRESS.value)
    assert contract.table_fields(progress) == set(PAYLOAD_FIELDS[Event.PROGRESS])
    for event in (Event.STATUS, Event.PAGE, Event.LOG, Event.FINISHED):
        examples = contract.json_examples(contract.event_section(event.value))
        assert examples, f"{event.value} has no JSON example"
        for example in examples:
            assert set(example) == set(PAYLOAD_FIELDS[event]), event.value
    for page in contract.json_examples(contract.event_section(Event.PAGE.value))[0]["pages"]:
        assert set(page) == set(PAGE_FIELDS)
    text = contract.text()
    for state in State:
        assert f"`{state.value}`" in text
    for stage in Stage:
        assert f"`{stage.value}`" in text


def test_store_is_safe_under_concurrent_writers(tmp_path):
    store = CrawlStore(tmp_path)
    store.open()

    def write(worker: int) -> None:
        for index in range(50):
            store.save_page(url=f"https://x.org/p{index}?w={worker}", document="x", title=None, depth=0,
                            http_status=200, words=1, fetched_at=iso_timestamp())

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = list(iter_manifest(tmp_path))
    assert len(entries) == 200 and len({e["path"] for e in entries}) == 200


def test_a_late_write_of_a_deleted_crawl_does_not_bring_its_folder_back(tmp_path):
    """Deleting a crawl removes its folder; a write that comes after (a page, the summary, a
    runner's crawl.json) must fail rather than recreate a folder that holds only that file."""
    import shutil

    folder = tmp_path / "20261127-120000-abcdef"
    store = CrawlStore(folder)
    store.open()
    store.save_page(url="https://x.org/docs/a/b.html", document="# a", title=None, depth=0, http_status=200,
                    words=1, fetched_at=iso_timestamp())
    shutil.rmtree(folder)
    with pytest.raises(OSError):
        store.save_page(url="https://x.org/docs/c/d.html", document="# c", title=None, depth=0, http_status=200,
                        words=1, fetched_at=iso_timestamp())
    with pytest.raises(OSError):
        store.write_meta("summary.json", {"state": "stopped"})
    assert not folder.exists()


def test_page_events_stay_bounded_when_nobody_drains_them():
    """A sender that falls behind (a long loop under eventlet) must not make each append O(n)."""
    tracker = ProgressTracker("c", "s")
    for n in range(20_000):
        tracker.page_stage(f"u{n}", Stage.FETCHING, 0)
        tracker.page_done(f"u{n}", "skipped", 0, reason="robots")
    _, pages, _, _ = tracker.drain()
    assert len(pages) <= 2000
    assert pages[-1]["url"] == "u19999" and pages[-1]["stage"] == "done"  # the newest are kept
    assert sum(p["stage"] == "done" for p in pages) >= 1000  # finished pages go last, intermediate stages first
    assert tracker.counts["skipped"] == 20_000  # the counts never lose anything

def test_a_request_beside_the_queue_takes_its_hosts_turn_and_keeps_the_delay():
    now = [100.0]
    frontier = Frontier("https://docs.example.org/", scope="prefix", max_depth=5, max_pages=10,
                        delay=1.0, clock=lambda: now[0])
    frontier.offer("https://docs.example.org/", 0)
    assert frontier.next_request() is not None  # the start page: next start at 101
    assert frontier.take_turn("docs.example.org") == 1.0  # the llms.txt probe waits a second
    assert frontier.take_turn("docs.example.org") == 2.0  # the next one a second more
    frontier.offer("https://docs.example.org/a", 1)
    now[0] = 102.5
    assert frontier.next_request() is None  # the pages wait behind the probes' turns
    now[0] = 103.0
    assert frontier.next_request() is not None
