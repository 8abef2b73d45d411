"""API keys over REST, Socket.IO and /mcp, on the real server: made, listed, used, revoked, and attacked."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from crawler.service.keys import digest_of
from tests.server.test_security import refused_reason
from tests.support.server import Client, ServerProcess, crawl_over_rest, wait_until

KEY_FIELDS = {"id", "name", "key", "created_at"}
ROW_FIELDS = {"id", "name", "created_at", "last_used_at"}


def session_of(base: str) -> requests.Session:
    """A script's session: its cookie from /api/health."""
    http = requests.Session()
    assert http.get(base + "/api/health", timeout=5).status_code == 200
    return http


def new_key(base: str, http: requests.Session, name: str = "my script") -> dict[str, Any]:
    made = http.post(base + "/api/keys", json={"name": name}, timeout=5)
    assert made.status_code == 201, made.text
    return made.json()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_key_is_made_listed_used_and_revoked(server: ServerProcess, make_site):
    base = server.base
    owner = session_of(base)
    own_id = owner.get(base + "/api/session", timeout=5).json()["session_id"]
    made = new_key(base, owner, "  nightly export  ")
    assert set(made) == KEY_FIELDS
    assert made["name"] == "nightly export"
    key = made["key"]
    assert key.startswith("cdk_") and len(key) >= 4 + 16 + 1 + 43, "a recognisable prefix, 32 random bytes"
    assert made["id"] in key

    listed = owner.get(base + "/api/keys", timeout=5).json()["keys"]
    assert [set(row) for row in listed] == [ROW_FIELDS]
    assert listed[0]["id"] == made["id"] and listed[0]["last_used_at"] is None
    assert key not in json.dumps(listed) and key.split("_", 2)[2] not in json.dumps(listed), "no secret listed"

    # The key alone (no cookie) acts as the session that made it: a crawl it starts is that session's.
    site = make_site(pages=3)
    script = requests.Session()
    script.headers.update(bearer(key))
    assert script.get(base + "/api/session", timeout=5).json() == {
        "session_id": own_id, "key": {"id": made["id"], "name": "nightly export"}}
    crawl_id = crawl_over_rest(base, script, site.url(0))
    assert not script.cookies, "a request made with a key gets no session cookie of its own"
    assert crawl_id in [row["crawl_id"] for row in owner.get(base + "/api/crawls", timeout=5).json()["crawls"]]
    assert script.get(f"{base}/api/crawls/{crawl_id}/download?format=jsonl", timeout=5).status_code == 200
    used = owner.get(base + "/api/keys", timeout=5).json()["keys"][0]["last_used_at"]
    assert isinstance(used, str) and used >= made["created_at"], "its last use is recorded"

    # Revoked: refused at once, everywhere; the crawls stay the session's.
    assert owner.delete(f"{base}/api/keys/{made['id']}", timeout=5).json() == {"ok": True}
    for path in ("/api/crawls", "/api/session", f"/api/crawls/{crawl_id}", "/metrics", "/api/health"):
        refused = script.get(base + path, timeout=5)
        assert refused.status_code == 401, (path, refused.status_code)
        assert "the API key is not valid" in (refused.json()["error"] if path.startswith("/api/") else refused.text)
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert owner.get(base + "/api/keys", timeout=5).json() == {"keys": []}
    assert owner.delete(f"{base}/api/keys/{made['id']}", timeout=5).status_code == 404, "revoked once"
    assert owner.get(f"{base}/api/crawls/{crawl_id}", timeout=5).status_code == 200


def test_keys_are_stored_only_as_digests_and_survive_a_restart(tmp_path: Path):
    data_dir = tmp_path / "crawls"
    proc = ServerProcess(data_dir)
    try:
        http = session_of(proc.base)
        made = new_key(proc.base, http)
        stored = (data_dir / ".api-keys.json").read_text()
        assert made["key"] not in stored and made["key"].split("_", 2)[2] not in stored
        assert digest_of(made["key"]) in stored
        assert oct((data_dir / ".api-keys.json").stat().st_mode & 0o777) == "0o600"
    finally:
        proc.stop()
    proc = ServerProcess(data_dir)
    try:
        assert requests.get(proc.base + "/api/crawls", headers=bearer(made["key"]), timeout=5).status_code == 200
        log = proc.log_path.read_text(errors="replace")
    finally:
        proc.stop()
    assert made["key"] not in log and made["key"].split("_", 2)[2] not in log, "a key never reaches the log"


