"""Rendering on a cluster worker: its own Chromium, gone with it."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from tests.support.render import RENDER_TESTS, browsers_below, gone
from tests.support.render_sites import RenderSites
from tests.support.server import Client, wait_until

pytestmark = RENDER_TESTS


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
