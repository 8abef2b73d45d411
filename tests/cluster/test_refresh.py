"""Refresh in cluster mode: the same service call, run on a worker (the site and its checks:
tests/server/test_refresh.py, tests/support/changing_site.py)."""

from __future__ import annotations

import pytest

from tests.support.changing_site import CONFIG, change_the_site, crawl
from tests.support.server import Client

# ---------------------------------------------------------------- cluster mode


@pytest.mark.slow
def test_refresh_in_cluster_mode_runs_on_a_worker_through_the_same_service_call(tmp_path, changing_site):
    """One redis-server, one web server with --redis, one worker: the refresh is queued like any
    crawl, the worker reuses the unchanged pages from the shared folder, the report is the same."""
    from tests.support.cluster import RedisServer, WorkerProcess, wait_for_workers, web_server

    data_dir = tmp_path / "crawls"
    redis = RedisServer(tmp_path / "redis")
    worker = WorkerProcess(redis.url, data_dir, tmp_path)
    web = app_client = None
    try:
        web = web_server(data_dir, redis.url)
        wait_for_workers(web, [worker])
        app_client = Client(web.base)
        old_id, first = crawl(app_client, {"url": changing_site.url("/docs/"), **CONFIG})
        assert first["ok"] == 8
        change_the_site(changing_site)
        ack = app_client.call("refresh_crawl", {"crawl_id": old_id})
        assert ack["ok"], ack
        summary = app_client.wait_finished(ack["crawl_id"], timeout=30)["summary"]
        assert (summary["ok"], summary["reused"]) == (8, 4)
        detail = app_client.http.get(f"{web.base}/api/crawls/{ack['crawl_id']}", timeout=10).json()
        assert detail["refresh_of"] == old_id  # kept in the Redis record
        report = app_client.http.get(f"{web.base}/api/crawls/{ack['crawl_id']}/changes", timeout=10).json()
        assert report["counts"] == {"new": 1, "changed": 3, "removed": 1, "unchanged": 4, "unchecked": 0, "reused": 4}
    finally:
        if app_client is not None:
            app_client.close()
        if web is not None:
            web.stop()
        worker.stop()
        redis.stop()
