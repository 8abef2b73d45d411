"""The dashboard's discovery workflow and politeness display in a real browser (Chromium through
Playwright), against the real server and a local doc site.

Discover a site's pages (sitemaps + links, nothing stored), pick some in the tree, crawl exactly
those; see hosts backing off on HTTP 429; and the tree stays fast with thousands of URLs. Every
wait has a deadline, never a bare sleep; what flashes by between two looks of the test (labels,
back-off lines) is recorded inside the page by MutationObservers.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.browser import RECORD_STATE_LABEL, start_crawl
from tests.support.server import ServerProcess

# What this file checks is the page's own behaviour, the same whichever server mode serves it:
# one mode is enough (tests/browser/test_dashboard_browser.py runs the live view under both).
pytestmark = pytest.mark.parametrize("server", ["threading"], indirect=True)


try:
    from playwright.sync_api import Page, Route, expect
except ImportError:  # pragma: no cover - the fixtures skip the tests
    pass

ROBOTS = "User-agent: *\nDisallow: /docs/section-6/"

# Every text #backoff shows while visible, and every reason #refused lists (links not followed).
RECORD_PANELS = """() => {
  const backoff = document.getElementById("backoff");
  const reasons = document.getElementById("refused");
  const lines = window.__backoffLines = [];
  const seen = window.__skipReasons = new Set();
  new MutationObserver(() => {
    if (backoff.hidden) return;
    for (const line of backoff.querySelectorAll(".backoff-line")) lines.push(line.textContent);
  }).observe(backoff, { childList: true, characterData: true, subtree: true, attributes: true });
  new MutationObserver(() => {
    for (const item of reasons.querySelectorAll(".refused-reason")) seen.add(item.dataset.reason);
  }).observe(reasons, { childList: true, characterData: true, subtree: true });
}"""


def read_jsonl(path: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def shown_page_urls(page: Page) -> list[str]:
    return page.locator("#discovery-tree li.tree-page").evaluate_all("rows => rows.map(r => r.dataset.url)")


@pytest.mark.slow
def test_discover_filter_and_crawl_the_selection(page, server: ServerProcess, make_site):
    started = time.monotonic()
    site = make_site(pages=60, sitemap=True, orphans=5, robots=ROBOTS)
    state = page.locator("#crawl-state")
    page.evaluate(RECORD_STATE_LABEL)
    page.evaluate(RECORD_PANELS)

    # Discover: the same settings form, the other button.
    page.locator("#url").fill(site.url(0))
    page.locator("#per_host_concurrency").fill("3")
    page.locator("#max_retries").fill("2")
    page.locator("#discover-btn").click()
    expect(state).to_have_text(re.compile(r"^Discovery completed: \d+ pages found$"), timeout=15_000)
    discovery_id = page.locator("#crawl-id").inner_text().strip()
    labels = [label for _, label in page.evaluate("window.__stateLabels")]
    assert "Discovering…" in labels and "Running" not in labels, labels
    expect(page.locator("#downloads")).to_be_hidden()  # a discovery stores no pages
    settings = json.loads((server.data_dir / discovery_id / "config.json").read_text())
    assert (settings["per_host_concurrency"], settings["max_retries"], settings["delay"]) == (3, 2, 0)
    assert settings["use_sitemaps"] is True and settings["user_agent"].startswith("CrawlerDashboard/")
    history_row = page.locator(f'#history li[data-crawl-id="{discovery_id}"]')
    expect(history_row).to_have_attribute("data-kind", "discovery")
    expect(history_row.locator(".kind-badge")).to_have_text("discovery")
    expect(history_row.locator("a.history-download")).to_have_count(0)

    # robots.txt kept section-6 out, and the panel said why.
    assert "robots" in page.evaluate("[...window.__skipReasons]")
    robots_item = page.locator('#refused .refused-reason[data-reason="robots"]')
    refused = [e for e in read_jsonl(server.data_dir / discovery_id / "manifest.jsonl") if e["reason"] == "robots"]
    assert refused and all("/docs/section-6/" in e["url"] for e in refused)
    expect(robots_item).to_have_text(f"robots {len(refused):,}")
    expect(page.locator("#skip-reasons .skip-reason[data-reason=\"robots\"]")).to_have_count(0)  # not a page
    expect(page.locator('#page-list li[data-reason="robots"]')).to_have_count(0)  # not among the pages
    page.locator("#page-filter").select_option("refused")
    refused_rows = page.locator('#page-list li.status-refused[data-reason="robots"]')
    expect(refused_rows).to_have_count(len(refused))
    expect(refused_rows.first.locator(".page-status")).to_have_text("not followed · robots")
    expect(refused_rows.first.locator(".page-source")).to_have_text("sitemap")
    page.locator("#page-filter").select_option("all")

    # The tree holds every discovered URL, once.
    panel = page.locator("#discovery")
    expect(panel).to_be_visible()
    expect(panel).to_have_attribute("data-discovery-id", discovery_id)
    answer = page.request.get(f"/api/discover/{discovery_id}")  # the page's cookies: the owner
    assert answer.status == 200, answer.status
    found = answer.json()
    on_disk = read_jsonl(server.data_dir / discovery_id / "discovered.jsonl")
    urls = [entry["url"] for entry in found["urls"]]
    assert found["complete"] and found["count"] == len(urls) == len(on_disk)
    assert len(set(urls)) == len(urls), "a URL was discovered twice"
    total = len(urls)
    assert not [u for u in urls if "/docs/section-6/" in u]
    expect(page.locator("#discovery-count")).to_have_text(str(total))
    expect(page.locator("#discovery-tree .tree-root > .tree-row .tree-count")).to_have_text(str(total))
    expect(page.locator("#selection-count")).to_have_text(f"{total} of {total} selected")
    expect(page.locator("#crawl-selected-btn")).to_have_text(f"Crawl selected ({total})")
    assert sorted(shown_page_urls(page)) == sorted(urls), "levels 1-2 start expanded: every page is on screen"
    for k in range(5):  # pages only the sitemap knows
        orphan = page.locator(f'#discovery-tree li.tree-page[data-url="{site.base}/docs/orphans/orphan-{k}.html"]')
        expect(orphan).to_have_attribute("data-source", "sitemap")
        expect(orphan.locator(".source-badge")).to_have_text("sitemap")
    expect(page.locator(f'#discovery-tree li.tree-page[data-url="{site.url(0)}"] .source-badge')).to_have_text("start")

    # Filter, typed key by key (one re-render after the debounce, not one per key).
    page.evaluate("""() => {
      window.__treeRenders = 0;
      new MutationObserver(() => { window.__treeRenders += 1; })
        .observe(document.getElementById("discovery-tree"), { childList: true });
    }""")
    page.locator("#discovery-filter").press_sequentially("Section-1", delay=20)
    matching = sorted(u for u in urls if "section-1" in u.lower())
    assert 0 < len(matching) < total
    expect(page.locator("#selection-count")).to_have_text(f"{len(matching)} of {len(matching)} selected")
    expect(page.locator("#discovery-tree li.tree-page")).to_have_count(len(matching))
    assert sorted(shown_page_urls(page)) == matching
    assert page.evaluate("window.__treeRenders") == 1, "the filter re-rendered more than once while typing"
    section = page.locator('#discovery-tree li.tree-folder[data-path="/docs/section-1/"]')
    expect(section.locator(":scope > .tree-row .tree-count")).to_have_text(str(len(matching)))
    expect(page.locator("#discovery-tree .tree-root > .tree-row .tree-count")).to_have_text(str(len(matching)))

    # Leave one page out by hand: its folder's box turns indeterminate.
    dropped = matching[0]
    page.locator(f'#discovery-tree li.tree-page[data-url="{dropped}"] input.tree-check').uncheck()
    selected = [u for u in matching if u != dropped]
    expect(page.locator("#selection-count")).to_have_text(f"{len(selected)} of {len(matching)} selected")
    assert section.locator(":scope > .tree-row input.tree-check").evaluate("box => box.indeterminate")
    crawl_btn = page.locator("#crawl-selected-btn")
    expect(crawl_btn).to_have_text(f"Crawl selected ({len(selected)})")

    # Crawl the selection: exactly those pages are fetched and saved, nothing else.
    hits_before = Counter(site.hits)
    crawl_btn.click()
    expect(page.locator("#crawl-id")).not_to_have_text(discovery_id)
    expect(state).to_have_text(f"Completed: {len(selected)} pages saved", timeout=15_000)
    crawl_id = page.locator("#crawl-id").inner_text().strip()
    manifest = read_jsonl(server.data_dir / crawl_id / "manifest.jsonl")
    assert sorted(e["url"] for e in manifest if e["status"] == "ok") == sorted(selected)
    assert sorted(e["url"] for e in manifest) == sorted(selected), "a page outside the selection was handled"
    fetched = sorted(path for path, n in (Counter(site.hits) - hits_before).items() if path.startswith("/docs/"))
    # The discovery's downloads wait in the page cache (this site sends no validators): no page is
    # fetched again, and certainly none outside the selection.
    assert fetched == [], "the crawl fetched pages the discovery had already downloaded"
    config = json.loads((server.data_dir / crawl_id / "config.json").read_text())
    assert config["url"] == found["config"]["url"] and sorted(config["urls"]) == sorted(selected)
    assert (config["per_host_concurrency"], config["max_retries"]) == (3, 2), "the form's settings go along"
    expect(page.locator("#page-list li.status-ok")).to_have_count(len(selected))
    expect(page.locator("#page-list li.status-ok .page-source").first).to_have_text("selection")
    expect(page.locator("#downloads a")).to_have_count(5)
    # The discovery's tree stays on show for another pick.
    expect(panel).to_be_visible()
    expect(page.locator("#selection-count")).to_have_text(f"{len(selected)} of {len(matching)} selected")
    print(f"discovered {total}, crawled {len(selected)} selected pages in {time.monotonic() - started:.1f} s")


def test_backoff_is_shown_and_the_crawl_still_completes(page, server: ServerProcess, make_site):
    started = time.monotonic()
    site = make_site(pages=20, rate_limited={1: 2})  # page 1 answers 429 (Retry-After: 1) twice
    page.evaluate(RECORD_PANELS)
    page.evaluate(RECORD_STATE_LABEL)
    backoff = page.locator("#backoff")
    expect(backoff).to_be_hidden()
    page.locator("#user_agent").fill("DashboardTest/1.0 (+browser test)")
    page.locator("#use_sitemaps").uncheck()
    start_crawl(page, site.url(0), concurrency=2)
    expect(page.locator("#crawl-state")).to_have_text("Completed: 20 pages saved", timeout=15_000)
    labels = [label for _, label in page.evaluate("window.__stateLabels")]
    assert "Running" in labels and "Discovering…" not in labels[labels.index("Running"):], labels
    assert site.user_agents == {"DashboardTest/1.0 (+browser test)"}
    assert not any(path.startswith("/sitemap") for path in site.hits), "sitemaps were read though turned off"

    host = urlsplit(site.base).netloc
    lines = page.evaluate("window.__backoffLines")
    pattern = re.compile(rf"^{re.escape(host)}: backing off [1-9][0-9]* s \(HTTP 429\b[^)]*\)$")
    assert lines, "#backoff never showed a line"
    assert all(pattern.match(line) for line in lines), lines
    expect(backoff).to_be_hidden()  # nobody backs off once the crawl has ended
    assert site.hits["/docs/section-1/page-1.html"] == 3
    expect(page.locator(f'#page-list li[data-url="{site.url(1)}"]')).to_have_class(re.compile(r"\bstatus-ok\b"))
    expect(page.locator("#log .log-msg", has_text="retrying in")).to_have_count(2)
    print(f"back-off lines seen: {sorted(set(lines))[:3]}…; crawl took {time.monotonic() - started:.1f} s")


# ---------------------------------------------------------------- a big discovery, served by the test

BIG_ID = "20260101-000000-b16b16"
BIG_URL = "https://docs.example.org/docs/"


def big_discovery() -> dict[str, Any]:
    """5,000 URLs: 10 areas × 10 topics × 50 pages."""
    urls = [{"url": f"https://docs.example.org/docs/area-{a}/topic-{t}/page-{p}.html", "source": "sitemap",
             "depth": 1, "title": None} for a in range(10) for t in range(10) for p in range(50)]
    return {"crawl_id": BIG_ID, "kind": "discovery", "state": "completed", "complete": True,
            "config": {"url": BIG_URL}, "count": len(urls), "urls": urls}


def test_a_discovery_of_5000_urls_stays_fast(page):
    """The server's list and detail answers are replaced by the test's: only the tree is under test."""
    summary = {"crawl_id": BIG_ID, "kind": "discovery", "state": "completed", "url": BIG_URL, "ok": 5000,
               "failed": 0, "skipped": 0, "pages_handled": 5000, "discovered": 5000, "stop_reason": None}
    row = {"crawl_id": BIG_ID, "kind": "discovery", "url": BIG_URL, "state": "completed",
           "created_at": "2026-01-01T00:00:00.000Z", "finished_at": "2026-01-01T00:01:00.000Z",
           "ok": 5000, "failed": 0, "skipped": 0, "downloads": {}}
    detail = {"crawl_id": BIG_ID, "kind": "discovery", "state": "completed", "created_at": row["created_at"],
              "config": {"url": BIG_URL}, "progress": None, "summary": summary, "recent_log": [],
              "recent_pages": [], "downloads": {}}
    answers = {"/api/crawls": {"crawls": [row]}, f"/api/crawls/{BIG_ID}": detail,
               f"/api/discover/{BIG_ID}": big_discovery()}

    def answer(route: Route) -> None:
        path = urlsplit(route.request.url).path
        if path in answers:
            route.fulfill(status=200, content_type="application/json", body=json.dumps(answers[path]))
        else:
            route.continue_()

    page.route(re.compile(r".*/api/(crawls|discover)(/.*)?$"), answer)
    page.locator("#history-refresh").click()
    page.locator(f'#history li[data-crawl-id="{BIG_ID}"] button.history-show').click()
    expect(page.locator("#crawl-state")).to_have_text("Discovery completed: 5000 pages found")
    expect(page.locator("#selection-count")).to_have_text("5000 of 5000 selected")
    render_ms = int(page.locator("#discovery").get_attribute("data-render-ms"))
    # Levels 1-2 expanded (docs/, its 10 areas), the 100 topics collapsed: no page row yet.
    expect(page.locator("#discovery-tree li.tree-folder")).to_have_count(1 + 1 + 10 + 100)
    expect(page.locator("#discovery-tree li.tree-page")).to_have_count(0)

    # A topic renders its 50 pages when opened.
    topic = page.locator('#discovery-tree li.tree-folder[data-level="3"]').first
    topic.locator(":scope > .tree-row .tree-toggle").click()
    expect(topic.locator("li.tree-page")).to_have_count(50)
    expect(topic.locator(":scope > .tree-row .tree-toggle")).to_have_attribute("aria-expanded", "true")

    # Select none, then one area: counts and indeterminate states follow.
    page.locator("#select-none").click()
    expect(page.locator("#selection-count")).to_have_text("0 of 5000 selected")
    expect(page.locator("#crawl-selected-btn")).to_be_disabled()
    area = page.locator('#discovery-tree li.tree-folder[data-path="/docs/area-3/"]')
    area.locator(":scope > .tree-row input.tree-check").check()
    expect(page.locator("#selection-count")).to_have_text("500 of 5000 selected")
    root_box = page.locator("#discovery-tree .tree-root > .tree-row input.tree-check")
    assert root_box.evaluate("box => box.indeterminate && !box.checked")

    # A filter typed quickly costs one re-render and expands what matches.
    page.evaluate("""() => {
      window.__treeRenders = 0;
      new MutationObserver(() => { window.__treeRenders += 1; })
        .observe(document.getElementById("discovery-tree"), { childList: true });
    }""")
    started = page.evaluate("performance.now()")
    page.locator("#discovery-filter").press_sequentially("area-3/topic-7/", delay=10)
    expect(page.locator("#selection-count")).to_have_text("50 of 50 selected")
    filter_ms = page.evaluate("performance.now()") - started
    expect(page.locator("#discovery-tree li.tree-page")).to_have_count(50)
    assert all("/area-3/topic-7/" in url for url in shown_page_urls(page))
    assert page.evaluate("window.__treeRenders") == 1
    expect(page.locator("#crawl-selected-btn")).to_have_text("Crawl selected (50)")
    page.locator("#discovery-filter").fill("")
    expect(page.locator("#selection-count")).to_have_text("500 of 5000 selected")
    print(f"5,000 URLs: tree built and shown in {render_ms} ms; 16 keys typed and filtered in {filter_ms:.0f} ms")
    assert render_ms < 1000, f"building the tree took {render_ms} ms"
