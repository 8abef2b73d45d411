"""Schedules through a real server whose shortest interval is lowered to a second
(CRAWLER_SCHEDULE_MIN_INTERVAL): a schedule fires again and again, each run a refresh of the run
before (conditional requests, the change report, the webhook's `changes`); it survives a restart;
another session cannot schedule, see or delete it; records written into the data directory by
other hands are skipped without stopping the others."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.changing_site import CONFIG, crawl
from tests.support.server import Client, ServerProcess, wait_until

SHORT = {"CRAWLER_SCHEDULE_MIN_INTERVAL": "1"}
TWO_SECONDS = 2 / 3600  # in hours


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("schedules") / "crawls", "--allow-private-targets", env=SHORT)
    yield proc
    proc.stop()


@pytest.fixture
def client(quick_server: ServerProcess) -> Iterator[Client]:
    made = Client(quick_server.base)
    yield made
    made.close()


def schedules_of(http: requests.Session, base: str) -> list[dict[str, Any]]:
    answer = http.get(f"{base}/api/schedules", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["schedules"]


def test_a_schedule_refreshes_its_crawl_on_each_run_until_deleted(quick_server, client, changing_site, receiver):
    base = quick_server.base
    first_id, summary = crawl(client, {"url": changing_site.url("/docs/"), **CONFIG,
                                       "webhook": {"url": receiver.url, "events": ["changes"]}})
    assert summary["ok"] == 8
    changing_site.clear()
    answer = client.http.post(f"{base}/api/schedules", json={"crawl_id": first_id, "every_hours": TWO_SECONDS},
                              timeout=10)
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert made["crawl_id"] == first_id and made["runs"] == 0 and made["site"] == changing_site.url("/docs/")
    assert made["next_run"] is not None and made["last_run"] is None

    [listed] = wait_until(lambda: [s for s in schedules_of(client.http, base) if s["runs"] >= 2] or None,
                          timeout=60, interval=0.2, message="two runs of the schedule")
    crawls = {row["crawl_id"]: row for row in client.http.get(f"{base}/api/crawls", timeout=10).json()["crawls"]}
    details = {crawl_id: client.http.get(f"{base}/api/crawls/{crawl_id}", timeout=10).json() for crawl_id in crawls}
    refreshes = {crawl_id: d["refresh_of"] for crawl_id, d in details.items() if d["refresh_of"]}
    assert len(refreshes) >= 2 and len(set(refreshes.values())) == len(refreshes)  # no run fired twice
    second = next(crawl_id for crawl_id, of in refreshes.items() if of == first_id)
    third = next(crawl_id for crawl_id, of in refreshes.items() if of == second)  # the run refreshes the run before
    assert listed["crawl_id"] in refreshes and listed["last_crawl_id"] == listed["crawl_id"]
    assert listed["last_error"] is None

    for crawl_id in (second, third):  # each run a refresh: conditional requests, pages reused, a report
        summary = client.wait_finished(crawl_id, timeout=30)["summary"]
        assert summary["reused"] >= 4, summary
    assert any(hit.if_none_match for hit in changing_site.hits_of("/docs/a.html"))
    report = client.http.get(f"{base}/api/crawls/{second}/changes", timeout=10).json()
    assert report["refresh_of"] == first_id and report["counts"]["unchanged"] == 8
    posts = receiver.wait_for(lambda: len(receiver.of("changes")) >= 2 and receiver.of("changes"),
                              message="the changes webhook of two runs")
    assert {post.json["crawl_id"] for post in posts} >= {second, third}

    assert client.http.delete(f"{base}/api/schedules/{listed['schedule_id']}", timeout=10).json() == {"ok": True}
    assert schedules_of(client.http, base) == []
    count = len(client.http.get(f"{base}/api/crawls", timeout=10).json()["crawls"])
    time.sleep(3.5)  # more than one interval: nothing fires any more
    assert len(client.http.get(f"{base}/api/crawls", timeout=10).json()["crawls"]) == count


def test_another_session_can_neither_schedule_nor_see_nor_delete(quick_server, client, changing_site):
    base = quick_server.base
    crawl_id, _ = crawl(client, {"url": changing_site.url("/docs/"), **CONFIG})
    other = requests.Session()
    answer = other.post(f"{base}/api/schedules", json={"crawl_id": crawl_id, "every_hours": 1}, timeout=10)
    assert answer.status_code == 404 and answer.json() == {"error": f"unknown crawl {crawl_id!r}"}
    mine = client.http.post(f"{base}/api/schedules", json={"crawl_id": crawl_id, "cron": "0 3 * * *"}, timeout=10)
    assert mine.status_code == 201, mine.text
    schedule_id = mine.json()["schedule_id"]
    assert mine.json()["next_run"].endswith("T03:00:00.000Z")
    assert schedules_of(other, base) == []
    refused = other.delete(f"{base}/api/schedules/{schedule_id}", timeout=10)
    assert refused.status_code == 404 and "unknown schedule" in refused.json()["error"]
    assert [s["schedule_id"] for s in schedules_of(client.http, base)] == [schedule_id]
    client.http.delete(f"{base}/api/schedules/{schedule_id}", timeout=10)


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"crawl_id": "20261202-000000-abcdef", "every_hours": 1}, 404, "unknown crawl"),
    ({"crawl_id": "../../etc", "every_hours": 1}, 400, "crawl_id is required"),
    ({"crawl_id": "CRAWL", "every_hours": 0.0001}, 400, "every_hours must be between 0.000277778"),
    ({"crawl_id": "CRAWL", "every_hours": "6"}, 400, "every_hours must be a number"),
    ({"crawl_id": "CRAWL", "every_hours": 1, "cron": "0 3 * * *"}, 400, "exactly one of"),
    ({"crawl_id": "CRAWL"}, 400, "exactly one of"),
    ({"crawl_id": "CRAWL", "cron": "0 3 * *"}, 400, "five fields"),
    ({"crawl_id": "CRAWL", "cron": "0 25 * * *"}, 400, "not a valid cron"),
    ({"crawl_id": "CRAWL", "cron": "* * * * * *"}, 400, "five fields"),
    ({"crawl_id": "CRAWL", "every_hours": 1, "at": "now"}, 400, "unknown schedule setting 'at'"),
    (["CRAWL"], 400, "must be a JSON object"),
])
def test_bad_schedules_are_refused_with_a_clear_error(quick_server, client, changing_site, body, status, words):
    crawl_id, _ = crawl(client, {"url": changing_site.url("/docs/"), **CONFIG, "max_pages": 1})
    body = json.loads(json.dumps(body).replace("CRAWL", crawl_id))
    answer = client.http.post(f"{quick_server.base}/api/schedules", json=body, timeout=10)
    assert answer.status_code == status and words in answer.json()["error"], answer.text
    assert schedules_of(client.http, quick_server.base) == []


def test_the_floor_refuses_short_intervals_on_a_server_with_the_default(app_server, changing_site):
    client = Client(app_server.base)
    try:
        crawl_id, _ = crawl(client, {"url": changing_site.url("/docs/"), **CONFIG, "max_pages": 1})
        for body, words in (({"every_hours": 0.5}, "every_hours must be between 1 and"),
                            ({"cron": "*/30 * * * *"}, "runs every 30 minutes: schedules run at most once every 1 hours")):
            answer = client.http.post(f"{app_server.base}/api/schedules", json={"crawl_id": crawl_id, **body},
                                      timeout=10)
            assert answer.status_code == 400 and words in answer.json()["error"], answer.text
    finally:
        client.close()


def test_schedules_survive_a_restart_and_crafted_records_are_skipped(tmp_path, changing_site):
    data_dir = tmp_path / "crawls"
    server = ServerProcess(data_dir, "--allow-private-targets", env=SHORT)
    client = None
    try:
        client = Client(server.base)
        crawl_id, _ = crawl(client, {"url": changing_site.url("/docs/"), **CONFIG})
        answer = client.http.post(f"{server.base}/api/schedules", json={"crawl_id": crawl_id, "every_hours": 1},
                                  timeout=10)
        made = answer.json()
        cookies = client.http.cookies
        client.close()
        server.stop()

        # Between the two runs, other hands write into the file: junk beside the real schedule,
        # which is made due now.
        path = Path(data_dir) / "schedules.json"
        stored = json.loads(path.read_text())
        record = stored["schedules"][made["schedule_id"]]
        record["next_run"] = time.time()
        owner = record["owner"]
        junk: dict[str, Any] = {
            "s-0000000000000001": {**record, "schedule_id": "s-0000000000000001", "crawl_id": "../../etc"},
            "s-0000000000000002": {**record, "schedule_id": "s-0000000000000002", "next_run": "now"},
            "s-0000000000000003": {**record, "schedule_id": "s-0000000000000003", "every_hours": None, "cron": "nope"},
            "s-0000000000000004": {**record, "schedule_id": "s-0000000000000005"},  # stored under another id
            "s-0000000000000006": {**record, "schedule_id": "s-0000000000000006", "next_run": -1e308},
            "s-0000000000000007": {**record, "schedule_id": "s-0000000000000007", "evil": True},
            "s-0000000000000008": [1, 2],
            "../x": {**record, "schedule_id": "../x"},
        }
        stored["schedules"].update(junk)
        path.write_text(json.dumps(stored))

        server = ServerProcess(data_dir, "--allow-private-targets", env=SHORT)
        client = Client(server.base, cookies=cookies)
        [listed] = wait_until(lambda: [s for s in schedules_of(client.http, server.base) if s["runs"] == 1] or None,
                              timeout=30, interval=0.2, message="the restored schedule to run")
        assert listed["schedule_id"] == made["schedule_id"] and listed["last_error"] is None
        detail = client.http.get(f"{server.base}/api/crawls/{listed['crawl_id']}", timeout=10).json()
        assert detail["refresh_of"] == crawl_id
        next_run = listed["next_run"]
        time.sleep(1.5)  # more ticks: nothing else fires, the server still answers
        rows = client.http.get(f"{server.base}/api/crawls", timeout=10).json()["crawls"]
        assert len(rows) == 2
        assert [s["next_run"] for s in schedules_of(client.http, server.base)] == [next_run]
        log = server.log_path.read_text(errors="replace")
        assert log.count("is skipped: its stored record is not valid") >= len(junk) - 1
        assert "Traceback" not in log, log[log.find("Traceback") - 300:][:4000]
        assert owner and json.loads(path.read_text())["schedules"].keys() >= junk.keys()  # left as found
    finally:
        if client is not None:
            client.close()
        server.stop()
