"""Two apps in one process: each has its own Socket.IO server, so one app's crawl events reach
only its own clients (a module-level SocketIO rebound by the second app's init_app used to send
the first app's events through the second server)."""

from __future__ import annotations

import time

from crawler.web import create_app


def _app(tmp_path, name):
    return create_app({"data_dir": str(tmp_path / name), "allow_private_targets": True, "cpu_workers": 1,
                       "secret_key": f"secret-{name}"})


def _client(app):
    http = app.test_client()
    assert http.get("/").status_code == 200  # the session cookie the socket handshake needs
    return app.extensions["socketio"].test_client(app, flask_test_client=http)


def test_each_app_sends_its_crawl_events_through_its_own_socketio_only(tmp_path, make_site):
    first, second = _app(tmp_path, "a"), _app(tmp_path, "b")
    try:
        assert first.extensions["socketio"] is not second.extensions["socketio"]
        watcher_a, watcher_b = _client(first), _client(second)
        assert watcher_a.is_connected() and watcher_b.is_connected()
        site = make_site(pages=6)
        answer = watcher_a.emit("start_crawl", {"url": site.url(0), "concurrency": 2}, callback=True)
        assert answer["ok"], answer
        received_a: list[dict] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            received_a += watcher_a.get_received()
            if any(m["name"] == "crawler_finished" for m in received_a):
                break
            time.sleep(0.05)
        names_a = {m["name"] for m in received_a}
        assert {"crawler_page", "crawler_detailed_progress", "crawler_finished"} <= names_a, names_a
        assert all(m["args"][0].get("crawl_id") in (None, answer["crawl_id"]) for m in received_a)
        assert watcher_b.get_received() == [], "the second app's client got the first app's events"
    finally:
        for app in (first, second):
            app.extensions["crawler"].close()
