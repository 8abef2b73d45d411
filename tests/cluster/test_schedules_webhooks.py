"""Webhooks, schedules and the MCP crawl tools in cluster mode: one redis-server, two web servers,
one worker.

The worker runs the crawl and posts its webhooks (the same sender as the embedded mode). Both web
servers tick every second over the one Redis hash of schedules; each run is claimed by exactly one
of them, so every run starts one refresh (never two of the same crawl). Records written into Redis
by other hands are skipped, and the schedule goes on.
"""

from __future__ import annotations

import json
import time

import pytest
import redis

from tests.support.changing_site import CONFIG, crawl
from tests.support.mcp import CRAWL_TOOLS, session_over_http
from tests.support.server import Client, ServerProcess, wait_until

SECRET = "cluster-webhook-secret"


@pytest.mark.slow
def test_two_web_servers_fire_each_run_once_and_the_worker_posts_the_webhooks(tmp_path, changing_site, receiver):
    from tests.support.cluster import LEASE_SECONDS, RedisServer, WorkerProcess, wait_for_workers

    data_dir = tmp_path / "crawls"
    redis_server = RedisServer(tmp_path / "redis")
    worker = WorkerProcess(redis_server.url, data_dir, tmp_path)
    env = {"CRAWLER_LEASE_SECONDS": LEASE_SECONDS, "CRAWLER_SCHEDULE_MIN_INTERVAL": "1"}
    servers: list[ServerProcess] = []
    client = None
    try:
        for _ in range(2):
            servers.append(ServerProcess(data_dir, "--allow-private-targets", "--redis", redis_server.url, env=env))
        first, second = servers
        wait_for_workers(first, [worker])
        client = Client(first.base)
        crawl_id, summary = crawl(client, {"url": changing_site.url("/docs/"), **CONFIG,
                                           "webhook": {"url": receiver.url, "secret": SECRET}})
        assert summary["ok"] == 8
        completed = receiver.wait_for(lambda: receiver.of("completed"), message="the worker's completed webhook")
        assert completed[0].signed_with(SECRET) and completed[0].json["crawl_id"] == crawl_id
        assert [post.event for post in receiver.posts][0] == "started"
        pages = [page for post in receiver.of("page") for page in post.json["data"]["pages"]]
        assert sum(page["status"] == "ok" for page in pages) == 8

        def delivery_logged() -> dict | None:  # the worker logs it once the receiver answered: after it saw the post
            detail = client.http.get(f"{second.base}/api/crawls/{crawl_id}", timeout=10).json()
            return detail if any("webhook completed delivered" in line["message"] for line in detail["recent_log"]) else None

        detail = wait_until(delivery_logged, timeout=10, interval=0.1, message="the delivery in the crawl's log")
        assert detail["config"]["webhook"]["secret"] is None

        # Junk in the shared hash, as other hands could write it.
        db = redis.Redis.from_url(redis_server.url, decode_responses=True)
        db.hset("crawler:schedules", mapping={"s-00000000000000aa": "{not json", "../../x": json.dumps({"a": 1}),
                                              "s-00000000000000bb": json.dumps([1])})

        answer = client.http.post(f"{first.base}/api/schedules", json={"crawl_id": crawl_id, "every_hours": 1 / 3600},
                                  timeout=10)
        assert answer.status_code == 201, answer.text
        schedule_id = answer.json()["schedule_id"]
        other = Client(second.base, connect=False, cookies=client.http.cookies)  # the same person, the other server

        def runs() -> int:
            [row] = [s for s in other.http.get(f"{second.base}/api/schedules", timeout=10).json()["schedules"]
                     if s["schedule_id"] == schedule_id]
            return int(row["runs"])

        wait_until(lambda: runs() >= 3, timeout=90, interval=0.3, message="three runs of the schedule")
        client.http.delete(f"{first.base}/api/schedules/{schedule_id}", timeout=10)
        time.sleep(1.5)  # a run being fired as it was deleted settles
        rows = client.http.get(f"{first.base}/api/crawls", timeout=10).json()["crawls"]
        details = [client.http.get(f"{first.base}/api/crawls/{row['crawl_id']}", timeout=10).json() for row in rows]
        refreshed = [d["refresh_of"] for d in details if d["refresh_of"]]
        assert len(refreshed) >= 3
        assert len(set(refreshed)) == len(refreshed), refreshed  # never two refreshes of one crawl: each run once
        chain, at = [crawl_id], crawl_id
        by_parent = {d["refresh_of"]: d["crawl_id"] for d in details if d["refresh_of"]}
        while at in by_parent:
            at = by_parent[at]
            chain.append(at)
        assert len(chain) == len(refreshed) + 1  # one line of runs, each refreshing the one before
        logs = [s.log_path.read_text(errors="replace") for s in servers]
        assert all("is skipped: its stored record is not valid" in log for log in logs)
        assert all(server.process.poll() is None for server in servers)

        # The MCP crawl tools on the other web server, with a key of the same session: the worker runs it.
        key = other.http.post(f"{second.base}/api/keys", json={"name": "assistant"}, timeout=10).json()["key"]
        headers = {"Authorization": f"Bearer {key}"}
        tools, [(failed, text)] = session_over_http(second.base + "/mcp", headers,
                                                    [("crawl_site", {"url": changing_site.url("/docs/"), "max_pages": 3})])
        assert tools >= CRAWL_TOOLS and not failed, text
        started = json.loads(text)["crawl_id"]

        def status() -> dict:
            [(failed, text)] = session_over_http(first.base + "/mcp", headers,
                                                 [("crawl_status", {"crawl_id": started})])[1]
            assert not failed, text
            return json.loads(text)

        done = wait_until(lambda: (s := status())["done"] and s, timeout=60, interval=0.3, message="the MCP crawl")
        assert done["state"] == "completed" and done["pages"]["ok"] == 3
        worker_detail = client.http.get(f"{first.base}/api/crawls/{started}", timeout=10).json()
        assert worker_detail["config"]["max_pages"] == 3
        other.close()
    finally:
        if client is not None:
            client.close()
        for server in servers:
            server.stop()
        worker.stop()
        redis_server.stop()
