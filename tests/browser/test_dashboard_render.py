"""The dashboard during a crawl of a Docsify site: the `rendering` stage and the rendered count,
in a real Chromium (Playwright) against the real server, which renders the site's pages in a
Chromium of its own."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from crawler.render import render_unavailable_reason
from tests.support.render_sites import RenderSites
from tests.support.server import ServerProcess

try:
    from playwright.sync_api import Browser, expect
except ImportError:  # pragma: no cover - CI installs it
    pass


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of its own, stopped with the module: the Chromium it starts to render goes with it
    (on the shared server it would live until its idle timeout, into the render tests that check
    that no Chromium is left)."""
    proc = ServerProcess(tmp_path_factory.mktemp("render-server") / "crawls", "--allow-private-targets",
                         "--server", "threading")
    yield proc
    proc.stop()


@pytest.mark.slow
def test_a_docsify_crawl_shows_the_rendering_stage_and_the_rendered_count(browser: Browser,
                                                                           app_server: ServerProcess) -> None:
    if render_unavailable_reason():
        pytest.skip(f"the server cannot render pages here: {render_unavailable_reason()}")
    site = RenderSites().start()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=app_server.base)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto("/")
        expect(page.locator("#connection")).to_have_text("Connected")
        # Record every stage the current-page pill shows, and the rows drawn in the rendering stage.
        page.evaluate("""() => {
          const seen = window.__stages = new Set();
          const pill = document.getElementById("current-stage");
          new MutationObserver(() => seen.add(pill.dataset.stage))
            .observe(pill, { attributes: true, attributeFilter: ["data-stage"] });
          const rows = window.__renderingRows = new Set();
          new MutationObserver(() => document.querySelectorAll("#page-list li.stage-rendering")
              .forEach(row => rows.add(getComputedStyle(row.querySelector(".page-status")).backgroundColor)))
            .observe(document.getElementById("page-list"), { childList: true, subtree: true, attributes: true });
        }""")
        page.locator("#url").fill(site.base + "/docsify/")
        assert page.locator("#render").input_value() == "auto"
        page.locator("#start-btn").click()
        expect(page.locator("#crawl-state")).to_have_text(re.compile(r"^Completed"), timeout=60_000)
        crawl_id = page.locator("#crawl-id").inner_text().strip()

        expect(page.locator("#count-rendered")).to_have_text("12")
        expect(page.locator("#count-ok")).to_have_text("12")
        assert "rendering" in page.evaluate("[...window.__stages]")
        # The rendering stage has its own colour in the page list (not the other stages' blue).
        colours = page.evaluate("[...window.__renderingRows]")
        assert colours and all(colour == "rgb(241, 234, 250)" for colour in colours), colours
        render_time = page.locator("#time-render").inner_text()
        assert re.fullmatch(r"\d+(\.\d+)? s", render_time) and float(render_time[:-2]) > 0
        # A route is shown as the page it is.
        expect(page.locator("#page-list li.page-row", has_text="#/guide/install")).to_have_count(1)
        manifest = [json.loads(line) for line in
                    (app_server.data_dir / crawl_id / "manifest.jsonl").read_text().splitlines()]
        assert sum(entry["rendered"] for entry in manifest) == 12
    finally:
        context.close()
        site.stop()
    assert not errors, f"script errors on the dashboard: {errors}"
