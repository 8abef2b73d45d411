"""Pages that only exist after JavaScript runs: rendered in a real Chromium, only when needed.

The engine runs directly (a CrawlController with a RecordingSink) against the local sites of
tests/support/render_sites.py (a Docsify site, an app shell filled by fetch(), a server-rendered site, hostile
pages); a few tests run the real server where the server matters (kill -9, no browser, eventlet).
After every test, no Chromium is left below this process: processes are counted with psutil.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.render import (
    render_unavailable_reason,
)
from tests.support.render import browsers_below
from tests.support.render_sites import RenderSites
from tests.support.server import Client, ServerProcess

pytestmark = [pytest.mark.usefixtures("no_chromium_left"), pytest.mark.skipif(render_unavailable_reason() is not None,
                                reason=f"no browser to render with: {render_unavailable_reason()}")]







@pytest.fixture(scope="module")
def sites() -> Iterator[RenderSites]:
    site = RenderSites(slow_seconds=3.0).start()
    yield site
    site.stop()


def test_a_server_without_a_browser_refuses_always_and_skips_such_pages(tmp_path: Path, sites: RenderSites) -> None:
    server = ServerProcess(tmp_path / "crawls", "--allow-private-targets", env={"CRAWLER_CHROMIUM": "none"})
    client = Client(server.base)
    try:
        answer = client.http.post(server.base + "/api/crawls", json={"url": sites.base + "/app/", "render": "always"},
                                  timeout=10)
        assert answer.status_code == 400 and "render is set to always" in answer.json()["error"]
        ack = client.call("start_crawl", {"url": sites.base + "/app/", "render": "always"})
        assert ack["ok"] is False and "pages cannot be rendered here" in ack["error"]
        crawl_id = client.start({"url": sites.base + "/app/"})
        finished = client.wait_finished(crawl_id)
        assert finished["summary"]["skip_reasons"] == {"needs_javascript": 1}
        assert not browsers_below(server.process.pid)
        assert client.http.get(server.base + "/api/system", timeout=10).json()["browser"] == []
    finally:
        client.close()
        server.stop()
