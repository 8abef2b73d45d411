"""Rendering where the server matters: a server without a browser, and the eventlet mode."""

from __future__ import annotations

from pathlib import Path

from tests.support.render import RENDER_TESTS, browsers_below
from tests.support.render_sites import RenderSites
from tests.support.server import Client, ServerProcess

pytestmark = RENDER_TESTS


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
