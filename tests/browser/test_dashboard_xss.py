"""Markup in crawled titles, URLs and log lines is shown as text, in a real browser.

A local site serves pages titled `<img src=x onerror=alert(1)>` and links whose paths carry
quotes and brackets; the start URL typed into the dashboard carries `<script>` in its query. The
dashboard must show those characters, create no element from them and never run them (no
dialog). Uses the Chromium fixtures of tests/conftest.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.support.browser import start_crawl
from tests.support.site import Site

# What this file checks is the page's own behaviour, the same whichever server mode serves it:
# one mode is enough (tests/browser/test_dashboard_browser.py runs the live view under both).
pytestmark = pytest.mark.parametrize("server", ["threading"], indirect=True)


try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips
    expect = None  # type: ignore[assignment]

TITLE = "<img src=x onerror=alert(1)>"
QUOTED_TITLE = "\"'><img src=x onerror=alert(2)>"
SCRIPT_QUERY = "?q=<script>alert(3)</script><svg/onload=alert(4)>"
# Kept literally by canonical URLs (RFC 3986 sub-delims): enough to break out of a quoted attribute.
QUOTE_PATH = "/it's'onmouseover='alert(5)'"
BRACKET_PATH = "/a<script>alert(6)</script>.html"
REASON = "<script>alert(7)</script>"  # an HTTP reason phrase: the page's error and a log line


def xss_page(title: str, links: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body><main>"
            f"<h1>Docs</h1><p>{'Words for the extractor to keep as the main content. ' * 30}</p>{links}"
            "</main></body></html>")


@pytest.fixture
def xss_site() -> Iterator[str]:
    site = Site()
    site.route("/robots.txt", "none", status=404, headers={"Content-Type": "text/plain"})
    site.route("/broken", "no", status=500, reason=REASON, headers={"Content-Type": "text/plain"})
    site.route("/", xss_page(TITLE, f"<a href=\"{QUOTE_PATH}\">quote</a> <a href='{BRACKET_PATH}'>bracket</a> "
                                    "<a href='/broken'>broken</a>"))
    site.route("/", xss_page(QUOTED_TITLE, ""), prefix=True)  # every other page
    site.start()
    yield site.base
    site.stop()


# Every element and attribute the page holds that could only have come from crawled text.
FIND_INJECTED = """() => {
  const found = [];
  for (const node of document.querySelectorAll("*")) {
    for (const attr of node.getAttributeNames()) {
      if (attr.startsWith("on")) found.push(node.tagName + "[" + attr + "]");
    }
  }
  document.querySelectorAll("img, svg, iframe, object, embed").forEach((n) => found.push(n.outerHTML));
  document.querySelectorAll("script").forEach((s) => { if (!s.src || /alert/.test(s.textContent)) found.push(s.outerHTML); });
  return found;
}"""


def test_markup_in_titles_urls_and_log_lines_is_text(page, xss_site):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    start_url = xss_site + "/" + SCRIPT_QUERY
    page.locator("#max_retries").fill("0")  # the 500 is final at once
    crawl_id = start_crawl(page, start_url, concurrency=2)
    expect(page.locator("#crawl-state")).to_have_text("Completed: 3 pages saved", timeout=20_000)

    # The start page's title, character for character.
    home = page.locator("#page-list li.page-row", has=page.locator(".page-title", has_text="onerror=alert(1)"))
    expect(home).to_have_count(1)
    expect(home.locator(".page-title")).to_have_text(TITLE)
    # The linked pages: their quoted titles, and their URLs with the quotes kept.
    expect(page.locator("#page-list .page-title", has_text="alert(2)")).to_have_count(2)
    assert set(filter(None, page.locator("#page-list .page-title").all_inner_texts())) == {TITLE, QUOTED_TITLE}
    quote_row = page.locator("#page-list li.page-row .page-url", has_text="onmouseover='alert(5)'")
    expect(quote_row).to_have_text(xss_site + QUOTE_PATH)
    expect(page.locator("#log .log-msg", has_text="onmouseover='alert(5)'")).to_have_count(1)
    # A reason phrase with <script> in the page list and the log; the typed start URL in the history.
    broken = page.locator(f'#page-list li[data-url="{xss_site}/broken"] .page-error')
    expect(broken).to_have_text(re.compile("^" + re.escape(f"HTTP 500 {REASON}")))
    expect(page.locator("#log .log-msg", has_text=f"HTTP 500 {REASON}")).to_have_count(1)
    expect(page.locator(f'#history li[data-crawl-id="{crawl_id}"]')).to_contain_text(SCRIPT_QUERY)

    assert page.evaluate(FIND_INJECTED) == []
    assert page.locator("img[src='x']").count() == 0
    assert dialogs == [], f"crawled text ran as script: {dialogs}"
    # A reload rebuilds the view from the REST detail and history: still text.
    page.reload()
    expect(page.locator("#connection")).to_have_text("Connected")
    expect(page.locator(f'#history li[data-crawl-id="{crawl_id}"]')).to_contain_text(SCRIPT_QUERY)
    page.locator(f'#history li[data-crawl-id="{crawl_id}"] button.history-show').click()
    expect(page.locator("#page-list .page-title", has_text="onerror=alert(1)")).to_have_text(TITLE)
    assert page.evaluate(FIND_INJECTED) == []
    assert dialogs == []
