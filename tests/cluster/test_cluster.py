"""Cluster mode for real: our own redis-server, two web servers, two `python -m crawler.service.cluster.worker`
processes and one shared data directory, driven through real sockets as two browser sessions
would. (The whole rest of the suite covers the embedded mode.)"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from crawler.folder.reader import iter_manifest
from crawler.service.cluster.coordinator import INTERRUPTED_WITHIN, interrupted_within
from crawler.service.cluster.coordinator import LEASE_SECONDS as DEFAULT_LEASE
from crawler.service.cluster.jobs import QUEUE, TASK_NAME, make_celery
from tests.support import contract
from tests.support.cluster import (
    LEASE_SECONDS,
    RedisServer,
    WorkerProcess,
    alive,
    descendants,
    health,
    wait_for_workers,
    web_server,
)
from tests.support.server import Client, ServerProcess, wait_until

MAX_QUEUED = 2


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "crawls"
        self.redis = RedisServer(root / "redis")
        self.workers = [self.add_worker(), self.add_worker()]
        self.a = web_server(self.data_dir, self.redis.url, "--max-queued-per-session", str(MAX_QUEUED))
        self.b = web_server(self.data_dir, self.redis.url, "--max-queued-per-session", str(MAX_QUEUED))
        wait_for_workers(self.a, self.workers)

    def add_worker(self) -> WorkerProcess:
        return WorkerProcess(self.redis.url, self.data_dir, self.root)

    def live_workers(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.process.poll() is None]

    def worker(self, worker_id: str) -> WorkerProcess:
        return next(w for w in self.workers if w.id == worker_id)

    def close(self) -> None:
        for server in (self.a, self.b):
            server.stop()
        for worker in self.workers:
            worker.stop()
        self.redis.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(tmp_path_factory.mktemp("cluster"))
    yield running
    running.close()


def session_on(server: ServerProcess, *, watch: ServerProcess | None = None) -> tuple[Client, Client]:
    """A browser session: REST through `server`, its Socket.IO watcher on `watch` (same cookie)."""
    rest = Client(server.base, connect=False)
    watcher = Client((watch or server).base, cookies=rest.http.cookies)
    return rest, watcher


def start(client: Client, base: str, config: dict[str, Any]) -> str:
    answer = client.http.post(base + "/api/crawls", json=config, timeout=10)
    assert answer.status_code == 202, answer.text
    return answer.json()["crawl_id"]


def detail(client: Client, base: str, crawl_id: str) -> dict[str, Any]:
    answer = client.http.get(f"{base}/api/crawls/{crawl_id}", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def manifest(cluster: Cluster, crawl_id: str) -> list[dict[str, Any]]:
    return list(iter_manifest(cluster.data_dir / crawl_id))


def saved_urls(cluster: Cluster, crawl_id: str) -> list[str]:
    return [e["url"] for e in manifest(cluster, crawl_id) if e["status"] == "ok"]


@pytest.mark.slow
def test_each_session_sees_all_its_events_through_the_other_server_and_none_of_the_others(cluster, make_site):
    site = make_site(pages=25, latency=0.02, extra_links=False)
    one_rest, one_watch = session_on(cluster.a, watch=cluster.b)
    two_rest, two_watch = session_on(cluster.b, watch=cluster.a)
    config = {"url": site.url(0), "concurrency": 4}
    ones = [start(one_rest, cluster.a.base, config), start(one_rest, cluster.b.base, config)]
    twos = [start(two_rest, cluster.b.base, config), start(two_rest, cluster.a.base, config)]
    try:
        for watcher, ids in ((one_watch, ones), (two_watch, twos)):
            for crawl_id in ids:
                finished = watcher.wait_finished(crawl_id, timeout=60)
                assert finished["state"] == "completed" and finished["summary"]["ok"] == 25, finished
                for event in ("crawler_status", "crawler_detailed_progress", "crawler_page", "crawler_log"):
                    assert watcher.of(event, crawl_id), f"{event} of {crawl_id} reached the other server"
                pages = {p["url"] for e in watcher.of("crawler_page", crawl_id) for p in e["pages"]
                         if p["stage"] == "done"}
                assert len(pages) == 25
        for watcher, others in ((one_watch, twos), (two_watch, ones)):
            seen = {payload.get("crawl_id") for _, _, payload in watcher.events if isinstance(payload, dict)}
            assert not seen & set(others), "a session received another session's events"

        # REST answers the same on either server, and nothing of the other session.
        for rest, ids, other in ((one_rest, ones, twos), (two_rest, twos, ones)):
            lists = [rest.http.get(s.base + "/api/crawls", timeout=10).json()["crawls"] for s in (cluster.a, cluster.b)]
            assert lists[0] == lists[1]
            assert {row["crawl_id"] for row in lists[0]} == set(ids)
            assert set(lists[0][0]) == contract.list_row_fields()
            for crawl_id in ids:
                assert detail(rest, cluster.a.base, crawl_id) == detail(rest, cluster.b.base, crawl_id)
                assert set(detail(rest, cluster.a.base, crawl_id)) == contract.rest_fields("GET /api/crawls/<id>")
            for server in (cluster.a, cluster.b):
                assert rest.http.get(f"{server.base}/api/crawls/{other[0]}", timeout=10).status_code == 404
                assert rest.http.post(f"{server.base}/api/crawls/{other[0]}/stop", timeout=10).status_code == 404
        # Each web server's search indexer (two processes writing one index file) has every page, once.
        for server in (cluster.a, cluster.b):
            wait_until(lambda server=server: one_rest.http.get(server.base + "/api/search", timeout=10, params={
                "q": "paragraph", "crawl": ones[0]}).json()["total"] == 25, timeout=30, message="the pages indexed")
        ran_on = {w["id"] for w in health(cluster.a)["workers"]}
        assert ran_on == {w.id for w in cluster.workers}
        system = one_rest.http.get(cluster.b.base + "/api/system", timeout=10).json()
        assert system["mode"] == "cluster" and system["redis"] == {"reachable": True}
        assert {w["id"] for w in system["cluster_workers"]} == ran_on
        assert system["slots"] == {"total": 4, "used": 0, "free": 4} and system["queues"]["yours"] == {"queued": 0}
        logs = "".join(w.log() for w in cluster.workers)
        assert sum(logs.count(f"crawl {crawl_id}: running") for crawl_id in ones + twos) == 4
    finally:
        for client in (one_rest, one_watch, two_rest, two_watch):
            client.close()


def test_stop_sent_to_server_b_ends_a_crawl_started_on_server_a_within_a_second(cluster, make_site):
    site = make_site(pages=300, latency=0.3, extra_links=False)
    rest, watcher = session_on(cluster.a, watch=cluster.b)
    try:
        crawl_id = start(rest, cluster.a.base, {"url": site.url(0), "concurrency": 4})
        wait_until(lambda: (watcher.of("crawler_detailed_progress", crawl_id) or [{}])[-1].get("ok", 0) >= 3,
                   timeout=30, message="three pages saved")
        running = detail(rest, cluster.b.base, crawl_id)
        assert running["worker"] in {w.id for w in cluster.workers}
        sent = time.monotonic()
        answer = rest.http.post(f"{cluster.b.base}/api/crawls/{crawl_id}/stop", timeout=10)
        assert answer.status_code == 202 and answer.json()["state"] == "stopping"
        finished = watcher.wait_finished(crawl_id, timeout=10)
        arrived = [t for t, payload in watcher.timed("crawler_finished", crawl_id)][0]
        stopping = [t for t, p in watcher.timed("crawler_status", crawl_id) if p["state"] == "stopping"]
        assert finished["state"] == "stopped"
        assert stopping and stopping[0] - sent < 0.5, "the 'stopping' feedback came at once"
        assert arrived - sent < 1.0, f"crawler_finished {arrived - sent:.2f} s after the stop"
        assert detail(rest, cluster.a.base, crawl_id)["state"] == "stopped"
        assert finished["summary"]["ok"] == len(saved_urls(cluster, crawl_id)) < 300
    finally:
        rest.close()
        watcher.close()


@pytest.mark.slow
def test_kill_9_of_a_worker_mid_crawl_then_resume_on_the_other_loses_and_repeats_nothing(cluster, make_site):
    site = make_site(pages=120, latency=0.1, extra_links=False)
    rest, watcher = session_on(cluster.a, watch=cluster.b)
    try:
        crawl_id = start(rest, cluster.a.base, {"url": site.url(0), "concurrency": 4})
        wait_until(lambda: len(saved_urls(cluster, crawl_id)) >= 20, timeout=30, message="20 pages saved")
        victim = cluster.worker(wait_until(lambda: detail(rest, cluster.a.base, crawl_id)["worker"]))
        helpers = descendants(victim.process.pid)
        assert helpers, "the worker runs its own extraction processes"
        killed_at = time.monotonic()
        victim.kill()
        before = manifest(cluster, crawl_id)
        finished = watcher.wait_finished(crawl_id, timeout=30)
        assert finished["state"] == "interrupted" and finished["summary"]["stop_reason"] == "worker lost"
        shown_after = watcher.timed("crawler_finished", crawl_id)[0][0] - killed_at
        assert shown_after <= interrupted_within(float(LEASE_SECONDS)), f"interrupted {shown_after:.2f} s after"
        wait_until(lambda: not alive(helpers), timeout=10, message="the dead worker's extraction processes to end")
        assert detail(rest, cluster.b.base, crawl_id)["state"] == "interrupted"
        saved_before = {e["url"] for e in before if e["status"] == "ok"}
        assert 20 <= len(saved_before) < 120

        answer = rest.http.post(f"{cluster.b.base}/api/crawls/{crawl_id}/resume", timeout=10)
        assert answer.status_code == 202, answer.text
        shown = detail(rest, cluster.a.base, crawl_id)  # what a dashboard attaching now would read
        assert shown["state"] in ("queued", "discovering", "running"), shown["state"]
        assert shown["progress"]["state"] in ("queued", "discovering", "running"), "no stale final snapshot"
        assert shown["progress"]["ok"] >= len(saved_before) and shown["summary"] is None
        resumed = wait_until(lambda: [p for p in watcher.of("crawler_finished", crawl_id) if p is not finished
                                      and p["state"] != "interrupted"], timeout=60, message="the resumed run's end")
        assert resumed[0]["state"] == "completed", resumed
        survivor = next(w for w in cluster.live_workers() if w is not victim)
        assert f"crawl {crawl_id}: running" in survivor.log()

        after = manifest(cluster, crawl_id)
        per_url = Counter(e["url"] for e in after)
        assert max(per_url.values()) == 1, "0 duplicated"
        assert after[:len(before)] == before, "0 lost"
        assert len(saved_urls(cluster, crawl_id)) == 120
        for url in saved_before:
            assert len(site.times_of(urlsplit(url).path)) == 1, f"{url} was saved, then fetched again"
    finally:
        cluster.workers.append(cluster.add_worker())
        wait_for_workers(cluster.a, cluster.live_workers())
        rest.close()
        watcher.close()


def test_a_job_delivered_twice_runs_once_and_two_resumes_at_once_start_one_run(cluster, make_site):
    site = make_site(pages=40, latency=0.05, extra_links=False)
    rest, watcher = session_on(cluster.a, watch=cluster.b)
    celery = make_celery(cluster.redis.url)
    try:
        crawl_id = start(rest, cluster.a.base, {"url": site.url(0), "concurrency": 2})
        for _ in range(2):  # as a broker redelivery would
            celery.send_task(TASK_NAME, args=[crawl_id], queue=QUEUE)
        assert watcher.wait_finished(crawl_id, timeout=60)["state"] == "completed"
        wait_until(lambda: "".join(w.log() for w in cluster.workers).count(f"crawl {crawl_id}") >= 4,
                   timeout=10, message="every delivery to be handled")
        logs = "".join(w.log() for w in cluster.workers)
        assert logs.count(f"crawl {crawl_id}: running") == 1
        assert Counter(e["url"] for e in manifest(cluster, crawl_id)).most_common(1)[0][1] == 1
        assert len(site.times_of(urlsplit(site.url(5)).path)) == 1

        # A stopped crawl resumed through both servers at the same moment: one run, one refusal.
        second = start(rest, cluster.b.base, {"url": make_site(pages=200, latency=0.2, extra_links=False).url(0),
                                               "concurrency": 2})
        wait_until(lambda: detail(rest, cluster.a.base, second)["state"] == "running", timeout=30)
        rest.http.post(f"{cluster.a.base}/api/crawls/{second}/stop", timeout=10)
        wait_until(lambda: watcher.of("crawler_finished", second), timeout=10)
        wait_until(lambda: not detail(rest, cluster.a.base, second)["worker"], timeout=10)
        answers: list[int] = []
        barrier = threading.Barrier(2)

        def resume(base: str) -> None:
            barrier.wait()
            answers.append(rest.http.post(f"{base}/api/crawls/{second}/resume", timeout=10).status_code)

        threads = [threading.Thread(target=resume, args=(s.base,)) for s in (cluster.a, cluster.b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers) == [202, 409]
        shown = detail(rest, cluster.b.base, second)  # what a dashboard attaching now would read
        assert shown["progress"]["state"] != "stopped", "the stopped run's snapshot no longer stands"
        rest.http.post(f"{cluster.a.base}/api/crawls/{second}/stop", timeout=10)
        wait_until(lambda: detail(rest, cluster.a.base, second)["state"] == "stopped", timeout=10)
        logs = "".join(w.log() for w in cluster.workers)
        assert logs.count(f"crawl {second}: running") == 2  # the first run and one resumed run
    finally:
        rest.close()
        watcher.close()


def test_session_limits_and_arrival_order_hold_across_web_servers(cluster, make_site):
    site = make_site(pages=30, latency=0.1, extra_links=False)
    one_rest, one_watch = session_on(cluster.a, watch=cluster.b)
    two_rest, two_watch = session_on(cluster.b, watch=cluster.a)
    config = {"url": site.url(0), "concurrency": 2}
    try:
        # The first crawl is short, so the first slot frees well before the second: the waiting
        # crawls are then handed out one at a time, and their order shows.
        servers = [cluster.a, cluster.b, cluster.a, cluster.b]
        sizes = [5, 30, 30, 5]
        ones = [start(one_rest, server.base, {**config, "max_pages": size})  # 2 run, 2 wait (its limit)
                for server, size in zip(servers, sizes)]
        refused = one_rest.http.post(cluster.b.base + "/api/crawls", json=config, timeout=10)
        assert refused.status_code == 400 and "already waiting" in refused.json()["error"]
        late = start(two_rest, cluster.a.base, config)  # another session is not stuck behind them
        for crawl_id in ones:
            assert one_watch.wait_finished(crawl_id, timeout=60)["state"] == "completed"
        assert two_watch.wait_finished(late, timeout=60)["state"] == "completed"

        def began(watcher: Client, crawl_id: str) -> float:
            return next(t for t, p in watcher.timed("crawler_status", crawl_id) if p["state"] == "discovering")

        def ended(watcher: Client, crawl_id: str) -> float:
            return watcher.timed("crawler_finished", crawl_id)[0][0]

        starts = [began(one_watch, crawl_id) for crawl_id in ones]
        assert starts[2] >= min(ended(one_watch, ones[0]), ended(one_watch, ones[1])), "at most 2 at once"
        assert starts[2] <= starts[3], "its waiting crawls start in arrival order"
        assert began(two_watch, late) < starts[2], "the other session's crawl did not wait for them"
    finally:
        for client in (one_rest, one_watch, two_rest, two_watch):
            client.close()


@pytest.mark.slow
def test_redis_down_is_visible_not_fatal_and_the_view_resyncs_when_it_is_back(cluster, make_site):
    site = make_site(pages=150, latency=0.1, extra_links=False)
    rest, watcher = session_on(cluster.a, watch=cluster.b)
    try:
        crawl_id = start(rest, cluster.a.base, {"url": site.url(0), "concurrency": 2})
        wait_until(lambda: len(saved_urls(cluster, crawl_id)) >= 10, timeout=30, message="10 pages saved")
        cluster.redis.stop()
        down = health(cluster.a)
        assert down["mode"] == "cluster" and down["redis"]["reachable"] is False
        refused = rest.http.post(cluster.b.base + "/api/crawls", json={"url": site.url(0)}, timeout=10)
        assert refused.status_code == 503 and "Redis cannot be reached" in refused.json()["error"]
        during = len(saved_urls(cluster, crawl_id))
        wait_until(lambda: len(saved_urls(cluster, crawl_id)) >= during + 10, timeout=30,
                   message="the worker to keep crawling and saving while Redis is down")

        cluster.redis.start()  # empty: it kept nothing on disk
        wait_until(lambda: health(cluster.b)["redis"]["reachable"], timeout=20)
        resynced = len(watcher.of("crawler_detailed_progress", crawl_id))
        wait_until(lambda: len(watcher.of("crawler_detailed_progress", crawl_id)) > resynced + 2, timeout=30,
                   message="live progress through the other server again")
        fresh = watcher.of("crawler_detailed_progress", crawl_id)[-1]
        assert fresh["ok"] >= len(saved_urls(cluster, crawl_id)) - 10, "a fresh snapshot, not a stale one"
        wait_until(lambda: rest.http.get(f"{cluster.a.base}/api/crawls/{crawl_id}", timeout=10).status_code == 200,
                   timeout=20, message="the record rebuilt")
        finished = watcher.wait_finished(crawl_id, timeout=90)
        assert finished["state"] == "completed" and finished["summary"]["ok"] == 150
        assert Counter(e["url"] for e in manifest(cluster, crawl_id)).most_common(1)[0][1] == 1
        assert detail(rest, cluster.b.base, crawl_id)["state"] == "completed"
        assert {row["crawl_id"] for row in rest.http.get(cluster.b.base + "/api/crawls", timeout=10).json()["crawls"]} \
            >= {crawl_id}
    finally:
        rest.close()
        watcher.close()


@pytest.mark.slow
def test_dashboard_on_server_b_shows_stops_and_resumes_a_crawl_started_on_server_a(cluster, make_site, browser):
    from playwright.sync_api import expect

    from tests.support.browser import VIEWPORT

    site = make_site(pages=60, latency=0.15, extra_links=False)
    context = browser.new_context(viewport=VIEWPORT, base_url=cluster.b.base)
    context.set_default_timeout(15_000)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto("/")
        expect(page.locator("#connection")).to_have_text("Connected")
        # The same browser session starts a crawl through server A (its cookie goes with it).
        answer = context.request.post(cluster.a.base + "/api/crawls",
                                      data={"url": site.url(0), "concurrency": 2})
        assert answer.status == 202, answer.text()
        crawl_id = answer.json()["crawl_id"]
        expect(page.locator("#crawl-id")).to_have_text(crawl_id)  # shown live, no reload
        expect(page.locator("#crawl-state")).to_have_text("Running")
        page.wait_for_function("() => Number(document.getElementById('count-ok').textContent) >= 3")

        page.locator("#stop-btn").click()
        expect(page.locator("#crawl-state")).to_have_text(re.compile(r"^Stopped: \d+ pages kept$"))
        kept = len(saved_urls(cluster, crawl_id))
        assert 3 <= kept < 60
        page.locator("#resume-btn").click()
        expect(page.locator("#crawl-state")).to_have_text("Completed: 60 pages saved", timeout=40_000)
        expect(page.locator("#crawl-id")).to_have_text(crawl_id)
        assert Counter(saved_urls(cluster, crawl_id)).most_common(1)[0][1] == 1
        page.screenshot(path=str(cluster.root / "dashboard-server-b.png"))
    finally:
        context.close()
    assert not errors, f"script errors on the dashboard: {errors}"


def test_downloads_and_discovery_work_through_either_server(cluster, make_site):
    site = make_site(pages=12, extra_links=False)
    rest, watcher = session_on(cluster.a, watch=cluster.b)
    try:
        crawl_id = start(rest, cluster.a.base, {"url": site.url(0)})
        assert watcher.wait_finished(crawl_id, timeout=60)["state"] == "completed"
        for server in (cluster.a, cluster.b):
            jsonl = rest.http.get(f"{server.base}/api/crawls/{crawl_id}/download", params={"format": "jsonl"},
                                  timeout=10)
            assert jsonl.status_code == 200
            assert [json.loads(line)["url"] for line in jsonl.text.splitlines()] == \
                [e["url"] for e in manifest(cluster, crawl_id)]
            markdown = rest.http.get(f"{server.base}/api/crawls/{crawl_id}/download", params={"format": "markdown"},
                                     timeout=10)
            sources = [line[9:-1] for line in markdown.text.splitlines() if line.startswith("Source: <")]
            assert sources == saved_urls(cluster, crawl_id) and len(sources) == 12
        answer = rest.http.post(cluster.b.base + "/api/discover", json={"url": site.url(0)}, timeout=10)
        assert answer.status_code == 202, answer.text
        discovery = answer.json()["discovery_id"]
        assert watcher.wait_finished(discovery, timeout=60)["state"] == "completed"
        urls = rest.http.get(f"{cluster.a.base}/api/discover/{discovery}", timeout=10).json()
        assert urls["complete"] and urls["count"] == 12
        assert rest.http.delete(f"{cluster.b.base}/api/crawls/{crawl_id}", timeout=20).status_code == 200
        assert rest.http.get(f"{cluster.a.base}/api/crawls/{crawl_id}", timeout=10).status_code == 404
        assert not (cluster.data_dir / crawl_id).exists()
    finally:
        rest.close()
        watcher.close()


@pytest.mark.slow
def test_cluster_web_servers_off_loopback_require_one_token_they_agree_on(cluster, tmp_path):
    data_dir = tmp_path / "crawls"  # a fresh shared directory: the token is generated there
    exposed = [ServerProcess(data_dir, "--host", "0.0.0.0", "--redis", cluster.redis.url, "--allow-private-targets")
               for _ in range(2)]
    try:
        printed = [re.search(r"\?token=([0-9a-f]{64}) ", server.log_path.read_text()) for server in exposed]
        assert all(printed), [server.log_path.read_text() for server in exposed]
        token = printed[0].group(1)
        assert printed[1].group(1) == token, "both servers print the same token"
        assert (data_dir / ".access_token").read_text() == token
        for server in exposed:
            assert requests.get(server.base + "/api/crawls", timeout=10).status_code == 401
            bearer = {"Authorization": f"Bearer {token}"}
            assert requests.get(server.base + "/api/crawls", headers=bearer, timeout=10).status_code == 200
            assert requests.get(server.base + "/api/health", headers=bearer, timeout=10).json()["mode"] == "cluster"
    finally:
        for server in exposed:
            server.stop()


def _secret_in_process(data_dir: str, barrier: Any, results: Any) -> None:
    from crawler.web.sessions import load_or_create_secret

    barrier.wait()
    results.put(load_or_create_secret(Path(data_dir)))


def test_web_servers_starting_together_create_exactly_one_session_secret(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(8), context.Queue()
    processes = [context.Process(target=_secret_in_process, args=(str(tmp_path), barrier, results))
                 for _ in range(8)]
    for process in processes:
        process.start()
    secrets = {results.get(timeout=20) for _ in processes}
    for process in processes:
        process.join(10)
    assert len(secrets) == 1 and (tmp_path / ".secret_key").read_text() == secrets.pop()
    assert [p.name for p in tmp_path.iterdir()] == [".secret_key"], "no temporary file left behind"


def _crafted_record(crawl_id: str, url: str, **fields: str) -> dict[str, str]:
    from crawler.engine.config import parse_crawl_config

    return {"crawl_id": crawl_id, "owner": "0" * 32, "kind": "crawl", "created_at": "2026-12-01T00:00:00.000Z",
            "config": json.dumps(parse_crawl_config({"url": url}).to_dict()), "state": "queued", "message": "",
            **fields}


@pytest.mark.slow
def test_a_worker_refuses_ids_and_paths_from_redis_or_a_job_that_lead_outside_the_data_dir(tmp_path, make_site):
    """Redis is shared: a record or a Celery message written by anything else must not make a
    worker write outside the data directory (or read another folder), and the refusal is loud."""
    import redis as redis_py

    from crawler.service.crawls import new_crawl_id

    root = tmp_path / "root"
    data_dir = root / "crawls"
    data_dir.mkdir(parents=True)
    foreign = root / "escape-swept"  # a folder next to the data dir that is not a crawl's
    foreign.mkdir()
    server = RedisServer(tmp_path / "redis")
    worker = WorkerProcess(server.url, data_dir, tmp_path, allow_private_targets=False)
    client = redis_py.Redis.from_url(server.url, decode_responses=True)
    celery = make_celery(server.url)
    site = make_site(pages=3, extra_links=False)
    try:
        wait_until(lambda: client.keys("crawler:worker:*") and client.exists("crawler:epoch"), timeout=60,
                   message="the worker to start")
        absolute = str(root / "escape-absolute")
        field_id, refresh_id, private_id, other_id, named_id, queued_id = (new_crawl_id() for _ in range(6))
        records = {
            "../escape-crawl": _crafted_record("../escape-crawl", site.url(0)),
            absolute: _crafted_record(absolute, site.url(0)),
            field_id: _crafted_record("../escape-field", site.url(0)),  # stored under a good id
            other_id: _crafted_record(named_id, site.url(0)),  # another crawl's folder
            refresh_id: _crafted_record(refresh_id, site.url(0), refresh_of="../escape-swept"),
            private_id: _crafted_record(private_id, site.url(0)),  # a good record: the address guard still holds
            "../escape-swept": _crafted_record("../escape-swept", site.url(0), state="running", seen_at="1"),
        }
        for crawl_id, fields in records.items():
            client.hset(f"crawler:crawl:{crawl_id}", mapping=fields)
            client.sadd("crawler:owner:" + "0" * 32, crawl_id)
        # A forged heartbeat must not stop the upkeep from handing out what waits in the queue.
        client.set("crawler:worker:forged", "{not json")
        client.hset(f"crawler:crawl:{queued_id}", mapping=_crafted_record(queued_id, site.url(0)))
        client.rpush("crawler:queue", queued_id)
        client.hset("crawler:queue_owner", queued_id, "0" * 32)
        client.hset("crawler:dispatched", "../escape-swept", "0" * 32)
        client.hset("crawler:dispatched_at", "../escape-swept", "1")  # a sweep would judge its worker lost
        for crawl_id in ["../escape-crawl", absolute, field_id, other_id, refresh_id, private_id, 42]:
            celery.send_task(TASK_NAME, args=[crawl_id], queue=QUEUE)

        refusals = ["refusing a crawl job: '../escape-crawl' is not a crawl id",
                    f"refusing a crawl job: {absolute!r} is not a crawl id",
                    "refusing a crawl job: '42' is not a crawl id",
                    f"crawl {field_id}: refusing its record in Redis: its crawl_id '../escape-field' is not a crawl id",
                    f"crawl {other_id}: refusing its record in Redis: it is stored under {other_id} "
                    f"but names crawl_id {named_id}",
                    f"crawl {refresh_id}: refusing its record in Redis: its refresh_of '../escape-swept' "
                    "is not a crawl id",
                    "refusing the dispatched entry '../escape-swept' in Redis: not a crawl id"]

        def outside() -> list[str]:
            return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_relative_to(data_dir)
                          and p != foreign)

        def settled() -> bool:
            log = worker.log()
            return bool(outside()) or (all(line in log for line in refusals)
                                       and all(client.hget(f"crawler:crawl:{crawl_id}", "state") in FINAL
                                               for crawl_id in (private_id, queued_id)))

        FINAL = ("completed", "failed", "interrupted", "stopped")
        try:
            wait_until(settled, timeout=60, interval=0.2, message="every crafted job and record to be handled")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; outside: {outside()}; {private_id}: "
                                 f"{client.hgetall(f'crawler:crawl:{private_id}')}\n{worker.log()}") from None
        assert outside() == [], "the worker wrote outside the data directory"
        assert not Path(absolute).exists()
        log = worker.log()
        missing = [line for line in refusals if line not in log]
        assert not missing, f"refusals not logged: {missing}\n{log}"
        for crawl_id in (field_id, other_id, refresh_id):
            assert client.hget(f"crawler:crawl:{crawl_id}", "state") == "failed"
            assert "refused" in client.hget(f"crawler:crawl:{crawl_id}", "message")
            assert not (data_dir / crawl_id).exists(), "nothing of a refused record is opened"
        assert not (data_dir / named_id).exists()
        assert not client.hexists("crawler:dispatched_at", "../escape-swept")
        # A well-formed record is run, and its start URL on a loopback address is still refused
        # by a worker without --allow-private-targets: nothing reached the site.
        assert (data_dir / private_id).is_dir()
        assert site.requests == [], site.requests
        assert sorted(p.name for p in data_dir.iterdir() if not p.name.startswith(".")) == sorted([private_id, queued_id])
        assert "ignoring the worker heartbeat crawler:worker:forged" in log
        assert worker.process.poll() is None, "the worker is still up"
    finally:
        worker.stop()
        server.stop()


@pytest.mark.slow
def test_an_idle_web_server_keeps_its_event_subscription_and_loses_no_event(tmp_path):
    """A quiet events channel is normal: the web server neither warns nor re-subscribes, and
    events published after quiet spells longer than the connection's socket timeout all arrive."""
    from crawler.service.cluster.event_queue import REDIS_OPTIONS, EventQueue

    server_redis = RedisServer(tmp_path / "redis")
    server = web_server(tmp_path / "crawls", server_redis.url)
    watcher = Client(server.base)
    publisher = EventQueue(server_redis.url, write_only=True, raise_on_failure=True)
    quiet = REDIS_OPTIONS["socket_timeout"] + 0.2  # each quiet spell outlasts one socket timeout
    try:
        time.sleep(2.5 * REDIS_OPTIONS["socket_timeout"])  # idle: nothing published at all
        sent = 0
        for _ in range(3):  # sparse events, each after a quiet spell
            time.sleep(quiet)
            publisher.emit("cluster_probe", {"n": sent}, namespace="/")
            sent += 1
        for _ in range(40):  # then a steady stream
            publisher.emit("cluster_probe", {"n": sent}, namespace="/")
            sent += 1
            time.sleep(0.05)
        deadline = time.monotonic() + 10
        wait_until(lambda: len(watcher.of("cluster_probe")) >= sent or time.monotonic() > deadline, timeout=15)
        received = [event["n"] for event in watcher.of("cluster_probe")]
        # Each event once, none lost. Their order is not the point here: the python-socketio test
        # client runs each message's handler in a thread of its own, so two can land swapped.
        assert sorted(received) == list(range(sent)), f"{sent - len(set(received))} of {sent} events lost: got {received}"
        log = server.log_path.read_text(errors="replace")
        assert "event queue" not in log, log
    finally:
        watcher.close()
        server.stop()
        server_redis.stop()


