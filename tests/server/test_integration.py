"""End to end: the real server, a local doc site, real Socket.IO clients over real sockets."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import pytest
import requests
import socketio

from tests.support import contract
from tests.support.server import SERVER_MODES, Client, ServerProcess, wait_until
from tests.support.site import page_path

STAGES = ["fetching", "parsing", "extracting", "storing", "done"]


def crawl_dir(server: ServerProcess, crawl_id: str) -> Path:
    return server.data_dir / crawl_id


def manifest(server: ServerProcess, crawl_id: str) -> list[dict]:
    path = crawl_dir(server, crawl_id) / "manifest.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("server", SERVER_MODES, indirect=True)  # the transport is the point
def test_full_crawl_streams_every_stage_and_stores_each_page_once(server, make_client, make_site):
    site = make_site(pages=30)
    client = make_client()
    crawl_id = client.start({"url": site.url(0), "concurrency": 4})
    finished = client.wait_finished(crawl_id)

    assert finished["state"] == "completed"
    summary = finished["summary"]
    # 30 HTML pages saved; the broken link failed; the PDF was skipped by its content type; the
    # link out of scope was refused without being fetched: counted apart, not as a page.
    assert (summary["ok"], summary["failed"], summary["skipped"]) == (30, 1, 1)
    assert summary["skip_reasons"] == {"not_html": 1}
    assert summary["refused"] == {"out_of_scope": 1} and summary["pages_handled"] == 32
    for index in range(30):
        assert site.hits[page_path(index)] == 1, f"{page_path(index)} requested {site.hits[page_path(index)]} times"
    assert site.hits["/outside/"] == 0, "a link out of scope was fetched"
    assert any("CrawlerDashboard/" in agent for agent in site.user_agents)

    entries = manifest(server, crawl_id)
    assert len(entries) == 33
    by_status = {status: [e for e in entries if e["status"] == status] for status in ("ok", "failed", "skipped")}
    assert {(e["reason"], e["error"]) for e in by_status["skipped"]} == {
        ("not_html", "not HTML (application/pdf)"), ("out_of_scope", "outside the crawl's scope")}
    assert by_status["failed"][0]["http_status"] == 404
    for entry in by_status["ok"]:
        text = (crawl_dir(server, crawl_id) / entry["path"]).read_text()
        assert entry["url"] in text and "Paragraph 0 of page" in text
        assert "Footer text that is not content" not in text
        assert entry["words"] > 50 and entry["bytes"] == len(text.encode())
        # `nav` (the groups above the page in the site's navigation) is there when the page has one.
        assert set(entry) - {"nav"} == {"url", "status", "http_status", "title", "depth", "path", "bytes", "words",
                                        "error", "fetched_at", "reason", "source", "canonical", "body_sha256",
                                        "rendered"}
        assert all(isinstance(label, str) for label in entry.get("nav") or [])
    assert json.loads((crawl_dir(server, crawl_id) / "summary.json").read_text())["ok"] == 30
    assert json.loads((crawl_dir(server, crawl_id) / "config.json").read_text())["url"] == site.url(0)

    states = [s["state"] for s in client.of("crawler_status", crawl_id)]
    assert states[0] == "queued" and states[-1] == "completed" and "discovering" in states and "running" in states

    # Every saved page was seen moving through the four stages, in order.
    transitions: dict[str, list[str]] = {}
    for batch in client.of("crawler_page", crawl_id):
        for page in batch["pages"]:
            transitions.setdefault(page["url"], []).append(page["stage"])
    home = transitions[site.url(0)]
    assert home == STAGES, home
    saved = [e["url"] for e in by_status["ok"]]
    assert all(transitions[url] == STAGES for url in saved)

    progress = client.of("crawler_detailed_progress", crawl_id)
    last = progress[-1]
    assert last["current"] == 32 and last["ok"] == 30 and last["percent"] == 100.0
    assert last["total"] == last["total_estimate"] == 32 and last["refused"] == {"out_of_scope": 1}
    assert last["session_id"] and last["timestamp"].endswith("Z")
    assert any(line["message"].startswith("saved ") for line in client.of("crawler_log", crawl_id))
    assert len(client.of("crawler_finished", crawl_id)) == 1


@pytest.mark.parametrize("server", SERVER_MODES, indirect=True)  # the transport is the point
def test_stop_ends_within_a_second_with_slow_pages_in_flight_and_keeps_results(server, make_client, make_site):
    # Pages 4-6 trickle a byte every half second for a minute; the rest take 0.3 s each.
    site = make_site(pages=120, latency=0.3, trickle_pages={4, 5, 6})
    client = make_client()
    crawl_id = client.start({"url": site.url(0), "concurrency": 8})
    wait_until(lambda: (client.of("crawler_detailed_progress", crawl_id) or [{}])[-1].get("ok", 0) >= 5,
               timeout=30, message="five pages saved")
    assert site.in_flight >= 3, "the trickling pages should be in flight"

    asked = time.monotonic()
    ack = client.call("stop_crawl", {"crawl_id": crawl_id})
    assert ack == {"ok": True, "state": "stopping"}
    finished = client.wait_finished(crawl_id, timeout=5)
    stop_latency = time.monotonic() - asked
    finished_at = [t for t, _ in client.timed("crawler_finished", crawl_id)][0]
    assert finished_at - asked < 1.0, f"stop took {finished_at - asked:.2f} s"
    assert finished["state"] == "stopped"
    assert "stopping" in [s["state"] for s in client.of("crawler_status", crawl_id)]

    folder = crawl_dir(server, crawl_id)
    kept = finished["summary"]["ok"]
    files_then = sorted(p for p in (folder / "pages").rglob("*.md"))
    manifest_then = (folder / "manifest.jsonl").read_text()
    assert kept >= 5 and len(files_then) == kept
    assert sum(1 for e in manifest(server, crawl_id) if e["status"] == "ok") == kept
    time.sleep(1.5)  # pages that were in flight have had time to finish: none may be written
    assert sorted(p for p in (folder / "pages").rglob("*.md")) == files_then
    assert (folder / "manifest.jsonl").read_text() == manifest_then
    assert not list(folder.rglob("*.part"))
    print(f"stop latency {stop_latency * 1000:.0f} ms, {kept} pages kept")


@pytest.mark.parametrize("server", SERVER_MODES, indirect=True)  # the transport is the point
def test_progress_is_throttled_and_never_silent_while_running(server, make_client, make_site):
    site = make_site(pages=60, latency=0.15)
    client = make_client()
    crawl_id = client.start({"url": site.url(0), "concurrency": 2})
    client.wait_finished(crawl_id)
    times = [t for t, p in client.timed("crawler_detailed_progress", crawl_id) if p["state"] == "running"]
    assert len(times) >= 5
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) <= 1.25, f"largest gap between progress events {max(gaps):.2f} s"
    for start in times:  # no one-second window holds more than ~5 events
        assert sum(1 for t in times if start <= t < start + 1.0) <= 6
    snapshot = client.of("crawler_detailed_progress", crawl_id)[len(times) // 2]
    assert snapshot["speed"] > 0 and snapshot["eta"] is not None and snapshot["total"] >= snapshot["current"]
    print(f"progress events: {len(times)}, largest gap {max(gaps) * 1000:.0f} ms")


def test_sessions_are_isolated(server, make_client, make_site):
    site = make_site(pages=40, latency=0.1)
    alice, bob = make_client(), make_client()
    crawl_id = alice.start({"url": site.url(0), "concurrency": 2})
    wait_until(lambda: alice.of("crawler_detailed_progress", crawl_id), message="alice's progress")

    assert bob.call("stop_crawl", {"crawl_id": crawl_id})["ok"] is False
    for method, path in (("get", ""), ("post", "/stop"), ("get", "/download?format=zip"), ("delete", "")):
        response = getattr(bob.http, method)(f"{server.base}/api/crawls/{crawl_id}{path}")
        assert response.status_code == 404, (method, path, response.status_code)
    assert bob.http.get(server.base + "/api/crawls").json() == {"crawls": []}
    assert [c["crawl_id"] for c in alice.http.get(server.base + "/api/crawls").json()["crawls"]] == [crawl_id]

    alice.wait_finished(crawl_id)
    assert not [e for _, e, d in bob.events if isinstance(d, dict) and d.get("crawl_id") == crawl_id]


@pytest.mark.parametrize("server", SERVER_MODES, indirect=True)  # the transport is the point
def test_every_socket_of_one_session_gets_the_events_and_a_reload_reattaches(server, make_client, make_site):
    site = make_site(pages=20, latency=0.3)  # ~3 s: still running when the tab reloads
    first_tab = make_client()
    crawl_id = first_tab.start({"url": site.url(0), "concurrency": 2})
    wait_until(lambda: first_tab.of("crawler_detailed_progress", crawl_id), message="progress")
    first_tab.sio.disconnect()  # the person reloads the page

    reloaded = Client(server.base, cookies=first_tab.http.cookies)
    try:
        detail = reloaded.http.get(f"{server.base}/api/crawls/{crawl_id}").json()
        # Still live when the tab comes back (on a busy machine it may not have left its sitemaps yet).
        assert detail["state"] in ("discovering", "running") and detail["config"]["url"] == site.url(0)
        assert detail["progress"]["crawl_id"] == crawl_id and detail["recent_log"]
        finished = reloaded.wait_finished(crawl_id)
        assert finished["state"] == "completed"
        assert reloaded.of("crawler_detailed_progress", crawl_id)
    finally:
        reloaded.close()


def test_rest_flow_start_poll_download_delete(server, make_client, make_site):
    site = make_site(pages=12)
    client = make_client(connect=False)
    api = server.base + "/api/crawls"
    response = client.http.post(api, json={"url": site.url(0), "max_pages": 10})
    assert response.status_code == 202
    crawl_id = response.json()["crawl_id"]
    detail = wait_until(lambda: (lambda d: d if d["state"] == "completed" else None)(
        client.http.get(f"{api}/{crawl_id}").json()), timeout=30, message="completed")
    assert detail["summary"]["ok"] == 10, "max_pages caps the pages saved"
    assert detail["progress"]["ok"] == 10
    assert set(detail) == contract.rest_fields("GET /api/crawls/<id>"), "the detail is as documented"
    rows = client.http.get(api).json()["crawls"]
    assert set(rows[0]) == contract.list_row_fields(), "a list row is as documented"

    jsonl = client.http.get(f"{api}/{crawl_id}/download", params={"format": "jsonl"})
    assert jsonl.status_code == 200
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert sum(1 for e in lines if e["status"] == "ok") == 10

    markdown = client.http.get(f"{api}/{crawl_id}/download", params={"format": "markdown"})
    assert markdown.status_code == 200 and "attachment" in markdown.headers["Content-Disposition"]
    sources = [line[9:-1] for line in markdown.text.splitlines() if line.startswith("Source: <")]
    assert sources == [e["url"] for e in lines if e["status"] == "ok"], "crawl order, each page's source URL"
    titles = [line for line in markdown.text.splitlines() if line.startswith("# ")]
    assert len(titles) == 10, "one H1 per page: its title, not repeated under a second H1"

    archive = client.http.get(f"{api}/{crawl_id}/download", params={"format": "zip"})
    assert archive.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert sum(1 for n in names if n.endswith(".md")) == 10
    assert any(n.endswith("/manifest.jsonl") for n in names) and any(n.endswith("/summary.json") for n in names)

    assert client.http.get(f"{api}/{crawl_id}/download", params={"format": "pdf"}).status_code == 400
    assert client.http.post(f"{api}/{crawl_id}/stop").json()["state"] == "completed"
    assert client.http.delete(f"{api}/{crawl_id}").status_code == 200
    assert client.http.get(f"{api}/{crawl_id}").status_code == 404
    assert not crawl_dir(server, crawl_id).exists()


@pytest.mark.parametrize("body, message", [
    ({}, "url is required"),
    ({"url": "ftp://example.org/"}, "http:// or https://"),
    ({"url": "http://127.0.0.1/", "max_pages": 0}, "max_pages must be between 1 and 100000"),
    ({"url": "http://127.0.0.1/", "concurrency": 65}, "concurrency must be between 1 and 64"),
    ({"url": "http://127.0.0.1/", "max_depht": 2}, "did you mean 'max_depth'"),
    ({"url": "http://127.0.0.1/", "include": "nope", "exclude": 5}, "exclude must be a list"),
    ({"url": "http://127.0.0.1/", "content_selector": "div["}, "content_selector 'div[' is not a valid CSS selector"),
    ({"url": "http://127.0.0.1/", "exclude_selectors": ["p:nope"]}, "exclude_selectors 'p:nope' is not a valid CSS"),
    ([1, 2], "must be a JSON object"),
])
def test_bad_input_gets_a_clear_error(server, make_client, body, message):
    client = make_client()
    response = client.http.post(server.base + "/api/crawls", json=body)
    assert response.status_code == 400 and message in response.json()["error"], response.text
    ack = client.call("start_crawl", body)
    assert ack["ok"] is False and message in ack["error"]


def test_malformed_requests(server, make_client):
    client = make_client()
    response = client.http.post(server.base + "/api/crawls", data="not json", headers={"Content-Type": "text/plain"})
    assert response.status_code == 400 and "JSON object" in response.json()["error"]
    assert client.http.get(server.base + "/api/crawls/unknown-id").status_code == 404
    assert client.http.get(server.base + "/api/nothing-here").json()["error"]
    assert client.call("stop_crawl", {"crawl_id": "unknown-id"})["ok"] is False
    assert client.call("stop_crawl", "garbage")["ok"] is False


@pytest.mark.parametrize("server", SERVER_MODES, indirect=True)  # the transport is the point
def test_socket_without_session_cookie_is_refused(server):
    sio = socketio.Client(reconnection=False)
    reasons: list = []
    sio.on("connect_error", lambda data=None: reasons.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(server.base, transports=["websocket"], wait_timeout=5)
    assert reasons and "no session" in str(reasons[0]), reasons


@pytest.mark.parametrize("server", SERVER_MODES, indirect=True)
def test_a_page_that_kills_its_extraction_worker_fails_alone(server, make_client, make_site):
    site = make_site(pages=20, crash_pages={19})  # a leaf: no page is reachable only through it
    client = make_client()
    crawl_id = client.start({"url": site.url(0), "concurrency": 4})
    finished = client.wait_finished(crawl_id)
    assert finished["state"] == "completed"
    entries = {e["url"]: e for e in manifest(server, crawl_id)}
    crashed = entries[site.url(19)]
    assert crashed["status"] == "failed" and "crashed its worker process" in crashed["error"]
    others = [e for url, e in entries.items() if url != site.url(19) and e["status"] != "ok"]
    assert finished["summary"]["ok"] == 19, others
    # The dead workers were replaced: the next crawl extracts normally.
    again = client.start({"url": site.url(5), "max_pages": 3})
    assert client.wait_finished(again)["summary"]["ok"] >= 1


def test_private_targets_are_refused_unless_allowed(tmp_path, make_site):
    site = make_site(pages=3)
    strict = ServerProcess(tmp_path / "crawls")
    try:
        client = Client(strict.base)
        response = client.http.post(strict.base + "/api/crawls", json={"url": site.url(0)})
        assert response.status_code == 400 and "--allow-private-targets" in response.json()["error"]
        ack = client.call("start_crawl", {"url": "http://localhost:1/"})
        assert ack["ok"] is False and "loopback" in ack["error"]
        client.close()
    finally:
        strict.stop()
    assert sum(site.hits.values()) == 0


def test_sessions_and_crawls_survive_a_restart(tmp_path, make_site):
    site = make_site(pages=5)
    data_dir = tmp_path / "crawls"
    first = ServerProcess(data_dir, "--allow-private-targets")
    try:
        client = Client(first.base)
        crawl_id = client.start({"url": site.url(0)})
        client.wait_finished(crawl_id)
        cookies = client.http.cookies
        client.close()
    finally:
        first.stop()
    second = ServerProcess(data_dir, "--allow-private-targets")
    try:
        http = requests.Session()
        http.cookies.update(cookies)
        crawls = http.get(second.base + "/api/crawls").json()["crawls"]
        assert [(c["crawl_id"], c["state"], c["ok"]) for c in crawls] == [(crawl_id, "completed", 5)]
        download = http.get(f"{second.base}/api/crawls/{crawl_id}/download", params={"format": "markdown"})
        assert download.text.count("\nSource: <") == 5
        assert requests.get(second.base + "/api/crawls").json() == {"crawls": []}, "a new session sees nothing"
    finally:
        second.stop()


def test_a_crawl_whose_start_page_cannot_be_crawled_fails_with_the_reason(server, make_client, make_site):
    site = make_site(pages=5, robots="User-agent: *\nDisallow: /docs/\n")
    client = make_client()
    crawl_id = client.start({"url": site.url(0)})
    finished = client.wait_finished(crawl_id)
    assert finished["state"] == "failed"
    assert "disallowed by robots.txt" in finished["summary"]["stop_reason"]
    assert site.hits["/docs/"] == 0 and site.hits["/robots.txt"] == 1, "a disallowed page is never requested"
    missing = client.start({"url": make_site(pages=1).base + "/docs/missing.html"})
    assert "HTTP 404" in client.wait_finished(missing)["summary"]["stop_reason"]


@pytest.mark.parametrize("server", ["threading"], indirect=True)
def test_two_resumes_sent_at_once_start_one_run(server, make_client, make_site):
    """The check that a crawl may be resumed and its launch are one step: of two resumes sent at
    the same moment, one goes ahead and the other is refused (one runner per crawl folder)."""
    import threading

    site = make_site(pages=200, latency=0.2)
    client = make_client()
    crawl_id = client.start({"url": site.url(0), "concurrency": 2})
    wait_until(lambda: (client.of("crawler_detailed_progress", crawl_id) or [{}])[-1].get("ok", 0) >= 2,
               message="two pages saved")
    client.call("stop_crawl", {"crawl_id": crawl_id})
    client.wait_finished(crawl_id)
    answers: list[int] = []
    barrier = threading.Barrier(2)

    def resume() -> None:
        barrier.wait()
        answers.append(client.http.post(f"{server.base}/api/crawls/{crawl_id}/resume", timeout=10).status_code)

    threads = [threading.Thread(target=resume) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [202, 409]

    def resumed_runs() -> list[dict]:
        return [line for line in client.of("crawler_log", crawl_id) if line["message"].startswith("resuming:")]

    wait_until(resumed_runs, message="the resumed run to start")
    client.call("stop_crawl", {"crawl_id": crawl_id})
    wait_until(lambda: len(client.of("crawler_finished", crawl_id)) == 2, message="the one resumed run's end")
    assert len(resumed_runs()) == 1, "one resumed run"
