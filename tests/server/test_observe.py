"""GET /metrics and GET /api/system against the real server; the access rule they share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import Client, ServerProcess, wait_until


def scrape(http: requests.Session, base: str, **kwargs: Any) -> dict[tuple[str, tuple], float]:
    response = http.get(base + "/metrics", timeout=10, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def one_slot_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that runs one crawl at a time, so a second one waits in the queue."""
    proc = ServerProcess(tmp_path_factory.mktemp("observe") / "crawls", "--allow-private-targets",
                         "--max-running-crawls", "1")
    yield proc
    proc.stop()


def test_metrics_count_pages_fetches_bytes_retries_and_clients(one_slot_server: ServerProcess, make_site):
    site = make_site(pages=12, extra_links=False, flaky={3: 1}, rate_limited={5: 1})
    client = Client(one_slot_server.base)
    try:
        before = scrape(client.http, one_slot_server.base)
        assert value(before, "crawler_socketio_clients") >= 1
        crawl_id = client.start({"url": site.base + "/docs/", "use_sitemaps": False, "concurrency": 2})
        finished = client.wait_finished(crawl_id)
        assert finished["summary"]["ok"] == 12
        after = scrape(client.http, one_slot_server.base)

        def grew(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert grew("crawler_pages_total", status="ok", reason="") == 12
        # a try answered 500 or 429 downloads no page: only the 12 pages saved are timed
        assert grew("crawler_fetch_seconds_count") == 12
        assert grew("crawler_stage_seconds_count", stage="extract") == 12
        assert grew("crawler_fetch_seconds_sum") > 0
        assert grew("crawler_downloaded_bytes_total") >= 12 * 1000
        assert grew("crawler_retries_total") == 2 and grew("crawler_backoffs_total") == 1
        assert value(after, "crawler_crawls", state="running") == 0
        assert value(after, "crawler_process_memory_bytes", process="server") > 10_000_000
        assert value(after, "crawler_process_memory_bytes", process="worker") > 0
        assert value(after, "crawler_process_cpu_seconds_total", process="server") > 0
        assert value(after, "crawler_processes", process="server") == 1
    finally:
        client.close()
    other = requests.Session()
    wait_until(lambda: value(scrape(other, one_slot_server.base), "crawler_socketio_clients")
               == value(before, "crawler_socketio_clients") - 1, timeout=10, message="the client to be counted out")


def test_system_reports_processes_slots_and_each_sessions_queue(one_slot_server: ServerProcess, make_site):
    site = make_site(pages=40, latency=0.3, extra_links=False)
    owner, other = Client(one_slot_server.base, connect=False), Client(one_slot_server.base, connect=False)
    config = {"url": site.base + "/docs/", "use_sitemaps": False, "concurrency": 1}
    try:
        ids = [owner.http.post(one_slot_server.base + "/api/crawls", json=config, timeout=10).json()["crawl_id"]
               for _ in range(2)]
        mine = wait_until(lambda: (lambda s: s if s["queues"]["yours"] == {"running": 1, "queued": 1} else None)(
            owner.http.get(one_slot_server.base + "/api/system", timeout=10).json()), timeout=20,
            message="one crawl running and one waiting")
        assert mine["mode"] == "embedded"
        assert mine["slots"] == {"total": 1, "used": 1, "free": 0}
        assert mine["server"]["pid"] == one_slot_server.process.pid and mine["server"]["memory_bytes"] > 10_000_000
        assert mine["workers"] and all(w["memory_bytes"] > 0 and "cpu_percent" in w for w in mine["workers"])
        assert mine["memory_bytes"] >= mine["server"]["memory_bytes"] + sum(w["memory_bytes"] for w in mine["workers"])
        assert mine["memory_guard"] is None
        theirs = other.http.get(one_slot_server.base + "/api/system", timeout=10).json()
        assert theirs["queues"]["yours"] == {"running": 0, "queued": 0}
        assert theirs["queues"]["total"] == {"running": 1, "queued": 1, "sessions": 1}

        def started(samples: dict[tuple[str, tuple], float]) -> bool:
            return (value(samples, "crawler_crawls", state="queued") == 1
                    and value(samples, "crawler_crawls", state="running") == 1)

        wait_until(lambda: started(scrape(other.http, one_slot_server.base)), timeout=20,
                   message="crawls by state: one running, one queued")
    finally:
        for crawl_id in ids:
            owner.http.delete(f"{one_slot_server.base}/api/crawls/{crawl_id}", timeout=30)
        owner.close()
        other.close()


def test_metrics_and_system_need_the_token_when_one_is_set(tmp_path: Path):
    server = ServerProcess(tmp_path / "crawls", "--token", "s3cret", "--memory-limit", "64GB")
    try:
        for path in ("/metrics", "/api/system"):
            assert requests.get(server.base + path, timeout=10).status_code == 401
            wrong = requests.get(server.base + path, headers={"Authorization": "Bearer nope"}, timeout=10)
            assert wrong.status_code == 401
        samples = scrape(requests.Session(), server.base, headers={"Authorization": "Bearer s3cret"})
        assert value(samples, "crawler_memory_limit_bytes") == 64 * 1024 ** 3
        assert value(samples, "crawler_memory_paused") == 0
        system = requests.get(server.base + "/api/system", headers={"Authorization": "Bearer s3cret"}, timeout=10)
        guard = system.json()["memory_guard"]
        assert guard["limit_bytes"] == 64 * 1024 ** 3 and guard["paused"] is False and guard["used_bytes"] > 0
    finally:
        server.stop()
