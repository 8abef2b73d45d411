"""The dashboard in a real browser: headless Chromium driven through Playwright, against the real
server and a local doc site, clicking and typing as a person would.

The `browser` and `page` fixtures are in tests/conftest.py, the helpers in tests/support/browser.py.
Needs the `playwright` Python package and Debian's Chromium at /usr/bin/chromium (CI installs
both; elsewhere the tests are skipped with the reason). Every wait has a deadline (Playwright's
`expect`/`wait_for_*`), never a bare sleep.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

import pytest

from tests.support.browser import (
    expect,
    log_seqs,
    manifest_ok_lines,
    manifest_ok_urls,
    ok_count,
    start_crawl,
    stop_and_wait,
    wait_for_progress,
)
from tests.support.server import SERVER_MODES
from tests.support.site import Site

# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("server", SERVER_MODES, indirect=True)  # the transport is the point
def test_start_watch_and_stop_a_crawl(page, server, make_site):
    site = make_site(pages=80, latency=0.3)  # two workers: ~12 s for the whole site
    crawl_id = start_crawl(page, site.url(0), concurrency=2)
    wait_for_progress(page, site.base)
    assert page.locator("#stop-btn").is_enabled()
    assert page.locator("#start-btn").is_disabled(), "a second crawl cannot be started while one runs"

    kept = stop_and_wait(page)
    assert kept >= 1
    assert kept == manifest_ok_lines(server, crawl_id), "the label must match what was saved on disk"
    assert ok_count(page) == kept
    assert kept < 80, "the crawl was stopped, it did not run to its end"
    # Pages that were in a stage at the stop were abandoned: none is left looking active.
    expect(page.locator("#page-list li.page-row").first).to_be_visible()
    expect(page.locator("#page-list li.status-active")).to_have_count(0)
    expect(page.locator("#crawl-message")).to_have_text("stopped by user")

    # Downloads: every format, and the archive holds the kept pages.
    downloads = page.locator("#downloads")
    expect(downloads).to_be_visible()
    links = downloads.locator("a")
    expect(links).to_have_count(5)
    hrefs = [links.nth(i).get_attribute("href") for i in range(5)]
    assert [re.search(r"format=([\w-]+)", h).group(1) for h in hrefs] == \
        ["zip", "jsonl", "markdown", "llms", "llms-full"], hrefs
    assert all(h.startswith(f"/api/crawls/{crawl_id}/download") for h in hrefs), hrefs
    archive = page.request.get(hrefs[0])  # with the page's cookies: the owner's session
    assert archive.status == 200, archive.status
    assert archive.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(archive.body())).namelist()
    assert sum(1 for name in names if name.endswith(".md")) == kept
    llms = page.request.get(hrefs[3])
    assert llms.status == 200 and llms.text().startswith("# "), llms.text()[:200]
    assert llms.text().count("\n- [") == kept, "one link per kept page"

    # The history list shows the finished crawl with its downloads.
    row = page.locator(f'#history li[data-crawl-id="{crawl_id}"]')
    expect(row).to_have_attribute("data-state", "stopped")
    expect(row.locator("a.history-download")).to_have_count(5)


def test_reload_reattaches_to_the_running_crawl(page, server, make_site):
    site = make_site(pages=80, latency=0.3)
    crawl_id = start_crawl(page, site.url(0), concurrency=2)
    wait_for_progress(page, site.base, at_least=3)
    first_log_line = page.locator("#log .log-line .log-msg").first.inner_text()
    assert first_log_line.startswith(f"crawl of {site.url(0)} ")

    page.reload()
    expect(page.locator("#connection")).to_have_text("Connected")
    expect(page.locator("#crawl-id")).to_have_text(crawl_id)
    expect(page.locator("#crawl-state")).to_have_text("Running")
    expect(page.locator("#url")).to_have_value(site.url(0))
    expect(page.locator("#concurrency")).to_have_value("2")
    expect(page.locator("#stop-btn")).to_be_enabled()
    # The page list and the log are refilled from the crawl's recent pages and log lines: the
    # start page finished before the reload, so only `recent_pages` can bring its row back.
    home = page.locator(f'#page-list li[data-url="{site.url(0)}"]')
    expect(home).to_have_class(re.compile(r"\bstatus-ok\b"))
    expect(home.locator(".page-title")).to_have_text("Page 0 | Test Docs")
    expect(page.locator("#log .log-line .log-msg").first).to_have_text(first_log_line)

    # Progress keeps going after the reload, and each log line is shown once.
    after_reload = ok_count(page)
    page.wait_for_function("n => Number(document.getElementById('count-ok').textContent) > n",
                           arg=after_reload + 1, timeout=10_000)

    kept = stop_and_wait(page)
    assert kept == manifest_ok_lines(server, crawl_id)
    expect(page.locator("#downloads a")).to_have_count(5)
    # Lines logged before, during and after the reload are all there, each once, in seq order:
    # one "saved <url>" line per page on disk, and the last line is the crawl's end.
    seqs = log_seqs(page)
    assert seqs == list(range(1, len(seqs) + 1)), f"log lines missing, repeated or out of order: {seqs}"
    messages = page.locator("#log .log-line .log-msg").all_inner_texts()
    saved = [m.split(" ")[1] for m in messages if m.startswith("saved ")]
    assert sorted(saved) == sorted(manifest_ok_urls(server, crawl_id))
    assert messages[0] == first_log_line and messages[-1] == f"stopped: {kept} page{'' if kept == 1 else 's'} kept"


# Keeps a handle on the dashboard's socket (made by `io(...)` in app.js) so a test can cut it.
CAPTURE_SOCKET = """
(() => {
  let real;
  Object.defineProperty(window, "io", {
    configurable: true,
    get() { return real; },
    set(value) {
      real = typeof value !== "function" ? value : Object.assign(function () {
        const socket = value.apply(this, arguments);
        window.__dashboardSocket = socket;
        window.__connects = 0;
        socket.on("connect", () => { window.__connects += 1; });
        return socket;
      }, value);
    },
  });
})();
"""


@pytest.mark.parametrize("server", SERVER_MODES, indirect=True)  # the transport is the point
def test_connection_drop_catches_up_without_gaps_or_duplicates(page, server, make_site):
    site = make_site(pages=80, latency=0.3)
    page.add_init_script(CAPTURE_SOCKET)
    page.reload()
    expect(page.locator("#connection")).to_have_text("Connected")
    assert page.evaluate("window.__connects") == 1
    crawl_id = start_crawl(page, site.url(0), concurrency=2)
    wait_for_progress(page, site.base, at_least=2)

    # The transport dies (as on a network hiccup); the client reconnects on its own and, while it
    # was away, the crawl went on. Events of that gap are never replayed: the view catches up from
    # GET /api/crawls/<id> (recent_log, recent_pages) and merges them with what it already shows.
    before = ok_count(page)
    page.evaluate("window.__dashboardSocket.io.engine.close()")
    page.wait_for_function("() => window.__connects >= 2", timeout=10_000)
    expect(page.locator("#connection")).to_have_text("Connected")
    page.wait_for_function("n => Number(document.getElementById('count-ok').textContent) > n",
                           arg=before + 3, timeout=10_000)
    expect(page.locator("#crawl-id")).to_have_text(crawl_id)

    kept = stop_and_wait(page)
    assert kept == manifest_ok_lines(server, crawl_id)
    seqs = log_seqs(page)
    assert seqs == list(range(1, len(seqs) + 1)), f"log lines missing, repeated or out of order: {seqs}"
    messages = page.locator("#log .log-line .log-msg").all_inner_texts()
    saved = [m.split(" ")[1] for m in messages if m.startswith("saved ")]
    assert sorted(saved) == sorted(manifest_ok_urls(server, crawl_id)), "a saved page is missing from the log"
    assert messages[-1] == f"stopped: {kept} page{'' if kept == 1 else 's'} kept"
    # Every saved page has one finished row, including those finished while disconnected.
    rows = page.locator("#page-list li.status-ok")
    expect(rows).to_have_count(kept)
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.url)")) == sorted(saved)
    expect(page.locator("#page-list li.status-active")).to_have_count(0)


# A page whose title and an error reason (the HTTP reason phrase, shown as the page's error and in
# the log) carry markup. The dashboard must show them as text.
EVIL = '<img src=x onerror="document.body.dataset.pwned=1">'


@pytest.fixture
def evil_site() -> Iterator[str]:
    site = Site()
    site.route("/robots.txt", "not found", status=404, headers={"Content-Type": "text/plain"})
    site.route("/", f"<!doctype html><html><head><meta charset='utf-8'><title>{EVIL}</title></head><body>"
                    f"<main><h1>Evil docs</h1><p>{'Plain words for the extractor to keep. ' * 40}</p>"
                    f"<a href='/broken'>broken</a></main></body></html>")
    site.route("/", "no", status=500, reason=EVIL, headers={"Content-Type": "text/plain"}, prefix=True)  # the reason phrase
    site.start()
    yield f"{site.base}/"
    site.stop()


def test_markup_from_crawled_pages_is_shown_as_text(page, evil_site):
    page.locator("#max_retries").fill("0")  # the 500 is final at once, not retried with back-off
    start_crawl(page, evil_site, concurrency=2)
    expect(page.locator("#crawl-state")).to_have_text("Completed: 1 pages saved")

    home = page.locator(f'#page-list li[data-url="{evil_site}"]')
    expect(home.locator(".page-title")).to_have_text(EVIL)
    broken = page.locator(f'#page-list li[data-url="{evil_site}broken"]')
    expect(broken.locator(".page-error")).to_have_text(re.compile("^" + re.escape(f"HTTP 500 {EVIL}")))
    # the broken page's failure is logged once (the probes for the site's own llms files answer 500 too)
    failures = page.locator("#log .log-msg", has_text=f"HTTP 500 {EVIL}")
    expect(failures.filter(has_text=f"{evil_site}broken")).to_have_count(1)
    expect(failures.filter(has_text="llms")).to_have_count(2)
    expect(page.locator("#log")).to_contain_text(EVIL)

    for area in ("#page-list", "#log", "#history", "#crawl-message", "#current-url"):
        assert page.locator(f"{area} img").count() == 0, f"markup from the crawled site became an element in {area}"
    assert page.locator("img").count() == 0
    assert page.evaluate("document.body.dataset.pwned") is None


def test_the_sites_own_llms_txt_is_offered_beside_the_downloads(page, server):
    """A site that publishes its own llms.txt: the finished crawl offers it as a download of its
    own, and the form's "Prefer the site's Markdown" reaches the crawl's settings."""
    from tests.support.flat_site import PAGES, PUBLISHED, FlatSite

    site = FlatSite().start()
    try:
        page.locator("#prefer_site_markdown").check()
        crawl_id = start_crawl(page, site.url(), concurrency=2)
        expect(page.locator("#crawl-state")).to_have_text(f"Completed: {len(PAGES) + 1} pages saved", timeout=30_000)
    finally:
        site.stop()
    links = page.locator("#downloads a")
    expect(links).to_have_count(6)  # the five formats, then the site's llms.txt (it has no llms-full.txt)
    own = page.locator("#downloads a.download-site-llms")
    expect(own).to_have_text("the site's llms.txt")
    expect(own).to_have_attribute("href", f"/api/crawls/{crawl_id}/download?format=site-llms")
    expect(own).to_have_attribute("title", f"As published at {site.url('llms.txt')}")
    answer = page.request.get(own.get_attribute("href"))
    assert answer.status == 200 and answer.text() == PUBLISHED["llms.txt"][1]
    settings = page.request.get(f"/api/crawls/{crawl_id}").json()["config"]
    assert settings["prefer_site_markdown"] is True
