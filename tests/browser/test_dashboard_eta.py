"""The ETA and the total in a real browser while links may still add pages: ranges with "≈",
and plain figures once the total is known (headless Chromium through Playwright, the real server,
a local doc site found by links only)."""

from __future__ import annotations

import re

from tests.support.browser import start_crawl
from tests.support.server import ServerProcess

try:
    from playwright.sync_api import Page, expect
except ImportError:  # pragma: no cover - the browser fixture skips without playwright
    expect = None  # type: ignore[assignment]


def test_while_links_may_add_pages_the_eta_and_the_total_are_ranges_then_plain(
        watch: Page, app_server: ServerProcess, make_site):
    page = watch
    site = make_site(pages=120, latency=0.1, extra_links=False)
    start_crawl(page, site.url(0), concurrency=2)
    eta, unit = page.locator("#eta"), page.locator("#progress-unit")
    expect(eta).to_have_text(re.compile(r"^≈ \d+(–\d+ s|s)|^≈ \d+m"), timeout=15_000)
    expect(unit).to_have_text(re.compile(r"^pages · ≈ [\d,]+(–[\d,]+)? pages in all$"))
    assert "+" in page.locator("#progress-count").inner_text(), "pages known, more may come"
    expect(page.locator("#crawl-state")).to_have_text(re.compile(r"^Completed: "), timeout=60_000)
    assert "≈" not in page.locator("#progress-unit").inner_text()
