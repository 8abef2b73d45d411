"""Helpers for driving the dashboard in headless Chromium through Playwright (the `browser` and
`page` fixtures live in tests/conftest.py): Chromium's path and flags, the viewport, and what a
person does on the dashboard (start a crawl, wait for progress, stop), with every wait bounded."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.server import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1280, "height": 900}

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - CI installs it
    sync_playwright = None  # type: ignore[assignment]
    expect = None  # type: ignore[assignment]


# ---------------------------------------------------------------- helpers


def start_crawl(page: Page, url: str, concurrency: int) -> str:
    """Types the settings and clicks Start; returns the crawl id the dashboard shows."""
    page.locator("#url").fill(url)
    page.locator("#concurrency").fill(str(concurrency))
    page.locator("#start-btn").click()
    crawl_id = page.locator("#crawl-id")
    expect(crawl_id).to_have_text(re.compile(r"\S+"))
    return crawl_id.inner_text().strip()


def ok_count(page: Page) -> int:
    return int(page.locator("#count-ok").inner_text())


def wait_for_progress(page: Page, site_base: str, at_least: int = 1) -> None:
    """Until the dashboard shows a crawl that is visibly making progress."""
    expect(page.locator("#crawl-state")).to_have_text("Running")
    page.wait_for_function("n => Number(document.getElementById('count-ok').textContent) >= n", arg=at_least,
                           timeout=15_000)
    expect(page.locator("#progress-percent")).to_have_text(re.compile(r"^(?!0\.0%)\d{1,3}\.\d%$"))
    expect(page.locator("#current-url")).to_have_text(re.compile("^" + re.escape(site_base)))
    expect(page.locator("#log .log-line").first).to_be_visible()


def log_seqs(page: Page) -> list[int]:
    """The seq of every numbered log line shown, top to bottom."""
    return [int(v) for v in page.locator("#log .log-line[data-seq]").evaluate_all(
        "lines => lines.map(l => l.dataset.seq)")]


def manifest_ok_lines(server: ServerProcess, crawl_id: str) -> int:
    return len(manifest_ok_urls(server, crawl_id))


def manifest_ok_urls(server: ServerProcess, crawl_id: str) -> list[str]:
    lines = (server.data_dir / crawl_id / "manifest.jsonl").read_text().splitlines()
    return [entry["url"] for entry in map(json.loads, lines) if entry["status"] == "ok"]


# Records every text #crawl-state shows, with the time, and when Stop was clicked. The server can
# finish stopping within a few milliseconds, faster than a poll from the test could look, so the
# page itself keeps the record of what the person saw.
RECORD_STATE_LABEL = """() => {
  const label = document.getElementById("crawl-state");
  const seen = window.__stateLabels = [];
  new MutationObserver(() => seen.push([performance.now(), label.textContent]))
    .observe(label, { childList: true, characterData: true, subtree: true });
  document.addEventListener("click", (ev) => {
    if (ev.target.closest("#stop-btn")) window.__stopClickedAt = performance.now();
  }, { capture: true });
}"""


def stop_and_wait(page: Page) -> int:
    """Clicks Stop, checks "Stopping…" shows at once, waits for the end; returns N of "N pages kept"."""
    state = page.locator("#crawl-state")
    page.evaluate(RECORD_STATE_LABEL)
    page.locator("#stop-btn").click()
    expect(page.locator("#stop-btn")).to_be_disabled()
    expect(state).to_have_text(re.compile(r"^Stopped: \d+ pages kept$"), timeout=10_000)

    clicked_at = page.evaluate("window.__stopClickedAt")
    labels = [(t - clicked_at, text) for t, text in page.evaluate("window.__stateLabels") if t >= clicked_at]
    assert labels, "the label did not change after the click"
    first_after, first_label = labels[0]
    assert first_label == "Stopping…", f"the first label after Stop was {first_label!r}: {labels}"
    assert first_after < 300, f"'Stopping…' took {first_after:.0f} ms to appear"
    assert labels[-1][1] == state.inner_text() and len(labels) >= 2, "'Stopping…' shows before the end"
    print(f"'Stopping…' shown {first_after:.0f} ms after the click, "
          f"'{labels[-1][1]}' {labels[-1][0]:.0f} ms after it")
    return int(re.search(r"\d+", state.inner_text()).group())


# ---------------------------------------------------------------- tests


def open_dashboard(browser: Browser, base: str, cookies: list | None = None) -> tuple[Page, list[str]]:
    """A fresh browser profile on the dashboard, connected; script errors are collected."""
    context = browser.new_context(viewport=VIEWPORT, base_url=base)
    context.set_default_timeout(10_000)
    if cookies:
        context.add_cookies(cookies)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto("/")
    expect(tab.locator("#connection")).to_have_text("Connected")
    return tab, errors
