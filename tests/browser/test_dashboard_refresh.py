"""Refresh in a real browser: a crawl ends, the site changes, Refresh crawl runs a new crawl linked
to it, and the dashboard shows what changed, with each changed page's diff as text."""

from __future__ import annotations

import re

from tests.support.browser import start_crawl
from tests.support.changing_site import ChangingSite, change_the_site, first_version, html

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips without playwright
    expect = None  # type: ignore[assignment]


def test_refresh_button_runs_a_new_crawl_and_shows_what_changed(watch, app_server):
    site = ChangingSite(first_version())
    try:
        old_id = start_crawl(watch, site.url("/docs/"), concurrency=4)
        expect(watch.locator("#crawl-state")).to_have_text("Completed: 8 pages saved", timeout=30_000)
        refresh = watch.locator("#refresh-btn")
        expect(refresh).to_be_visible()
        expect(watch.locator("#changes")).to_be_hidden()  # not a refresh: no report

        change_the_site(site)
        # Markup in a page's text reaches the diff as text, never as elements of the dashboard.
        site.edit("/docs/d.html", html("Delta", "Delta explains &lt;b&gt;bold&lt;/b&gt; deployment on a cluster."))
        refresh.click()
        expect(watch.locator("#crawl-id")).not_to_have_text(old_id)
        new_id = watch.locator("#crawl-id").inner_text().strip()
        expect(watch.locator("#crawl-state")).to_have_text("Completed: 8 pages saved", timeout=30_000)
        expect(watch.locator("#count-ok")).to_have_text("8 (4 reused)")

        summary = watch.locator("#changes-summary")
        expect(watch.locator("#changes")).to_be_visible()
        expect(summary).to_contain_text("1 new · 3 changed · 1 removed · 4 unchanged (4 reused without extraction)")
        expect(summary).to_contain_text(old_id)
        pages = watch.locator("#changes-body details.changes-page")
        expect(pages).to_have_count(3)
        # By its own summary line: the home page's diff also names d.html (its list of links changed).
        delta = pages.filter(has=watch.locator("summary", has_text="/docs/d.html"))
        diff = delta.locator("pre.changes-diff")
        expect(diff).to_be_hidden()  # collapsed until asked for
        delta.locator("summary").click()
        expect(diff).to_be_visible()
        expect(diff.locator(".diff-del").first).to_contain_text("Delta explains deployment on one server.")
        expect(diff.locator(".diff-add").first).to_contain_text("<b>bold")
        expect(watch.locator("#changes b")).to_have_count(0)
        expect(watch.locator("#changes-body .changes-removed")).to_contain_text("Removed pages (1)")

        row = watch.locator(f'#history li[data-crawl-id="{new_id}"]')
        expect(row.locator(".refresh-badge")).to_have_attribute("title", re.compile(old_id))
    finally:
        site.stop()
