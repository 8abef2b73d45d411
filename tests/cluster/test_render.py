"""Pages that only exist after JavaScript runs: rendered in a real Chromium, only when needed.

The engine runs directly (a CrawlController with a RecordingSink) against the local sites of
tests/support/render_sites.py (a Docsify site, an app shell filled by fetch(), a server-rendered site, hostile
pages); a few tests run the real server where the server matters (kill -9, no browser, eventlet).
After every test, no Chromium is left below this process: processes are counted with psutil.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from crawler.render import (
    render_unavailable_reason,
)
from tests.support.render import browsers_below, gone
from tests.support.render_sites import RenderSites
from tests.support.server import Client, wait_until

pytestmark = [pytest.mark.usefixtures("no_chromium_left"), pytest.mark.skipif(render_unavailable_reason() is not None,
                                reason=f"no browser to render with: {render_unavailable_reason()}")]









@pytest.fixture(scope="module")
def sites() -> Iterator[RenderSites]:
    site = RenderSites(slow_seconds=3.0).start()
    yield site
    site.stop()


@pytest.mark.slow
def test_in_cluster_mode_the_worker_renders(tmp_path: Path, sites: RenderSites) -> None:
    from tests.support.cluster import (
        RedisServer,
        WorkerProcess,
        redis_server_binary,
        wait_for_workers,
        web_server,
    )

    redis_server_binary()
    redis = RedisServer(tmp_path / "redis")
    data = tmp_path / "crawls"
    web = worker = client = None
    browsers: list[psutil.Process] = []
    try:
        web = web_server(data, redis.url)
        worker = WorkerProcess(redis.url, data, tmp_path)
        wait_for_workers(web, [worker])
        client = Client(web.base)
        urls = [sites.base + "/app/", sites.base + "/app/page-1.html"]
        crawl_id = client.start({"url": urls[0], "urls": urls})
        summary = client.wait_finished(crawl_id, timeout=90)["summary"]
        assert summary["ok"] == 2 and summary["rendered"] == 2, summary
        assert browsers_below(worker.process.pid) and not browsers_below(web.process.pid)  # the worker's own
        browsers = browsers_below(worker.process.pid)
    finally:
        if client is not None:
            client.close()
        for process in (worker, web, redis):
            if process is not None:
                process.stop()
    wait_until(lambda: gone(browsers), timeout=10, message="Chromium to exit with its worker")
