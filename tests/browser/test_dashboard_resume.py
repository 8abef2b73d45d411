"""Resume in a real browser: stop a crawl, press Resume, and it finishes without refetching."""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import urlsplit

import pytest

from tests.support.browser import manifest_ok_urls, start_crawl, stop_and_wait, wait_for_progress
from tests.support.server import ServerProcess

# What this file checks is the page's own behaviour, the same whichever server mode serves it:
# one mode is enough (tests/browser/test_dashboard_browser.py runs the live view under both).
pytestmark = pytest.mark.parametrize("server", ["threading"], indirect=True)


try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the fixtures skip without playwright
    expect = None  # type: ignore[assignment]


def test_stop_then_resume_from_the_dashboard(page, server: ServerProcess, make_site):
    site = make_site(pages=40, latency=0.1, extra_links=False)
    crawl_id = start_crawl(page, site.url(0), concurrency=2)
    wait_for_progress(page, site.base, at_least=3)
    resume = page.locator("#resume-btn")
    expect(resume).to_be_hidden()  # nothing to resume while it runs
    kept = stop_and_wait(page)
    saved_before = manifest_ok_urls(server, crawl_id)
    assert kept == len(saved_before) and kept < 40

    expect(resume).to_be_visible()
    row = page.locator(f'#history li[data-crawl-id="{crawl_id}"]')
    expect(row.locator("button.history-resume")).to_have_count(1)
    resume.click()
    expect(page.locator("#crawl-state")).to_have_text("Completed: 40 pages saved", timeout=30_000)
    expect(page.locator("#crawl-id")).to_have_text(crawl_id)  # the same crawl, continued
    expect(resume).to_be_hidden()
    expect(row).to_have_attribute("data-state", "completed")
    expect(row.locator("button.history-resume")).to_have_count(0)
    expect(page.locator("#log")).to_contain_text(re.compile(rf"resuming: {kept} pages already saved"))

    urls = Counter(manifest_ok_urls(server, crawl_id))
    assert len(urls) == 40 and max(urls.values()) == 1
    for url in saved_before:
        assert len(site.times_of(urlsplit(url).path)) == 1, f"{url} was fetched again"
