"""Webhooks through a real server: a receiver this test runs gets the crawl's events, signed,
retried after a 500 with the same delivery id, never redirected, and a slow or endless receiver
does not hold the crawl. A server that refuses private targets refuses a private webhook."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator

import pytest
import requests

from tests.support.changing_site import CONFIG, change_the_site, crawl
from tests.support.server import SERVER_MODES, Client, ServerProcess, wait_until
from tests.support.webhooks import Receiver

SECRET = "a-shared-secret-of-some-length"


def log_of(app_client: Client, base: str, crawl_id: str) -> list[str]:
    detail = app_client.http.get(f"{base}/api/crawls/{crawl_id}", timeout=10).json()
    return [line["message"] for line in detail["recent_log"]]


@pytest.mark.parametrize("server", SERVER_MODES, indirect=True)
def test_events_are_posted_signed_and_a_500_is_retried_with_the_same_delivery_id(server, changing_site, receiver):
    app_server = server
    app_client = Client(server.base)
    try:
        posted_signed_and_retried(app_server, app_client, changing_site, receiver)
    finally:
        app_client.close()


def posted_signed_and_retried(app_server, app_client, changing_site, receiver):
    receiver.fail_first = {"completed": 1}
    crawl_id, summary = crawl(app_client, {"url": changing_site.url("/docs/"), **CONFIG,
                                       "webhook": {"url": receiver.url, "secret": SECRET,
                                                   "metadata": {"project": "docs"}}})
    assert summary["ok"] == 8
    completed = receiver.wait_for(lambda: len(receiver.of("completed")) >= 2 and receiver.of("completed"),
                                  message="the completed webhook, tried twice")
    assert [post.headers["X-Crawler-Attempt"] for post in completed] == ["1", "2"]
    assert completed[0].body == completed[1].body and completed[0].delivery == completed[1].delivery  # one id: dedupe
    assert completed[1].at - completed[0].at >= 1.5  # the back-off
    body = completed[0].json
    assert body["id"] == completed[0].delivery and body["crawl_id"] == crawl_id and body["event"] == "completed"
    assert body["data"]["state"] == "completed" and body["data"]["summary"]["ok"] == 8
    assert body["metadata"] == {"project": "docs"}

    events = [post.event for post in receiver.posts]
    assert events[0] == "started" and events[-1] == "completed"
    assert set(events) == {"started", "page", "completed"}  # no `changes`: not a refresh
    pages = {page["url"]: page["status"] for post in receiver.of("page") for page in post.json["data"]["pages"]}
    assert sum(status == "ok" for status in pages.values()) == 8
    for post in receiver.posts:
        assert post.signed_with(SECRET), post.event
        assert not post.signed_with(SECRET + "x")
        assert post.headers["Content-Type"] == "application/json"

    lines = wait_until(lambda: (found := log_of(app_client, app_server.base, crawl_id))
                       and any("completed delivered" in line for line in found) and found,
                       message="the delivery in the crawl's log")
    assert any("webhook completed" in line and "answered 500" in line and "trying again" in line for line in lines)
    assert any("page deliveries" in line for line in lines)
    # The secret is never shown again: not in the API, not in the zip's settings.
    detail = app_client.http.get(f"{app_server.base}/api/crawls/{crawl_id}", timeout=10).json()
    assert detail["config"]["webhook"]["secret"] is None and detail["config"]["webhook"]["signed"] is True
    download = app_client.http.get(f"{app_server.base}/api/crawls/{crawl_id}/download?format=zip", timeout=30)
    assert download.status_code == 200
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        [name] = [name for name in archive.namelist() if name.endswith("/config.json")]
        settings = json.loads(archive.read(name))
        assert all(SECRET.encode() not in archive.read(entry) for entry in archive.namelist())
    assert settings["webhook"] == {**detail["config"]["webhook"]} and settings["webhook"]["url"] == receiver.url
    assert SECRET in (app_server.data_dir / crawl_id / "config.json").read_text()  # kept for a refresh


def test_a_refresh_posts_what_changed(app_server, app_client, changing_site, receiver):
    old_id, _ = crawl(app_client, {"url": changing_site.url("/docs/"), **CONFIG,
                               "webhook": {"url": receiver.url, "events": ["changes"]}})
    assert receiver.posts == []  # only `changes` asked for, and the first crawl is no refresh
    change_the_site(changing_site)
    answer = app_client.http.post(f"{app_server.base}/api/crawls/{old_id}/refresh", timeout=10)
    assert answer.status_code == 202, answer.text
    new_id = answer.json()["crawl_id"]
    app_client.wait_finished(new_id, timeout=30)
    [post] = receiver.wait_for(lambda: receiver.of("changes"), message="the changes webhook")
    data = post.json["data"]
    assert post.json["crawl_id"] == new_id and data["refresh_of"] == old_id
    assert data["counts"]["new"] == 1 and data["new"] == [changing_site.url("/docs/new.html")]
    assert sorted(data["changed"]) == sorted(changing_site.url(p) for p in ("/docs/", "/docs/d.html", "/docs/e.html"))
    assert data["removed"] == [changing_site.url("/docs/gone.html")]
    assert data["report"] == f"/api/crawls/{new_id}/changes"
    assert "X-Crawler-Signature" not in post.headers  # no secret, no signature


def test_a_redirect_is_not_followed(app_server, app_client, changing_site, receiver):
    target = Receiver()
    try:
        receiver.redirect = target.url
        crawl_id, _ = crawl(app_client, {"url": changing_site.url("/docs/"), **CONFIG,
                                     "webhook": {"url": receiver.url, "events": ["completed"]}})
        lines = wait_until(lambda: (found := log_of(app_client, app_server.base, crawl_id))
                           and any("webhook completed" in line and "failed" in line for line in found) and found,
                           message="the failed delivery in the crawl's log")
        assert any("redirects are not followed" in line for line in lines)
        time.sleep(0.5)
        assert len(receiver.of("completed")) == 1  # a redirect is final: not tried again
        assert target.posts == []
    finally:
        target.stop()


@pytest.mark.parametrize("behaviour", ["slow", "endless"])
def test_a_slow_or_endless_receiver_does_not_hold_the_crawl(app_server, app_client, changing_site, receiver, behaviour):
    if behaviour == "slow":
        receiver.delay = 30  # no headers for 30 s
    else:
        receiver.endless = True  # headers at once, then a body that never ends
    started = time.monotonic()
    crawl_id, summary = crawl(app_client, {"url": changing_site.url("/docs/"), **CONFIG, "webhook": receiver.url})
    took = time.monotonic() - started
    assert summary["ok"] == 8 and took < 15, took
    receiver.wait_for(lambda: receiver.of("started"), message="the first post")
    # The next crawl starts at once: the slot was given back, the webhook thread is the crawl's own.
    again = time.monotonic()
    _, summary = crawl(app_client, {"url": changing_site.url("/docs/"), **CONFIG})
    assert summary["ok"] == 8 and time.monotonic() - again < 15
    if behaviour == "endless":  # the body is never read: the delivery counted done at the headers
        wait_until(lambda: any("completed delivered" in line for line in log_of(app_client, app_server.base, crawl_id)),
                   timeout=30, message="the completed delivery, body unread")


# ---------------------------------------------------------------- a server that refuses private targets


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("guarded") / "crawls")
    yield proc
    proc.stop()


@pytest.mark.parametrize("hook", ["http://127.0.0.1:9/hook", "http://169.254.169.254/latest/meta-data/",
                                  "http://localhost:9/hook", "http://[::ffff:127.0.0.1]:9/hook",
                                  "http://10.0.0.7/hook"])
def test_a_private_webhook_is_refused_when_private_targets_are_not_allowed(guarded_server, hook):
    http = requests.Session()
    answer = http.post(f"{guarded_server.base}/api/crawls", timeout=10,
                       json={"url": "http://93.184.215.14/docs/", "webhook": {"url": hook}})
    assert answer.status_code == 400, answer.text
    message = answer.json()["error"]
    assert message.startswith("webhook.url: refusing to send webhooks to") and "address" in message
    assert http.get(f"{guarded_server.base}/api/crawls", timeout=10).json()["crawls"] == []


@pytest.mark.parametrize(("webhook", "words"), [
    ({"url": "ftp://example.org/hook"}, "must start with http:// or https://"),
    ({"url": "https://example.org/hook", "secret": "short"}, "webhook.secret must be"),
    ({"url": "https://example.org/hook", "events": ["page", "deleted"]}, "unknown event 'deleted'"),
    ({"url": "https://example.org/hook", "headers": {"X-Crawler-Signature": "x"}}, "cannot be replaced"),
    ({"url": "https://example.org/hook", "headers": {"X-A": "a\r\nX-B: b"}}, "single line"),
    ({"url": "https://user:pw@example.org/hook"}, "user name or password"),
    ({"url": "https://example.org/hook", "retries": 3}, "unknown webhook setting 'retries'"),
])
def test_bad_webhook_settings_are_refused_with_a_clear_error(guarded_server, webhook, words):
    answer = requests.post(f"{guarded_server.base}/api/crawls", timeout=10,
                           json={"url": "http://93.184.215.14/docs/", "webhook": webhook})
    assert answer.status_code == 400 and words in answer.json()["error"], answer.text


def test_posts_owed_when_the_server_stops_are_sent_when_it_starts_again(tmp_path, changing_site):
    """The receiver is down while the crawl ends; the server stops during the retries. Started
    again on the same data directory, with the receiver up, it sends `started` and `completed`
    with the ids and bodies they had, once."""
    from crawler.service.webhooks import OUTBOX_FILE, Outbox
    from tests.support.server import free_port

    port = free_port()  # nothing listens there yet: connection refused, retried with back-off
    data_dir = tmp_path / "crawls"
    server = ServerProcess(data_dir, "--allow-private-targets")
    app_client = Client(server.base)
    try:
        crawl_id, summary = crawl(app_client, {"url": changing_site.url("/docs/"), **CONFIG,
                                           "webhook": {"url": f"http://127.0.0.1:{port}/hook", "secret": SECRET}})
        assert summary["ok"] == 8
        owed = wait_until(lambda: len(Outbox(data_dir / crawl_id).owed()) == 2 and Outbox(data_dir / crawl_id).owed(),
                          message="started and completed owed")
        cookies = app_client.http.cookies
    finally:
        app_client.close()
        server.stop()
    assert [d.event for d in owed] == ["started", "completed"]

    receiver = Receiver(port)
    server = ServerProcess(data_dir, "--allow-private-targets")
    try:
        posts = receiver.wait_for(lambda: len(receiver.posts) >= 2 and receiver.posts, message="the owed posts")
        assert [(p.delivery, p.body) for p in posts] == [(d.id, d.body) for d in owed]
        assert all(p.signed_with(SECRET) for p in posts)
        wait_until(lambda: Outbox(data_dir / crawl_id).owed() == [], message="the outbox settled")
        assert (data_dir / crawl_id / OUTBOX_FILE).read_text().count('"end":"delivered"') == 2
        app_client = Client(server.base, cookies=cookies)
        assert app_client.http.get(f"{server.base}/api/crawls/{crawl_id}", timeout=10).json()["state"] == "completed"
        app_client.close()
    finally:
        server.stop()
    server = ServerProcess(data_dir, "--allow-private-targets")  # once settled, never again
    try:
        time.sleep(1.0)
        assert len(receiver.posts) == 2
    finally:
        server.stop()
        receiver.stop()
