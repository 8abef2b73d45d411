"""The reader and the search box in a real browser: headless Chromium through Playwright, against
the real server and a local site with a hostile page (tests/support/reader_site.py), clicking as a person
would. One crawl serves every test of this file: it is made once, by one browser session, and each
test opens its own tab of that session."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.support.browser import VIEWPORT, start_crawl
from tests.support.reader_site import PAGES, PWNED_TITLE, reader_site
from tests.support.server import ServerProcess

try:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
except ImportError:  # pragma: no cover - the browser fixture skips
    expect = None  # type: ignore[assignment]

DASHBOARD_TITLE = "Crawler Dashboard"
# Records every dialog, and whether a hostile page's script ever ran (it would set window.__pwned or
# change document.title: see tests/support/reader_site.py).
WATCH_SCRIPTS = """() => {
  window.__titles = [];
  new MutationObserver(() => window.__titles.push(document.title))
    .observe(document.querySelector("title"), { childList: true, characterData: true, subtree: true });
}"""


@pytest.fixture(scope="module")
def reader_session(browser: Browser, app_server: ServerProcess) -> Iterator[tuple[BrowserContext, str, str]]:
    """(browser context, crawl id, site base): one session that crawled the reader site to its end."""
    httpd = reader_site().start()
    site = httpd.base
    context = browser.new_context(viewport=VIEWPORT, base_url=app_server.base)
    context.set_default_timeout(10_000)
    try:
        tab = context.new_page()
        tab.goto("/")
        expect(tab.locator("#connection")).to_have_text("Connected")
        crawl_id = start_crawl(tab, site + "/docs/", 4)
        expect(tab.locator("#crawl-state")).to_have_text(f"Completed: {len(PAGES)} pages saved", timeout=30_000)
        tab.close()
        yield context, crawl_id, site
    finally:
        context.close()
        httpd.stop()


@pytest.fixture
def tab(reader_session: tuple[BrowserContext, str, str]) -> Iterator[Page]:
    """A new tab of the session that made the crawl, on the dashboard; script errors fail the test."""
    context = reader_session[0]
    page = context.new_page()
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto("/")
    expect(page.locator("#connection")).to_have_text("Connected")
    page.evaluate(WATCH_SCRIPTS)
    try:
        yield page
        assert page.evaluate("typeof window.__pwned") == "undefined", "a crawled page's script ran"
        assert page.title() == DASHBOARD_TITLE and PWNED_TITLE not in page.evaluate("window.__titles")
    finally:
        page.close()
    assert not errors, f"script errors on the dashboard: {errors}"
    assert not dialogs, f"dialogs opened: {dialogs}"


def page_button(tab: Page, label: str) -> Locator:
    return tab.locator("#reader-tree button.reader-tree-page", has_text=re.compile(f"^{re.escape(label)}$"))


def test_reader_tree_toggle_links_and_a_hostile_page(tab: Page, reader_session) -> None:
    _, crawl_id, site = reader_session
    # "Read" on the crawl's row of "Your crawls" opens the reader on its first page.
    row = tab.locator(f"#history li[data-crawl-id='{crawl_id}']")
    row.locator("button.history-read").click()
    reader = tab.locator("#reader")
    expect(reader).to_be_visible()
    expect(tab.locator("#reader-crawl")).to_have_text(crawl_id)
    expect(tab.locator("#reader-tree button.reader-tree-page")).to_have_count(len(PAGES))
    expect(tab.locator("#reader-count")).to_have_text(f"{len(PAGES)} pages")
    # Grouped by URL path: host, docs, then guide / api / notes.
    folders = tab.locator("#reader-tree summary .reader-tree-label").all_inner_texts()
    assert folders[:2] == [site.removeprefix("http://"), "docs"] and {"api", "guide", "notes"} <= set(folders)
    expect(tab.locator("#reader-page-title")).to_have_text("Reader home")
    expect(page_button(tab, "Reader home")).to_have_attribute("aria-current", "page")
    source = tab.locator("#reader-source")
    expect(source).to_have_text(site + "/docs/")
    expect(source).to_have_attribute("href", site + "/docs/")
    expect(source).to_have_attribute("target", "_blank")
    expect(source).to_have_attribute("rel", "noopener noreferrer")

    # The hostile page: its markup shows as text, and nothing of it is active.
    page_button(tab, "Hostile page").click()
    expect(tab.locator("#reader-page-title")).to_have_text("Hostile page")
    content = tab.locator("#reader-content")
    expect(content).to_contain_text('<script>window.__pwned = 1; document.title = "pwned"</script>')
    expect(content).to_contain_text('<img src=x onerror="window.__pwned = 2">')
    assert content.locator("script, img, iframe, object, embed, [onerror], [onclick], [style]").count() == 0
    hrefs = content.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs and all(re.match(r"^(https?:|mailto:)", h) for h in hrefs), hrefs
    # The javascript: link is left as plain text; clicking its words does nothing.
    content.get_by_text("a javascript link").click()
    elsewhere = content.locator("a", has_text="a page elsewhere")
    expect(elsewhere).to_have_attribute("target", "_blank")
    expect(elsewhere).to_have_attribute("rel", "noopener noreferrer")

    # Rendered / Markdown: the raw view shows the stored Markdown as it is.
    tab.locator("#reader-mode-raw").click()
    expect(tab.locator("#reader-mode-raw")).to_have_attribute("aria-pressed", "true")
    expect(content).to_be_hidden()
    raw = tab.locator("#reader-raw")
    expect(raw).to_be_visible()
    expect(raw).to_contain_text("[a javascript link](javascript:window.__pwned=3")
    assert raw.locator("*").count() == 0  # text only
    tab.locator("#reader-mode-rendered").click()
    expect(content).to_be_visible()
    expect(raw).to_be_hidden()

    # A link to a page of the crawl opens it in the reader, not in the tab.
    content.locator("a[data-reader-url]", has_text="the introduction").click()
    expect(tab.locator("#reader-page-title")).to_have_text("Introduction")
    expect(page_button(tab, "Introduction")).to_have_attribute("aria-current", "page")
    expect(source).to_have_text(site + "/docs/guide/intro.html")
    content.locator("a[data-reader-url]", has_text="client API").click()
    expect(tab.locator("#reader-page-title")).to_have_text("Client API")
    expect(content.locator("table td", has_text="timeout")).to_be_visible()
    assert tab.url.rstrip("/") == tab.evaluate("location.origin"), "the dashboard itself never navigated"

    # A long page comes in slices: "Load the rest" appends the next one.
    page_button(tab, "A long page").click()
    more = tab.locator("#reader-more")
    expect(more).to_be_visible()
    expect(more).to_have_text(re.compile(r"^Load the rest of the page \([\d,]+ characters more\)$"))
    paragraphs = content.locator("p").count()
    more.click()
    expect(more).to_be_hidden()
    assert content.locator("p").count() > paragraphs
    expect(content.locator("p").last).to_contain_text("The reader shows this page")

    tab.locator("#reader-close").click()
    expect(reader).to_be_hidden()
    # "Open reader" on the crawl on show opens it again.
    tab.locator(f"#history li[data-crawl-id='{crawl_id}'] button.history-show").click()
    tab.locator("#reader-open-btn").click()
    expect(reader).to_be_visible()


def test_search_box_highlights_pages_through_and_opens_the_reader(tab: Page, reader_session) -> None:
    _, crawl_id, site = reader_session
    results = tab.locator("#search-results li.search-result")

    # Hostile text in a snippet is text; only the matches are <mark>.
    tab.locator("#search-q").fill("pwned")
    tab.locator("#search-form button[type=submit]").click()
    expect(results).to_have_count(1)
    snippet = results.first.locator(".search-snippet")
    expect(snippet).to_contain_text("<script>")
    assert snippet.locator("mark").count() >= 1 and snippet.locator(":not(mark)").count() == 0
    assert set(snippet.locator("mark").all_inner_texts()) == {"pwned"}

    # Many results: ten, then "More results" for the rest.
    tab.locator("#search-crawl").select_option(crawl_id)
    tab.locator("#search-q").fill("wombatnote")
    tab.locator("#search-form button[type=submit]").click()
    expect(tab.locator("#search-status")).to_have_text("12 results, 10 shown")
    expect(results).to_have_count(10)
    tab.locator("#search-more").click()
    expect(results).to_have_count(12)
    expect(tab.locator("#search-more")).to_be_hidden()
    expect(tab.locator("#search-status")).to_have_text("12 results")
    urls = results.locator(".search-url").all_inner_texts()
    assert len(set(urls)) == 12

    # A phrase, highlighted; the result opens its page in the reader.
    tab.locator("#search-q").fill('"appears only here"')
    tab.locator("#search-form button[type=submit]").click()
    expect(results).to_have_count(1)
    expect(results.first.locator("mark")).to_have_text("appears only here")
    # The best section's heading path is shown as text; its URL carries the section's anchor.
    expect(results.first.locator(".search-section")).to_have_text("Introduction")
    expect(results.first.locator(".search-url")).to_have_text(site + "/docs/guide/intro.html#introduction")
    assert results.first.locator(".search-section *").count() == 0
    results.first.locator("button.search-open").click()
    expect(tab.locator("#reader")).to_be_visible()
    expect(tab.locator("#reader-page-title")).to_have_text("Introduction")
    expect(tab.locator("#reader-source")).to_have_text(site + "/docs/guide/intro.html")
    expect(page_button(tab, "Introduction")).to_have_attribute("aria-current", "page")

    # A query that cannot be read says why.
    tab.locator("#search-q").fill('"unclosed')
    tab.locator("#search-form button[type=submit]").click()
    expect(tab.locator("#search-status")).to_contain_text("quotation mark is not closed")
    expect(results).to_have_count(0)