@pytest.mark.slow
def test_kill_9_of_a_worker_shows_its_crawl_interrupted_within_the_documented_15_s(tmp_path, make_site):
    """The README's figure, with the default lease and the worst moment to die: just after the
    worker renewed its lease (a whole lease to wait out, then the next sweep)."""
    import redis as redis_py

    from crawler.service.config import ServerConfig

    assert INTERRUPTED_WITHIN == 15.0 and interrupted_within(DEFAULT_LEASE) <= INTERRUPTED_WITHIN
    assert ServerConfig().lease_seconds == DEFAULT_LEASE, "web servers and workers agree on the lease"
    data_dir = tmp_path / "crawls"
    server_redis = RedisServer(tmp_path / "redis")
    defaults = {"CRAWLER_LEASE_SECONDS": ""}  # the default lease, not the tests' short one
    server = ServerProcess(data_dir, "--allow-private-targets", "--redis", server_redis.url, env=defaults)
    worker = WorkerProcess(server_redis.url, data_dir, tmp_path, env=defaults)
    client = redis_py.Redis.from_url(server_redis.url, decode_responses=True)
    site = make_site(pages=300, latency=0.2, extra_links=False)
    rest, watcher = session_on(server)
    try:
        wait_for_workers(server, [worker])
        crawl_id = start(rest, server.base, {"url": site.url(0), "concurrency": 2})
        lease = f"crawler:lease:{crawl_id}"
        wait_until(lambda: client.exists(lease) and len(saved_urls_in(data_dir, crawl_id)) >= 2, timeout=30,
                   message="the crawl running under its lease")
        full = DEFAULT_LEASE * 1000
        wait_until(lambda: client.pttl(lease) >= full - 100, timeout=2 * full / 5000 + 5, interval=0.005,
                   message="a lease renewal")
        killed_at = time.monotonic()
        worker.kill()
        finished = watcher.wait_finished(crawl_id, timeout=40)
        shown_after = watcher.timed("crawler_finished", crawl_id)[0][0] - killed_at
        assert finished["state"] == "interrupted" and finished["summary"]["stop_reason"] == "worker lost"
        assert watcher.of("crawler_status", crawl_id)[-1]["state"] == "interrupted"
        print(f"interrupted {shown_after:.2f} s after kill -9")
        assert shown_after <= INTERRUPTED_WITHIN, f"interrupted {shown_after:.2f} s after kill -9"
        assert shown_after >= DEFAULT_LEASE - 0.5, "not before its lease could have expired"
    finally:
        rest.close()
        watcher.close()
        worker.stop()
        server.stop()
        server_redis.stop()


def saved_urls_in(data_dir: Path, crawl_id: str) -> list[str]:
    return [e["url"] for e in iter_manifest(data_dir / crawl_id) if e["status"] == "ok"]
