"""API keys in cluster mode: made on one web server, used and revoked across both, stored in Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import socketio

from crawler.service.keys import digest_of
from tests.support.cluster import RedisServer, WorkerProcess, wait_for_workers, web_server
from tests.support.mcp import over_http
from tests.support.server import Client, ServerProcess, wait_until


class KeyCluster:
    """Our own redis-server, one worker, two web servers on one data directory."""

    def __init__(self, root: Path) -> None:
        self.data_dir = root / "crawls"
        self.redis = RedisServer(root / "redis")
        self.worker = WorkerProcess(self.redis.url, self.data_dir, root)
        self.a = web_server(self.data_dir, self.redis.url)
        self.b = web_server(self.data_dir, self.redis.url)
        wait_for_workers(self.a, [self.worker])

    def close(self) -> None:
        for server in (self.a, self.b):
            server.stop()
        self.worker.stop()
        self.redis.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyCluster]:
    running = KeyCluster(tmp_path_factory.mktemp("keys-cluster"))
    yield running
    running.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def make_key(server: ServerProcess, http: requests.Session, name: str = "ci") -> dict[str, Any]:
    made = http.post(server.base + "/api/keys", json={"name": name}, timeout=10)
    assert made.status_code == 201, made.text
    return made.json()


def test_a_key_made_on_one_server_works_on_the_other_and_its_revocation_holds_on_both(cluster, make_site):
    a, b = cluster.a, cluster.b
    dashboard = Client(a.base)  # the session's dashboard, on server A
    made = make_key(a, dashboard.http)
    key = made["key"]
    owner = dashboard.http.get(a.base + "/api/session", timeout=5).json()["session_id"]

    # The key works through server B: REST (a crawl that is the session's, live in its dashboard on A),
    # Socket.IO and /mcp.
    assert requests.get(b.base + "/api/session", headers=bearer(key), timeout=5).json()["session_id"] == owner
    site = make_site(pages=4)
    started = requests.post(b.base + "/api/crawls", headers=bearer(key), json={"url": site.url(0)}, timeout=10)
    assert started.status_code == 202, started.text
    crawl_id = started.json()["crawl_id"]
    finished = dashboard.wait_finished(crawl_id, timeout=90)
    assert finished["state"] == "completed"
    assert crawl_id in [r["crawl_id"] for r in dashboard.http.get(a.base + "/api/crawls", timeout=5).json()["crawls"]]

    # Another machine's browser signs in with the key through server B.
    elsewhere = requests.Session()
    elsewhere.get(b.base + "/api/health", timeout=5)
    assert elsewhere.post(b.base + "/api/session/key", json={"key": key}, timeout=5).status_code == 200
    assert crawl_id in [r["crawl_id"] for r in elsewhere.get(b.base + "/api/crawls", timeout=5).json()["crawls"]]

    closed: list[bool] = []
    script = socketio.Client(reconnection=False)
    script.on("disconnect", lambda *_: closed.append(True))
    script.connect(b.base, transports=["websocket"], wait_timeout=10, auth={"key": key})
    try:
        watched = script.call("watch_crawl", {"crawl_id": crawl_id}, timeout=10)
        assert watched["ok"] and watched["state"] == "completed"
        tools = over_http(b.base + "/mcp", bearer(key), [("list_sites", {})])
        assert crawl_id in tools[0][1]

        # Revoked through A: refused by B at its next request, its socket on B closed within ~a second.
        revoked_at = time.monotonic()
        assert dashboard.http.delete(f"{a.base}/api/keys/{made['id']}", timeout=5).json() == {"ok": True}
        for server in (b, a):
            refused = requests.get(server.base + "/api/crawls", headers=bearer(key), timeout=5)
            assert refused.status_code == 401, server.base
        assert elsewhere.get(b.base + "/api/crawls", timeout=5).json() == {"crawls": []}, "signed out by the revocation"
        mcp = requests.post(b.base + "/mcp", headers={**bearer(key), "Accept": "application/json, text/event-stream"},
                            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}, timeout=10)
        assert mcp.status_code == 401 and mcp.json()["error"].startswith("the API key is not valid")
        wait_until(lambda: closed, timeout=5, message="server B to close the revoked key's socket")
        assert time.monotonic() - revoked_at < 3
        assert dashboard.http.get(f"{a.base}/api/crawls/{crawl_id}", timeout=5).status_code == 200, \
            "the crawls a key started stay the session's"
    finally:
        if script.connected:
            script.disconnect()
        dashboard.close()
    refused = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect(b.base, transports=["websocket"], wait_timeout=10, auth={"key": key})
    secret = key.split("_", 2)[2]
    for log in (a.log_path, b.log_path, cluster.worker.log_path):
        assert secret not in log.read_text(errors="replace"), f"the key reached {log.name}"


def test_key_records_live_in_redis_as_digests_and_crafted_ones_are_refused(cluster):
    a, b = cluster.a, cluster.b
    http = requests.Session()
    http.get(a.base + "/api/health", timeout=5)
    owner = http.get(a.base + "/api/session", timeout=5).json()["session_id"]
    made = make_key(a, http, "real")
    store = redis.Redis.from_url(cluster.redis.url, decode_responses=True)
    try:
        stored = store.hgetall(f"crawler:apikey:{made['id']}")
        assert stored["digest"] == digest_of(made["key"]) and made["key"] not in str(stored)
        assert made["key"] not in str([store.dump(k) for k in store.keys("crawler:apikey*")])

        # Someone with write access to Redis plants records shaped wrong, listed under this session
        # and under ids a presented key would name.
        forged_key = "cdk_" + "a" * 16 + "_" + "B" * 43
        crafted = {
            "a" * 16: {"id": "a" * 16, "owner": "../../etc", "name": "x", "created_at": "t",
                       "digest": digest_of(forged_key)},
            "b" * 16: {"id": "c" * 16, "owner": owner, "name": "x", "created_at": "t", "digest": "0" * 64},
            "d" * 16: {"id": "d" * 16, "owner": owner, "name": "x", "created_at": "t", "digest": "not hex"},
            "e" * 16: {"junk": "1"},
            "f" * 16: {"id": "f" * 16, "owner": owner, "name": "\x00" * 5000, "created_at": "t",
                       "digest": "f" * 64},
        }
        for key_id, fields in crafted.items():
            store.hset(f"crawler:apikey:{key_id}", mapping=fields)
            store.sadd(f"crawler:apikeys:{owner}", key_id)
        store.sadd(f"crawler:apikeys:{owner}", "../../x", "0" * 500)
        store.set("crawler:apikey:" + "9" * 16, "a string, not a hash")
        store.sadd(f"crawler:apikeys:{owner}", "9" * 16)

        for server in (a, b):
            listed = http.get(server.base + "/api/keys", timeout=5)
            assert listed.status_code == 200, listed.text
            ids = {row["id"] for row in listed.json()["keys"]}
            assert made["id"] in ids and not ids & {"a" * 16, "b" * 16, "c" * 16, "d" * 16, "e" * 16, "9" * 16}
            assert all(len(row["name"]) <= 100 for row in listed.json()["keys"])
            forged = requests.get(server.base + "/api/crawls", headers=bearer(forged_key), timeout=5)
            assert forged.status_code == 401, "a record whose owner is not a session id is no key"
            wrong_type = requests.get(server.base + "/api/crawls", timeout=5,
                                      headers=bearer("cdk_" + "9" * 16 + "_" + "A" * 43))
            assert wrong_type.status_code == 401
            for key_id in ("9" * 16, "a" * 16, "e" * 16):
                assert http.delete(f"{server.base}/api/keys/{key_id}", timeout=5).status_code == 404
            assert requests.get(server.base + "/api/crawls", headers=bearer(made["key"]), timeout=5).status_code == 200
            assert requests.get(server.base + "/api/health", timeout=5).status_code == 200
    finally:
        store.close()