def test_a_key_sees_and_stops_only_its_own_sessions_crawls(server: ServerProcess, make_site):
    base = server.base
    alice, mallory = session_of(base), session_of(base)
    site = make_site(pages=3)
    alices = crawl_over_rest(base, alice, site.url(0))
    mallory_key = new_key(base, mallory)["key"]
    alice_key = new_key(base, alice)
    as_mallory = bearer(mallory_key)
    assert requests.get(base + "/api/crawls", headers=as_mallory, timeout=5).json() == {"crawls": []}
    for method, path in (("get", f"/api/crawls/{alices}"), ("post", f"/api/crawls/{alices}/stop"),
                         ("post", f"/api/crawls/{alices}/refresh"), ("delete", f"/api/crawls/{alices}"),
                         ("get", f"/api/crawls/{alices}/download?format=zip"),
                         ("get", f"/api/crawls/{alices}/md/llms.txt")):
        answer = requests.request(method, base + path, headers=as_mallory, timeout=5)
        assert answer.status_code == 404, (method, path, answer.status_code)
    # Another session's key cannot be listed, revoked or signed out of by a key of mallory's.
    assert requests.get(base + "/api/keys", headers=as_mallory, timeout=5).json()["keys"][0]["id"] != alice_key["id"]
    assert requests.delete(f"{base}/api/keys/{alice_key['id']}", headers=as_mallory, timeout=5).status_code == 404
    assert mallory.delete(f"{base}/api/keys/{alice_key['id']}", timeout=5).status_code == 404
    assert requests.get(base + "/api/crawls", headers=bearer(alice_key["key"]), timeout=5).json()["crawls"][0][
        "crawl_id"] == alices, "alice's key still works"
    # A key cannot mint another (a leaked key must not outlive its revocation).
    minted = requests.post(base + "/api/keys", headers=as_mallory, json={"name": "more"}, timeout=5)
    assert minted.status_code == 403 and "not with a key" in minted.json()["error"]


