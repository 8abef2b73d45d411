"""Watching a crawl and the server in a real browser: the speed chart, the Server panel, the
page filter that keeps refused links apart, and Resume of a crawl that failed on a full disk.

Headless Chromium through Playwright against the real server (one threading-mode server: none of
this depends on the server mode) and local doc sites. The full disk is a real one: a small tmpfs
mounted for the test (needs root, as in CI; skipped with the reason otherwise).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.browser import open_dashboard, start_crawl
from tests.support.server import ServerProcess

try:
    from playwright.sync_api import Browser, Page, expect
except ImportError:  # pragma: no cover - the browser fixture skips without playwright
    expect = None  # type: ignore[assignment]

ROBOTS = "User-agent: *\nDisallow: /docs/private/\n"






def chart_points(page: Page) -> int:
    return int(page.locator("#speed-chart").get_attribute("data-points") or 0)


def manifest(data_dir: Path, crawl_id: str) -> list[dict]:
    return [json.loads(line) for line in (data_dir / crawl_id / "manifest.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------- the chart


@pytest.mark.slow
def test_the_speed_chart_grows_during_a_crawl_and_comes_back_when_the_crawl_is_reopened(
        watch: Page, app_server: ServerProcess, make_site, browser: Browser):
    page = watch
    chart, note = page.locator("#speed-chart"), page.locator("#speed-chart-note")
    expect(note).to_have_text("Start a crawl to see its speed over time.")
    expect(chart).to_be_hidden()

    site = make_site(pages=70, latency=0.12, extra_links=False, flaky={5: 9}, rate_limited={9: 1})
    page.locator("#max_retries").fill("1")
    crawl_id = start_crawl(page, site.url(0), concurrency=2)
    expect(chart.locator("canvas")).to_be_visible(timeout=15_000)
    expect(note).to_be_hidden()
    first = chart_points(page)
    assert first >= 2
    page.wait_for_function("n => Number(document.getElementById('speed-chart').dataset.points) > n + 2",
                           arg=first, timeout=15_000)
    assert page.locator("#crawl-state").inner_text() == "Running", "the points came while the crawl ran"
    expect(chart.locator(".u-legend")).to_contain_text("pages/s")

    expect(page.locator("#crawl-state")).to_have_text(re.compile(r"^Completed: "), timeout=30_000)
    # The legend shows the latest sample: what the crawl ended with.
    failed = sum(1 for e in manifest(app_server.data_dir, crawl_id) if e["status"] == "failed")
    assert failed == 1, "page 5 fails every try"
    legend = chart.locator(".u-legend .u-series").filter(has_text="failed").locator(".u-value")
    expect(legend).to_have_text(str(failed))
    points = chart_points(page)
    assert points > first + 2

    # Reloaded, then re-opened from "Your crawls" after it ended: the same samples are drawn.
    page.reload()
    expect(page.locator("#connection")).to_have_text("Connected")
    page.locator(f'#history li[data-crawl-id="{crawl_id}"] button.history-show').click()
    expect(page.locator("#crawl-id")).to_have_text(crawl_id)
    expect(chart).to_have_attribute("data-points", str(points))
    expect(chart.locator("canvas")).to_be_visible()

    # Another browser of the same session never watched it run: the chart is rebuilt from the
    # manifest's times (pages per second over 10 s, the failure), not left empty.
    other, errors = open_dashboard(browser, app_server.base, cookies=page.context.cookies())
    try:
        other.locator(f'#history li[data-crawl-id="{crawl_id}"] button.history-show').click()
        expect(other.locator("#crawl-state")).to_have_text(re.compile(r"^Completed: "))
        expect(other.locator("#speed-chart canvas")).to_be_visible()
        expect(other.locator("#speed-chart-note")).to_be_hidden()
        assert chart_points(other) >= 2
        rebuilt = other.locator("#speed-chart .u-legend .u-series").filter(has_text="failed").locator(".u-value")
        expect(rebuilt).to_have_text(str(failed))
    finally:
        other.context.close()
    assert not errors, errors


# ---------------------------------------------------------------- the Server panel


def test_the_server_panel_shows_the_servers_processes_slots_and_queues(watch: Page, app_server: ServerProcess,
                                                                       make_site):
    page = watch
    panel = page.locator("#server-panel")
    expect(panel).to_have_attribute("data-state", "ok")
    site = make_site(pages=40, latency=0.4, extra_links=False)
    start_crawl(page, site.url(0), concurrency=1)
    expect(page.locator("#crawl-state")).to_have_text("Running", timeout=15_000)

    panel.scroll_into_view_if_needed()  # it asks the server only while it is on screen
    system = page.request.get("/api/system").json()  # the page's own session
    total = system["slots"]["total"]
    slots = panel.locator('[data-key="slots"] dd')
    # Refreshed on its own while the crawl runs (every few seconds).
    expect(slots).to_have_text(re.compile(rf"^[1-9]\d* of {total} used · \d+ free$"), timeout=10_000)
    expect(panel.locator('[data-key="yours"] dd')).to_have_text(re.compile(r"^1 running · 0 waiting$"))
    expect(panel.locator('[data-key="server"] dd')).to_have_text(re.compile(r"^\d+(\.\d)? (MB|GB) · \d+(\.\d)? % CPU$"))
    expect(panel.locator('[data-key="workers"] dd')).to_have_text(
        re.compile(r"^(\d+ · \d+(\.\d)? (KB|MB|GB) · \d+(\.\d)? % CPU|none running)$"))
    expect(panel.locator('[data-key="memory"] dd')).to_have_text(re.compile(r"^\d+(\.\d)? (MB|GB)"))
    expect(panel.locator("#server-updated")).to_have_text(re.compile(r"^updated \d\d:\d\d:\d\d$"))
    page.locator("#stop-btn").click()
    expect(page.locator("#crawl-state")).to_have_text(re.compile(r"^Stopped: "), timeout=15_000)
    panel.scroll_into_view_if_needed()
    expect(panel.locator('[data-key="yours"] dd')).to_have_text("0 running · 0 waiting", timeout=10_000)


# ---------------------------------------------------------------- the page filter


def test_refused_links_are_behind_their_filter_not_in_the_page_list(watch: Page, app_server: ServerProcess,
                                                                    make_site):
    page = watch
    site = make_site(pages=24, robots=ROBOTS, private_links=True, extra_links=False)
    crawl_id = start_crawl(page, site.url(0), concurrency=4)
    expect(page.locator("#crawl-state")).to_have_text(re.compile(r"^Completed: "), timeout=30_000)

    entries = manifest(app_server.data_dir, crawl_id)
    refused = {e["url"] for e in entries if e["reason"] in ("robots", "out_of_scope", "filtered")}
    pages = {e["url"] for e in entries} - refused
    assert refused and all("/docs/private/" in url for url in refused)

    rows = page.locator("#page-list li.page-row")
    expect(rows).to_have_count(len(pages))
    shown = set(rows.evaluate_all("rows => rows.map(r => r.dataset.url)"))
    assert shown == pages, "the default list holds the crawl's pages, and no refused link"

    select = page.locator("#page-filter")
    expect(select.locator('option[value="refused"]')).to_have_text(f"links not followed ({len(refused)})")
    select.select_option("refused")
    expect(rows).to_have_count(len(refused))
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.url)")) == refused
    expect(page.locator("#page-list li.status-refused[data-reason='robots']")).to_have_count(len(refused))
    expect(rows.first.locator(".page-status")).to_have_text("not followed · robots")

    select.select_option("ok")
    ok = {e["url"] for e in entries if e["status"] == "ok"}
    expect(rows).to_have_count(len(ok))
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.url)")) == ok
    select.select_option("failed")
    expect(rows).to_have_count(0)
    expect(page.locator("#page-list-empty")).to_have_text("No failed pages among the last 200.")
    select.select_option("all")
    expect(rows).to_have_count(len(pages))


# ---------------------------------------------------------------- a full disk, then Resume


@pytest.mark.slow
def test_a_crawl_that_failed_on_a_full_disk_offers_resume_and_resumes(browser: Browser, small_disk: Path,
                                                                      tmp_path: Path, make_site):
    # Its own server, whose data directory is the small disk (its log and search index live elsewhere).
    server = ServerProcess(small_disk, "--allow-private-targets", "--server", "threading",
                           env={"CRAWLER_SEARCH_INDEX": str(tmp_path / "search.sqlite")})
    page = None
    try:
        page, errors = open_dashboard(browser, server.base)
        site = make_site(pages=200, extra_links=False)
        page.locator("#use_sitemaps").uncheck()
        page.locator("#respect_robots").uncheck()
        crawl_id = start_crawl(page, site.url(0), concurrency=4)
        state = page.locator("#crawl-state")
        expect(state).to_have_text(re.compile(r"^Failed: disk full at "), timeout=30_000)
        detail = page.request.get(f"/api/crawls/{crawl_id}").json()
        assert detail["state"] == "failed" and detail["resumable"] is True, detail
        saved_before = [e["url"] for e in manifest(server.data_dir, crawl_id) if e["status"] == "ok"]
        assert 0 < len(saved_before) < 200

        resume = page.locator("#resume-btn")
        expect(resume).to_be_visible()
        row = page.locator(f'#history li[data-crawl-id="{crawl_id}"]')
        expect(row).to_have_attribute("data-state", "failed")
        expect(row.locator("button.history-resume")).to_have_count(1)

        # Room again: Resume continues the same crawl to its end, nothing saved fetched again.
        subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
        resume.click()
        expect(state).to_have_text("Completed: 200 pages saved", timeout=30_000)
        expect(page.locator("#crawl-id")).to_have_text(crawl_id)
        expect(resume).to_be_hidden()
        expect(row.locator("button.history-resume")).to_have_count(0)
        urls = Counter(e["url"] for e in manifest(server.data_dir, crawl_id) if e["status"] == "ok")
        assert len(urls) == 200 and max(urls.values()) == 1
        for url in saved_before:
            assert len(site.times_of(urlsplit(url).path)) == 1, f"{url} was fetched again"

        # The server goes away: the Server panel says so and shows no stale number. (It asks only
        # while it is on screen.)
        panel = page.locator("#server-panel")
        panel.scroll_into_view_if_needed()
        expect(panel).to_have_attribute("data-state", "ok")
        server.stop()
        expect(panel).to_have_attribute("data-state", "error", timeout=10_000)
        expect(page.locator("#server-error")).to_have_text(re.compile(r"^Could not read the server's state: "))
        expect(page.locator("#server-stats")).to_be_hidden()
        expect(page.locator("#server-stats dd")).to_have_count(0)
        assert not errors, errors
    finally:
        if page is not None:
            page.context.close()
        server.stop()
