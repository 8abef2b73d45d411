"""The processes the server reports: `--cpu-workers 2` is two extraction workers, whatever else
multiprocessing starts (its fork server, its resource tracker), in /api/system, /metrics and the
dashboard's Server panel (the API side: tests/server/test_system_processes.py). A real server."""

from __future__ import annotations

import re

from tests.support.browser import VIEWPORT

try:
    from playwright.sync_api import Browser, expect
except ImportError:  # pragma: no cover - the browser fixture skips without playwright
    expect = None  # type: ignore[assignment]


def test_the_server_panel_says_two_cpu_workers(browser: Browser, two_workers):
    context = browser.new_context(viewport=VIEWPORT, base_url=two_workers.base)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto("/")
        panel = page.locator("#server-panel")
        panel.scroll_into_view_if_needed()
        expect(panel).to_have_attribute("data-state", "ok")
        expect(panel.locator('[data-key="workers"] dt')).to_have_text("CPU workers")
        expect(panel.locator('[data-key="workers"] dd')).to_have_text(re.compile(r"^2 · "))
        expect(panel.locator('[data-key="server"] dd')).to_have_attribute(
            "title", re.compile(r"multiprocessing helpers \(fork server, resource tracker\): pid \d+, \d+"))
        expect(panel.locator('[data-key="indexer"] dt')).to_have_text("Search indexer")
        expect(panel.locator('[data-key="indexer"] dd')).to_have_attribute("title", re.compile(r"^pid \d+; a lower CPU"))
    finally:
        context.close()