def test_forged_short_and_malformed_keys_are_refused(server: ServerProcess):
    base = server.base
    http = session_of(base)
    real = new_key(base, http)["key"]
    secret = real.split("_", 2)[2]
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    forged = [
        real[:-1],  # one character short
        real + "A",  # one too many
        f"cdk_{real[4:20]}_{flipped}",  # the right id, a wrong secret
        f"cdk_{'0' * 16}_{secret}",  # the right secret under another id
        "cdk_" + real[4:20],  # an id alone
        "cdk_",
        "cdk_" + "a" * 5000,
        real.upper(),
        f" {real}x",
        "cdk_../../etc/passwd_" + "A" * 43,
    ]
    for value in forged:
        answer = requests.get(base + "/api/crawls", headers=bearer(value), timeout=5)
        assert answer.status_code == 401, value[:60]
        assert answer.json() == {"error": "the API key is not valid: it was revoked, or was never issued "
                                          "by this server"}
    for body in ({}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": 7}, {"name": "a\nb"}):
        answer = http.post(base + "/api/keys", json=body, timeout=5)
        assert answer.status_code == 400 and "error" in answer.json(), body
    assert http.post(base + "/api/keys", data="name=x", timeout=5).status_code == 400
    for key_id in ("nope", "0" * 16, "..%2F..%2Fx", "A" * 16):
        assert http.delete(f"{base}/api/keys/{key_id}", timeout=5).status_code == 404
    assert requests.get(base + "/api/crawls", headers=bearer(real), timeout=5).status_code == 200


def test_the_number_of_keys_of_a_session_is_bounded(server: ServerProcess):
    from crawler.service.keys import MAX_KEYS_PER_SESSION

    http = session_of(server.base)
    ids = [new_key(server.base, http, f"k{n}")["id"] for n in range(MAX_KEYS_PER_SESSION)]
    refused = http.post(server.base + "/api/keys", json={"name": "one more"}, timeout=5)
    assert refused.status_code == 409 and "revoke one" in refused.json()["error"]
    assert http.delete(f"{server.base}/api/keys/{ids[0]}", timeout=5).status_code == 200
    assert http.post(server.base + "/api/keys", json={"name": "one more"}, timeout=5).status_code == 201


def test_a_key_passes_the_access_token_and_a_wrong_one_does_not(tmp_path: Path):
    proc = ServerProcess(tmp_path / "crawls", "--token", "the-access-token")
    try:
        base = proc.base
        http = requests.Session()
        http.headers.update(bearer("the-access-token"))
        made = new_key(base, http)
        assert requests.get(base + "/api/crawls", headers=bearer(made["key"]), timeout=5).status_code == 200
        assert requests.get(base + "/metrics", headers=bearer(made["key"]), timeout=5).status_code == 200
        assert requests.get(base + "/api/health", headers=bearer(made["key"]), timeout=5).json()["version"]
        no_auth = requests.get(base + "/api/crawls", timeout=5)
        assert no_auth.status_code == 401 and "access token is required" in no_auth.json()["error"]
        assert refused_reason(base, auth={"key": made["key"]}) is None, "a socket with the key alone is let in"
        assert "not valid" in refused_reason(base, auth={"key": made["key"][:-1]})
        wrong = requests.get(base + "/api/crawls", headers=bearer("not-the-token"), timeout=5)
        assert wrong.json() == {"error": "the access token is not valid"}
        revoked_soon = made["key"]
        assert http.delete(f"{base}/api/keys/{made['id']}", timeout=5).status_code == 200
        revoked = requests.get(base + "/api/crawls", headers=bearer(revoked_soon), timeout=5)
        assert revoked.status_code == 401 and revoked.json()["error"].startswith("the API key is not valid")
    finally:
        proc.stop()


def test_sign_in_with_a_key_opens_its_session_until_it_is_revoked(server: ServerProcess, make_site):
    base = server.base
    owner = session_of(base)
    site = make_site(pages=2)
    crawl_id = crawl_over_rest(base, owner, site.url(0))
    made = new_key(base, owner)
    elsewhere = session_of(base)  # another machine's browser
    own = elsewhere.get(base + "/api/session", timeout=5).json()["session_id"]
    assert elsewhere.post(base + "/api/session/key", json={"key": made["key"][:-1]}, timeout=5).status_code == 401
    assert elsewhere.post(base + "/api/session/key", json={}, timeout=5).status_code == 400
    signed = elsewhere.post(base + "/api/session/key", json={"key": made["key"]}, timeout=5)
    assert signed.status_code == 200 and signed.json()["key"] == {"id": made["id"], "name": made["name"]}
    assert made["key"] not in signed.headers.get("Set-Cookie", ""), "the cookie holds the key's id, not the key"
    assert [row["crawl_id"] for row in elsewhere.get(base + "/api/crawls", timeout=5).json()["crawls"]] == [crawl_id]
    assert elsewhere.post(base + "/api/keys", json={"name": "x"}, timeout=5).status_code == 403

    # Signing out goes back to the browser's own session.
    assert elsewhere.delete(base + "/api/session/key", timeout=5).json() == {"ok": True, "session_id": own}
    assert elsewhere.get(base + "/api/crawls", timeout=5).json() == {"crawls": []}

    # Revoking the key signs such browsers out at their next request.
    assert elsewhere.post(base + "/api/session/key", json={"key": made["key"]}, timeout=5).status_code == 200
    assert owner.delete(f"{base}/api/keys/{made['id']}", timeout=5).status_code == 200
    assert elsewhere.get(base + "/api/crawls", timeout=5).json() == {"crawls": []}
    assert elsewhere.get(base + "/api/session", timeout=5).json() == {"session_id": own, "key": None}


@pytest.mark.parametrize("server", ["threading", "eventlet"], indirect=True)
def test_a_socket_with_a_key_acts_as_its_session_until_revoked(server: ServerProcess, make_site):
    base = server.base
    owner = Client(base)  # the dashboard of the session, connected
    made = new_key(base, owner.http)
    assert "not valid" in refused_reason(base, auth={"key": made["key"][:-1] + "x"})
    assert "not valid" in refused_reason(base, auth={"key": "cdk_" + "0" * 16 + "_" + "A" * 43})
    assert "not valid" in refused_reason(base, auth={"key": 12})
    assert "not valid" in refused_reason(base, headers=bearer("cdk_nope"))

    events: list[tuple[str, Any]] = []
    script = socketio.Client(reconnection=False)
    script.on("*", lambda event, data=None: events.append((event, data)))
    closed: list[bool] = []
    script.on("disconnect", lambda *_: closed.append(True))
    script.connect(base, transports=["websocket"], wait_timeout=10, auth={"key": made["key"]})
    try:
        site = make_site(pages=3)
        ack = script.call("start_crawl", {"url": site.url(0), "max_pages": 3}, timeout=10)
        assert ack["ok"], ack
        crawl_id = ack["crawl_id"]
        owner.wait_finished(crawl_id)  # live in the session's dashboard
        wait_until(lambda: any(event == "crawler_finished" for event, _ in events), message="the script's events")
        assert crawl_id in [row["crawl_id"] for row in owner.http.get(base + "/api/crawls", timeout=5).json()["crawls"]]
        assert script.call("watch_crawl", {"crawl_id": crawl_id}, timeout=10)["ok"]

        assert owner.http.delete(f"{base}/api/keys/{made['id']}", timeout=5).status_code == 200
        wait_until(lambda: closed, timeout=5, message="the revoked key's socket to be closed")
    finally:
        if script.connected:
            script.disconnect()
        owner.close()
    assert "not valid" in refused_reason(base, auth={"key": made["key"]})


def test_mcp_over_http_with_a_key(tmp_path: Path, make_site):
    from tests.server.test_mcp import indexed
    from tests.support.mcp import over_http

    proc = ServerProcess(tmp_path / "crawls", "--allow-private-targets", "--token", "tok-0123456789")
    try:
        base = proc.base
        http = requests.Session()
        http.headers.update(bearer("tok-0123456789"))
        site = make_site(pages=3)
        crawl_id = crawl_over_rest(base, http, site.url(0))
        indexed(base, http, crawl_id, 3)
        made = new_key(base, http)
        answers = over_http(base + "/mcp", bearer(made["key"]), [("list_sites", {})])
        assert crawl_id in answers[0][1]
        other = requests.Session()
        other.headers.update(bearer("tok-0123456789"))
        other_key = new_key(base, other)["key"]
        assert crawl_id not in over_http(base + "/mcp", bearer(other_key), [("list_sites", {})])[0][1]

        assert http.delete(f"{base}/api/keys/{made['id']}", timeout=5).status_code == 200
        request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        refused = requests.post(base + "/mcp", json=request, timeout=10,
                                headers={**bearer(made["key"]), "Accept": "application/json, text/event-stream"})
        assert refused.status_code == 401 and refused.json()["error"].startswith("the API key is not valid")
    finally:
        proc.stop()


def test_last_use_is_written_at_most_once_a_minute(server: ServerProcess):
    http = session_of(server.base)
    made = new_key(server.base, http)
    for _ in range(3):
        assert requests.get(server.base + "/api/crawls", headers=bearer(made["key"]), timeout=5).status_code == 200
    first = http.get(server.base + "/api/keys", timeout=5).json()["keys"][0]["last_used_at"]
    time.sleep(0.01)
    assert requests.get(server.base + "/api/crawls", headers=bearer(made["key"]), timeout=5).status_code == 200
    assert http.get(server.base + "/api/keys", timeout=5).json()["keys"][0]["last_used_at"] == first


def test_the_answers_have_the_fields_docs_events_md_documents(server: ServerProcess):
    from tests.support.contract import rest_fields

    base = server.base
    http = session_of(base)
    made = new_key(base, http)
    assert set(made) == rest_fields("POST /api/keys")
    assert set(http.get(base + "/api/keys", timeout=5).json()["keys"][0]) == rest_fields("GET /api/keys")
    assert set(http.get(base + "/api/session", timeout=5).json()) == rest_fields("GET /api/session")
    signed = session_of(base).post(base + "/api/session/key", json={"key": made["key"]}, timeout=5).json()
    assert set(signed) == rest_fields("POST /api/session/key")
    assert set(signed["key"]) == {"id", "name"}
