"""Takes docs/screenshot.png: the dashboard in headless Chromium during a live crawl of a local
test site (tests/support/site.py), with the speed chart and the Server panel on screen.

    .venv/bin/python scripts/screenshot.py [--out docs/screenshot.png] [--width 1280] [--height 1060]

Needs what the browser tests need (requirements-dev.txt and Chromium at /usr/bin/chromium). It
starts its own server on a free port with a temporary data directory and stops both at the end.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from playwright.sync_api import expect, sync_playwright

from tests.support.server import ServerProcess
from tests.support.site import DocSite, SiteOptions

CHROMIUM = "/usr/bin/chromium"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(PROJECT_ROOT / "docs" / "screenshot.png"))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1060)
    parser.add_argument("--seconds", type=float, default=14, help="crawl time shown in the chart")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="crawler-screenshot-"))
    server = ServerProcess(data / "crawls", "--allow-private-targets", "--server", "threading")
    # Real-looking pages, a robots.txt that keeps one section out, a few pages that fail, and
    # two that answer 429 first, so that every line of the chart has something to show.
    site = DocSite(SiteOptions(pages=600, latency=0.12, rich=True, site_meta=True,
                               robots="User-agent: *\nDisallow: /docs/section-6/\n",
                               flaky={40: 9, 95: 9, 180: 9}, rate_limited={60: 1, 130: 1},
                               retry_after=2, slow_pages={25: 1.5, 70: 1.5})).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu"])
            context = browser.new_context(viewport={"width": args.width, "height": args.height},
                                          base_url=server.base, device_scale_factor=1)
            page = context.new_page()
            page.goto("/")
            expect(page.locator("#connection")).to_have_text("Connected")
            page.locator("#url").fill(site.url(0))
            page.locator("#concurrency").fill("6")
            page.locator("#max_retries").fill("1")
            page.locator("#start-btn").click()
            expect(page.locator("#crawl-state")).to_have_text("Running", timeout=20_000)
            page.wait_for_function(
                "seconds => { const p = document.getElementById('speed-chart'); "
                "return Number(p.dataset.points) >= seconds * 2; }", arg=args.seconds, timeout=120_000)
            expect(page.locator("#server-panel")).to_have_attribute("data-state", "ok")
            expect(page.locator('#server-panel [data-key="yours"] dd')).to_have_text(re.compile(r"^1 running"))
            page.mouse.move(0, 0)  # no hover: the chart's legend shows the latest values
            page.screenshot(path=args.out)
            page.locator("#stop-btn").click()
            expect(page.locator("#crawl-state")).to_have_text(re.compile(r"^Stopped"), timeout=20_000)
            browser.close()
    finally:
        site.stop()
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
