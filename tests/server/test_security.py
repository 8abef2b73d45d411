"""Hostile and careless input, session isolation, the access token, per-session limits and a
graceful SIGTERM: the real server in a subprocess, real HTTP and Socket.IO clients, local sites."""

from __future__ import annotations

import http.client
import io
import json
import re
import signal
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import socketio

from crawler.web.app import MAX_REQUEST_BYTES
from crawler.web.auth import is_loopback_host
from tests.support.server import SERVER_MODES, Client, ServerProcess, wait_until
from tests.support.site import children, page_path

VALID_UNKNOWN_ID = "20000101-000000-abcdef"


# ---------------------------------------------------------------- helpers


def raw_request(base: str, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Sends `path` byte for byte (requests and browsers would normalise ../ and %2e%2e away)."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def refused_reason(base: str, headers: dict[str, str] | None = None, auth: Any = None) -> str | None:
    """Connects a Socket.IO client: None when accepted, else the server's refusal message."""
    sio = socketio.Client(reconnection=False)
    reasons: list[Any] = []
    sio.on("connect_error", lambda data=None: reasons.append(data))
    try:
        sio.connect(base, headers=headers or {}, auth=auth, transports=["websocket"], wait_timeout=5)
    except socketio.exceptions.ConnectionError as exc:
        return str(reasons[0] if reasons else exc)
    sio.disconnect()
    return None


def crawl_state(client: Client, base: str, crawl_id: str) -> str:
    return client.http.get(f"{base}/api/crawls/{crawl_id}").json()["state"]


# ---------------------------------------------------------------- bad input


BAD_SETTINGS: list[tuple[Any, str]] = [
    ({"max_pages": 5}, "url is required"),
    ({"url": ""}, "url is required"),
    ({"url": 42}, "url is required"),
    ({"url": "http://exa mple.org/"}, "not a valid web address"),
    ({"url": "javascript:alert(1)"}, "http:// or https://"),
    ({"url": "http://127.0.0.1:99999/"}, "url is not valid"),
    ({"url": "http://user:pw@127.0.0.1/"}, "user name or password"),
    ({"url": "http://127.0.0.1/" + "a" * 2100}, "too long"),
    ({"url": "http://127.0.0.1/", "max_pages": 100_001}, "max_pages must be between 1 and 100000"),
    ({"url": "http://127.0.0.1/", "max_depth": -1}, "max_depth must be between 0 and 100"),
    ({"url": "http://127.0.0.1/", "delay": 61}, "delay must be between 0 and 60"),
    ({"url": "http://127.0.0.1/", "timeout": 0}, "timeout must be between 1 and 120"),
    ({"url": "http://127.0.0.1/", "max_pages": "lots"}, "max_pages must be a whole number"),
    ({"url": "http://127.0.0.1/", "concurrency": [4]}, "concurrency must be a whole number"),
    ({"url": "http://127.0.0.1/", "concurrency": True}, "concurrency must be a whole number"),
    ({"url": "http://127.0.0.1/", "respect_robots": "maybe"}, "respect_robots must be true or false"),
    ({"url": "http://127.0.0.1/", "prefer_site_markdown": "sometimes"}, "prefer_site_markdown must be true or false"),
    ({"url": "http://127.0.0.1/", "scope": "everything"}, "scope must be one of prefix, host, subdomains"),
    ({"url": "http://127.0.0.1/", "user_agent": "a\r\nX-Evil: 1"}, "user_agent must be a non-empty single line"),
    ({"url": "http://127.0.0.1/", "urls": "http://127.0.0.1/a ftp://x/"}, "urls: url must start with http"),
    ({"url": "http://127.0.0.1/", "include": {"a": 1}}, "include must be a list of patterns"),
    ({"url": "http://127.0.0.1/", "exclude": ["/ok/*", 5]}, "exclude must be a list of patterns"),
    ({"url": "http://127.0.0.1/", "include": ["/a*"] * 101}, "include accepts at most 100 patterns"),
    ({"url": "http://127.0.0.1/", "exclude": ["/" + "x" * 500]}, "exclude patterns must be at most 500 characters"),
    ({"url": "http://127.0.0.1/", "include": ["re:/docs/(api"]},
     "include pattern 're:/docs/(api' is not a valid regular expression: missing ), unterminated subpattern"),
    ({"url": "http://127.0.0.1/", "exclude": ["re:*.pdf"]},
     "exclude pattern 're:*.pdf' is not a valid regular expression: nothing to repeat"),
    ({"url": "http://127.0.0.1/", "max_pagse": 3}, "unknown setting 'max_pagse'; did you mean 'max_pages'?"),
    ({"url": "http://127.0.0.1/", "evil": 1}, "unknown setting 'evil'; known settings: url, urls"),
    ("http://127.0.0.1/", "must be a JSON object"),
]


def test_every_bad_setting_gets_a_clear_message_on_rest_and_socket(server, make_client):
    client = make_client()
    for body, message in BAD_SETTINGS:
        response = client.http.post(server.base + "/api/crawls", json=body)
        assert response.status_code == 400, (body, response.text)
        assert message in response.json()["error"], (body, response.json())
        ack = client.call("start_crawl", body)
        assert ack["ok"] is False and message in ack["error"], (body, ack)
        discovery = client.call("start_discovery", body)
        assert discovery["ok"] is False and message in discovery["error"], (body, discovery)
    assert client.http.get(server.base + "/api/crawls").json() == {"crawls": []}, "nothing was started"


def test_regex_include_and_exclude_steer_a_real_crawl(server, make_client, make_site):
    site = make_site(pages=40, extra_links=False)
    client = make_client()
    crawl_id = client.start({"url": site.url(0), "include": ["re:^/docs/($|section-[0-5]/)"],
                             "exclude": ["re:/section-[12]/page-\\d+\\.html$"], "concurrency": 4})
    assert client.wait_finished(crawl_id)["state"] == "completed"
    expected, frontier = set(), [0]  # the site's link tree, walked with the same filters
    while frontier:
        index = frontier.pop()
        if index == 0 or index % 7 in (0, 3, 4, 5):
            expected.add(page_path(index))
            frontier.extend(children(index, 40))
    lines = (server.data_dir / crawl_id / "manifest.jsonl").read_text().splitlines()
    saved = {urlsplit(e["url"]).path for e in map(json.loads, lines) if e["status"] == "ok"}
    assert saved == expected and len(expected) > 3, (sorted(saved), sorted(expected))
    assert all(site.hits[page_path(i)] == 0 for i in range(40) if i % 7 in (1, 2, 6)), "filtered pages were fetched"


def test_bodies_that_are_not_json_get_a_clear_400(server, make_client):
    client = make_client(connect=False)
    api = server.base + "/api/crawls"
    wrong_type = client.http.post(api, data='{"url": "x.org"}', headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 400
    assert "Content-Type: application/json" in wrong_type.json()["error"] and "text/plain" in wrong_type.json()["error"]
    form = client.http.post(api, data={"url": "x.org"})
    assert form.status_code == 400 and "application/x-www-form-urlencoded" in form.json()["error"]
    broken = client.http.post(api, data='{"url": ', headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]
    empty = client.http.post(server.base + "/api/discover")
    assert empty.status_code == 400 and "JSON object" in empty.json()["error"]


def test_an_oversize_body_gets_a_json_413(server, make_client):
    client = make_client(connect=False)
    body = json.dumps({"url": "http://127.0.0.1/", "urls": ["http://127.0.0.1/" + "p" * 100] * 150_000})
    assert len(body) > MAX_REQUEST_BYTES
    response = client.http.post(server.base + "/api/crawls", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"error": "the request body is too large: at most 16 MB"}
    assert client.http.get(server.base + "/api/crawls").json() == {"crawls": []}


def test_the_largest_selection_allowed_fits_in_a_request(server, make_client):
    """100,000 selected URLs (the most a selection may hold) are accepted, not cut by the size cap."""
    client = make_client(connect=False)
    urls = [f"http://127.0.0.1:9/docs/section-{n % 50}/a-fairly-typical-page-name-{n}.html" for n in range(100_000)]
    response = client.http.post(server.base + "/api/crawls", json={"urls": urls, "max_pages": 1}, timeout=60)
    assert response.status_code == 202, response.text[:300]
    crawl_id = response.json()["crawl_id"]
    assert client.http.delete(server.base + f"/api/crawls/{crawl_id}", timeout=60).status_code == 200


@pytest.mark.parametrize("server", SERVER_MODES, indirect=True)  # the transport is the point
def test_an_oversize_socket_message_drops_only_that_connection(server, make_client):
    bystander = make_client()
    sender = make_client()
    assert sender.call("echo", "small") == {"ok": True, "data": "small"}
    sender.sio.emit("echo", "x" * (MAX_REQUEST_BYTES + 10))
    wait_until(lambda: not sender.sio.connected, timeout=10, message="the server to close the oversize connection")
    assert bystander.call("echo", "still here") == {"ok": True, "data": "still here"}
    assert requests.get(server.base + "/api/health", timeout=5).status_code == 200
    sender.connect()  # the same session may come back
    assert sender.call("echo", 1) == {"ok": True, "data": 1}


# ---------------------------------------------------------------- paths that try to leave the data dir


TRAVERSALS = [
    "..", "%2e%2e", "%2E%2E", ".%2e", "..%2F..%2Fetc", "..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fsecret",
    "..%5C..%5Csecret", "..%255c..%255csecret", "%2Fetc%2Fpasswd", "%252e%252e", "C:%5CWindows",
    ".secret_key", "20000101-000000-abcdef%2F..", "20000101-000000-ABCDEF", "20000101-000000-abcdef%00",
]


@pytest.mark.parametrize("crawl_id", TRAVERSALS)
def test_crawl_ids_that_name_other_files_are_refused_before_any_lookup(server, make_client, crawl_id):
    client = make_client(connect=False)
    secret = server.data_dir.parent / "secret"
    secret.write_text("outside the data dir")
    headers = {"Cookie": client.cookie_header}
    for method, path in (("GET", ""), ("GET", "/download?format=zip"), ("GET", "/download?format=markdown"),
                         ("POST", "/stop"), ("DELETE", "")):
        status, body = raw_request(server.base, method, f"/api/crawls/{crawl_id}{path}", headers)
        assert status in (400, 404), (method, crawl_id, path, status, body)
        assert json.loads(body)["error"], body
        assert "outside the data dir" not in body
    status, body = raw_request(server.base, "GET", f"/api/discover/{crawl_id}", headers)
    assert status in (400, 404) and json.loads(body)["error"]
    assert secret.read_text() == "outside the data dir" and (server.data_dir / ".secret_key").exists()


def test_socket_events_refuse_malformed_crawl_ids(server, make_client):
    client = make_client()
    for crawl_id in ("../../etc", "/etc/passwd", "..\\..\\x", 5, None, ["x"], VALID_UNKNOWN_ID):
        for event in ("stop_crawl", "watch_crawl"):
            ack = client.call(event, {"crawl_id": crawl_id})
            assert ack["ok"] is False and "unknown crawl" in ack["error"], (event, crawl_id, ack)


def test_a_crafted_manifest_cannot_make_a_download_serve_other_files(server, make_client, make_site, tmp_path):
    site = make_site(pages=3, extra_links=False)
    client = make_client()
    crawl_id = client.start({"url": site.url(0)})
    assert client.wait_finished(crawl_id)["summary"]["ok"] == 3
    folder = server.data_dir / crawl_id
    secret = tmp_path / "secret.md"
    secret.write_text("TOP SECRET outside the crawl")
    (folder / "pages" / "link.md").symlink_to(secret)
    relative_to_secret = Path("..", "..", "..", *secret.relative_to(Path(server.data_dir).parents[1]).parts)
    crafted = [{"url": f"https://evil/{n}", "status": "ok", "path": p} for n, p in enumerate([
        "../../secret", str(relative_to_secret), str(secret), "pages/../../" + secret.name, "pages/link.md",
        "/etc/passwd", "pages/../config.json"])]
    with open(folder / "manifest.jsonl", "a", encoding="utf-8") as manifest:
        manifest.writelines(json.dumps(entry) + "\n" for entry in crafted)
    assert (folder / str(relative_to_secret)).resolve() == secret.resolve(), "the crafted path does reach the file"

    api = f"{server.base}/api/crawls/{crawl_id}/download"
    markdown = client.http.get(api, params={"format": "markdown"})
    assert markdown.status_code == 200
    assert markdown.text.count("\nSource: <") == 3, "the three real pages, and none of the crafted ones"
    assert "TOP SECRET" not in markdown.text and "root:" not in markdown.text and "https://evil/" not in markdown.text
    archive = client.http.get(api, params={"format": "zip"})
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        names = zipped.namelist()
        assert sum(1 for n in names if n.endswith(".md")) == 3, names
        assert not any(".." in n or n.startswith("/") or n.endswith("link.md") for n in names), names
        assert not any(b"TOP SECRET" in zipped.read(n) for n in names)


# ---------------------------------------------------------------- isolation


def test_another_session_cannot_watch_join_or_touch_a_crawl(server, make_client, make_site):
    site = make_site(pages=40, latency=0.1)
    alice, bob = make_client(), make_client()
    crawl_id = alice.start({"url": site.url(0), "concurrency": 2})
    progress = wait_until(lambda: alice.of("crawler_detailed_progress", crawl_id), message="alice's progress")
    alice_room = progress[0]["session_id"]

    watched = alice.call("watch_crawl", {"crawl_id": crawl_id})
    assert watched["ok"] is True and watched["crawl_id"] == crawl_id and watched["config"]["url"] == site.url(0)
    assert watched["state"] in ("queued", "discovering", "running")

    # Someone else's crawl answers exactly like one that does not exist.
    theirs = bob.call("watch_crawl", {"crawl_id": crawl_id})
    nobody = bob.call("watch_crawl", {"crawl_id": VALID_UNKNOWN_ID})
    assert theirs == {"ok": False, "error": f"unknown crawl {crawl_id!r}"}
    assert nobody == {"ok": False, "error": f"unknown crawl {VALID_UNKNOWN_ID!r}"}
    assert bob.call("stop_crawl", {"crawl_id": crawl_id}) == theirs
    for room in (alice_room, {"room": alice_room}, crawl_id, {"room": crawl_id}, {"room": "/"}, None):
        ack = bob.call("join", room)
        assert ack["ok"] is False and "not allowed" in ack["error"], (room, ack)

    for method, path in (("get", f"/api/crawls/{crawl_id}"), ("post", f"/api/crawls/{crawl_id}/stop"),
                         ("get", f"/api/crawls/{crawl_id}/download?format=zip"),
                         ("get", f"/api/crawls/{crawl_id}/download?format=jsonl"),
                         ("get", f"/api/discover/{crawl_id}"), ("delete", f"/api/crawls/{crawl_id}")):
        response = getattr(bob.http, method)(server.base + path)
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.json() == {"error": f"unknown crawl {crawl_id!r}"}

    finished = alice.wait_finished(crawl_id)
    assert finished["state"] == "completed", "bob's stop and delete did nothing"
    assert (server.data_dir / crawl_id / "summary.json").exists()
    leaked = [(name, data) for _, name, data in bob.events if isinstance(data, dict)
              and (data.get("crawl_id") == crawl_id or data.get("session_id") == alice_room)]
    assert not leaked, leaked[:3]
    assert alice.of("crawler_finished", crawl_id), "alice got her events all along"


def test_a_socket_may_join_only_its_own_session_room(server, make_client, make_site):
    site = make_site(pages=5)
    client = make_client()
    crawl_id = client.start({"url": site.url(0)})
    client.wait_finished(crawl_id)
    room = client.of("crawler_detailed_progress", crawl_id)[0]["session_id"]
    assert client.call("join", {"room": room}) == {"ok": True, "room": room}
    other = room[:-1] + ("1" if room[-1] == "0" else "0")
    assert client.call("join", {"room": other})["ok"] is False


# ---------------------------------------------------------------- the access token


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("token") / "crawls", "--token", "secret", "--allow-private-targets")
    yield proc
    proc.stop()


def test_dashboard_needs_the_token_once_then_the_session_is_authorised(token_server):
    base = token_server.base
    http = requests.Session()
    missing = http.get(base + "/", allow_redirects=False)
    assert missing.status_code == 401 and "access token is required" in missing.text
    assert "Crawler Dashboard" not in missing.text
    wrong = http.get(base + "/?token=secre", allow_redirects=False)
    assert wrong.status_code == 401 and "not valid" in wrong.text
    right = http.get(base + "/?token=secret", allow_redirects=False)
    assert right.status_code == 303 and right.headers["Location"] == "/", "the token leaves the address bar"
    page = http.get(base + "/", allow_redirects=False)
    assert page.status_code == 200 and "Crawler Dashboard" in page.text
    # The authorised cookie works for REST and Socket.IO without the token.
    assert http.get(base + "/api/crawls").status_code == 200
    cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    assert refused_reason(base, headers={"Cookie": cookie}) is None
    # A browser without that cookie is refused again.
    assert requests.get(base + "/").status_code == 401


def test_rest_needs_the_authorised_session_or_a_bearer_token(token_server):
    base = token_server.base
    http = requests.Session()
    health = http.get(base + "/api/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}, "health reveals nothing more"
    for method, path in (("get", "/api/crawls"), ("post", "/api/crawls"), ("get", f"/api/crawls/{VALID_UNKNOWN_ID}"),
                         ("get", "/api/nothing-here")):
        response = getattr(http, method)(base + path, json={"url": "http://127.0.0.1:1/"})
        assert response.status_code == 401, (method, path, response.status_code)
        assert "access token is required" in response.json()["error"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    for header in ("Bearer secre", "Bearer secretsecret", "Bearer ", "Basic c2VjcmV0", "secret"):
        response = http.get(base + "/api/crawls", headers={"Authorization": header})
        assert response.status_code == 401, header
    assert http.get(base + "/api/crawls", params={"token": "secret"}).status_code == 401, \
        "?token= authorises the dashboard page only"
    bearer = {"Authorization": "Bearer secret"}
    assert http.get(base + "/api/crawls", headers=bearer).json() == {"crawls": []}
    assert http.get(base + "/api/health", headers=bearer).json()["version"]
    started = http.post(base + "/api/crawls", headers=bearer, json={"url": "http://127.0.0.1:1/", "max_pages": 1})
    assert started.status_code == 202
    assert http.get(f"{base}/api/crawls/{started.json()['crawl_id']}", headers=bearer).status_code == 200


@pytest.mark.slow
def test_socket_needs_the_authorised_session_or_an_auth_token(token_server):
    base = token_server.base
    http = requests.Session()
    http.get(base + "/api/health")  # a session cookie, not authorised
    cookie = {"Cookie": "; ".join(f"{c.name}={c.value}" for c in http.cookies)}
    assert "access token is required" in refused_reason(base, headers=cookie)
    assert "not valid" in refused_reason(base, headers=cookie, auth={"token": "wrong"})
    assert refused_reason(base, headers=cookie, auth={"token": "secret"}) is None
    assert refused_reason(base, headers=cookie, auth="secret") is not None, "auth must be {\"token\": ...}"
    assert refused_reason(base, auth={"token": "secret"}) is not None, "still needs the session cookie"


def test_loopback_without_a_token_needs_none_and_other_addresses_get_a_generated_one(tmp_path):
    assert all(map(is_loopback_host, ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost")))
    assert not any(map(is_loopback_host, ("0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.org", "")))
    exposed = ServerProcess(tmp_path / "crawls", "--host", "0.0.0.0")
    try:
        printed = exposed.log_path.read_text()
        match = re.search(r"Crawler Dashboard on http://0\.0\.0\.0:\d+/\?token=([A-Za-z0-9_-]{20,}) ", printed)
        assert match, printed
        token = match.group(1)
        assert requests.get(exposed.base + "/api/crawls").status_code == 401
        assert requests.get(exposed.base + "/api/crawls", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert requests.get(f"{exposed.base}/?token={token}").status_code == 200
    finally:
        exposed.stop()


def test_the_token_can_come_from_the_environment(tmp_path):
    proc = ServerProcess(tmp_path / "crawls", env={"CRAWLER_TOKEN": "from-env"})
    try:
        assert "from-env" not in proc.log_path.read_text().split("?token=")[0]
        assert requests.get(proc.base + "/api/crawls").status_code == 401
        assert requests.get(proc.base + "/api/crawls", headers={"Authorization": "Bearer from-env"}).status_code == 200
    finally:
        proc.stop()


# ---------------------------------------------------------------- limits


@pytest.mark.slow
def test_per_session_limits_queue_then_refuse_and_do_not_block_other_sessions(tmp_path, make_site):
    site = make_site(pages=60, latency=0.2)
    proc = ServerProcess(tmp_path / "crawls", "--allow-private-targets", "--max-crawls-per-session", "1",
                         "--max-queued-per-session", "1")
    alice, bob = Client(proc.base), Client(proc.base)
    try:
        first = alice.start({"url": site.url(0), "concurrency": 1})
        wait_until(lambda: crawl_state(alice, proc.base, first) == "running", timeout=15, message="first running")
        second = alice.start({"url": site.url(1), "concurrency": 1})
        assert crawl_state(alice, proc.base, second) == "queued"

        # Another session is not held up by alice's limit.
        other = bob.start({"url": site.url(2), "concurrency": 1})
        wait_until(lambda: crawl_state(bob, proc.base, other) in ("discovering", "running"), timeout=15,
                   message="bob's crawl to run while alice's second waits")

        # A third one for alice exceeds her queue: refused with a clear message on both surfaces.
        ack = alice.call("start_crawl", {"url": site.url(3)})
        assert ack["ok"] is False and re.search(r"queue|limit|at most", ack["error"]), ack
        response = alice.http.post(proc.base + "/api/crawls", json={"url": site.url(3)})
        assert response.status_code in (400, 429) and response.json()["error"], response.text
        assert len(alice.http.get(proc.base + "/api/crawls").json()["crawls"]) == 2

        # The second waits for as long as the first runs, then runs.
        assert crawl_state(alice, proc.base, second) == "queued"
        queued_rows = [c for c in alice.http.get(proc.base + "/api/crawls").json()["crawls"] if c["crawl_id"] == second]
        assert queued_rows[0]["state"] == "queued", "the list shows it as queued"
        assert alice.call("stop_crawl", {"crawl_id": first})["ok"]
        alice.wait_finished(first, timeout=10)
        wait_until(lambda: crawl_state(alice, proc.base, second) != "queued", timeout=10,
                   message="the second to leave the queue once the first ended")
        statuses = wait_until(lambda: [s["state"] for s in alice.of("crawler_status", second)][1:] and
                              [s["state"] for s in alice.of("crawler_status", second)], timeout=10,
                              message="the second crawl's status events")
        assert statuses[0] == "queued" and statuses[1] in ("discovering", "running"), statuses
    finally:
        alice.close()
        bob.close()
        proc.stop()


# ---------------------------------------------------------------- shutdown


@pytest.mark.parametrize("mode", ["threading", "eventlet"])
def test_sigterm_closes_running_crawls_before_the_process_exits(tmp_path, make_site, mode):
    site = make_site(pages=80, latency=0.3)
    proc = ServerProcess(tmp_path / "crawls", "--allow-private-targets", "--server", mode)
    client = Client(proc.base)
    try:
        crawl_id = client.start({"url": site.url(0), "concurrency": 2})
        wait_until(lambda: (client.of("crawler_detailed_progress", crawl_id) or [{}])[-1].get("ok", 0) >= 2,
                   timeout=20, message="two pages saved")
        proc.process.send_signal(signal.SIGTERM)
        returncode = proc.process.wait(15)
    finally:
        client.close()
        proc.stop()
    assert returncode == 0, proc.log_path.read_text(errors="replace")
    summary_path = proc.data_dir / crawl_id / "summary.json"
    assert summary_path.exists(), "the crawl was closed (summary written), not cut off"
    summary = json.loads(summary_path.read_text())
    assert summary["state"] in ("stopped", "interrupted") and summary["ok"] >= 2
    kept = sum(1 for line in (proc.data_dir / crawl_id / "manifest.jsonl").read_text().splitlines()
               if json.loads(line)["status"] == "ok")
    assert kept == summary["ok"]


# ---------------------------------------------------------------- file modes


def private_mode_problems(data_dir: Path) -> list[str]:
    """Every file and folder under the data directory (and itself) that is not 0600 / 0700."""
    import os
    import stat

    problems = [] if stat.S_IMODE(data_dir.stat().st_mode) == 0o700 else [f". (the data directory): "
                                                                         f"{stat.S_IMODE(data_dir.stat().st_mode):04o}"]
    for root, dirs, files in os.walk(data_dir):
        for name, wanted in [*((d, 0o700) for d in dirs), *((f, 0o600) for f in files)]:
            try:
                mode = stat.S_IMODE(os.lstat(os.path.join(root, name)).st_mode)
            except FileNotFoundError:  # a temporary file renamed meanwhile
                continue
            if mode != wanted:
                problems.append(f"{os.path.relpath(os.path.join(root, name), data_dir)}: {mode:04o}")
    return problems


def test_everything_in_the_data_directory_is_private_whatever_the_umask(tmp_path, make_site):
    """Crawled pages, journals, the search index (with its -wal and -shm), the page cache, the
    secret: nothing the crawler writes may be readable by other users, under a permissive umask."""
    import os
    import subprocess
    import sys

    from crawler.outputs.search import open_search
    from tests.support.server import PROJECT_ROOT, crawl_over_rest

    site = make_site(pages=12, extra_links=False)
    data_dir = tmp_path / "crawls"
    old_umask = os.umask(0o022)  # files 0644 and folders 0755 unless the crawler says otherwise
    try:
        server = ServerProcess(data_dir, "--allow-private-targets")
        try:
            http = requests.Session()
            assert http.get(server.base + "/api/health", timeout=5).status_code == 200
            crawl_over_rest(server.base, http, site.url(0), max_pages=6)
            discovery = http.post(server.base + "/api/discover", json={"url": site.url(0)}, timeout=10).json()
            wait_until(lambda: http.get(f"{server.base}/api/discover/{discovery['crawl_id']}",
                                        timeout=5).json()["complete"], timeout=60, message="the discovery")
            wait_until(lambda: http.get(server.base + "/api/search", params={"q": "configuration"},
                                        timeout=5).json().get("total"), timeout=30, message="searchable pages")
            assert (data_dir / ".cache" / "pages").is_dir() and (data_dir / ".search.sqlite-wal").exists()
            running = private_mode_problems(data_dir)  # with the server's index open (-wal, -shm)
        finally:
            server.stop()
        before = set(data_dir.glob("2*"))
        terminal = [site.url(0), "--max-pages", "4"]
        for args in (terminal, ["--refresh"]):  # a terminal crawl, then its refresh (changes.json)
            if args == ["--refresh"]:
                (crawl_dir,) = set(data_dir.glob("2*")) - before
                args = ["--refresh", str(crawl_dir)]
            result = subprocess.run([sys.executable, "-m", "crawler", *args, "--out", str(data_dir),
                                     "--allow-private-targets", "--quiet"], cwd=PROJECT_ROOT,
                                    capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stderr
        assert list(data_dir.glob("2*/changes.json"))
        index, indexer = open_search(data_dir, data_dir / ".search-mcp.sqlite", start=False)  # as crawler.outputs.mcp
        try:
            assert indexer.catch_up()
            assert index.search("configuration", list(index.indexed_crawls())).total
            ended = private_mode_problems(data_dir)  # with this index open (-wal, -shm)
        finally:
            indexer.stop()
    finally:
        os.umask(old_umask)
    assert running == [] and ended == [], "\n".join(running + ["--- after"] + ended)
