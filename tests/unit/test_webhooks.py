"""The webhook sender on its own: the address guard at delivery time (a name that resolves to
loopback now, whatever it resolved to when the setting was given), the back-off and its end,
the log lines after the crawl ended, and the settings' validation."""

from __future__ import annotations

import pytest

from crawler.engine.config import ConfigError, WebhookConfig, parse_crawl_config, parse_webhook, public_settings
from crawler.engine.events import Event, RecordingSink
from crawler.engine.netguard import non_public_reason
from crawler.engine.progress import ProgressTracker
from crawler.service.webhooks import CrawlLog, WebhookDispatcher, sign, signature_matches


def dispatcher(url: str, *, policy=non_public_reason, **settings) -> tuple[WebhookDispatcher, RecordingSink]:
    sink = RecordingSink()
    crawl_log = CrawlLog(sink)
    crawl_log.attach(ProgressTracker("20261202-180000-abcdef", "owner"))
    crawl_log.end()  # as after the crawl: lines go straight to the sink
    return WebhookDispatcher("20261202-180000-abcdef", WebhookConfig(url, **settings), crawl_log,
                             policy=policy, user_agent="test"), sink


def lines(sink: RecordingSink) -> list[str]:
    return [payload["message"] for payload in sink.of(Event.LOG)]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_loopback_address_is_refused_at_delivery_and_not_tried_again(receiver, host):
    """The setting-time check can be passed by a name that resolves elsewhere later (rebinding):
    the connection itself is checked, so nothing reaches the receiver."""
    sender, sink = dispatcher(f"http://{host}:{receiver.port}/hook")
    delivery = sender.post("completed", {"state": "completed"})
    sender.end()
    assert sender.wait(10)
    assert receiver.posts == []
    assert sender.failed == [delivery.id] and sender.delivered == []
    [line] = lines(sink)
    assert "refused" in line and "loopback" in line and str(receiver.port) in line
    assert [payload["seq"] for payload in sink.of(Event.LOG)] == [1]  # numbered as the crawl's own lines


def test_with_private_targets_allowed_it_is_delivered_and_retried_until_it_works(receiver, monkeypatch):
    monkeypatch.setattr(WebhookDispatcher, "BACKOFF", 0.05)
    receiver.fail_first = {"page": 2}
    sender, sink = dispatcher(receiver.url, policy=None, secret="s" * 16)
    delivery = sender.post("page", {"pages": []})
    sender.end()
    assert sender.wait(10)
    assert [post.delivery for post in receiver.posts] == [delivery.id] * 3
    assert all(post.signed_with("s" * 16) for post in receiver.posts)
    assert sender.delivered == [delivery.id] and sender.sent_pages == 1
    assert sum("trying again" in line for line in lines(sink)) == 2
    assert lines(sink)[-1] == f"webhook: 1 page deliveries to 127.0.0.1:{receiver.port}"


def test_a_receiver_that_keeps_failing_is_given_up_on_after_the_last_try(receiver, monkeypatch):
    monkeypatch.setattr(WebhookDispatcher, "BACKOFF", 0.01)
    monkeypatch.setattr(WebhookDispatcher, "ATTEMPTS", 3)
    receiver.fail_first = {"failed": 99}
    sender, sink = dispatcher(receiver.url, policy=None)
    delivery = sender.post("failed", {"state": "failed"})
    sender.end()
    assert sender.wait(10)
    assert len(receiver.posts) == 3 and sender.failed == [delivery.id]
    assert "failed after 3 tries: answered 500" in lines(sink)[-1]


def test_a_client_error_is_not_tried_again_and_events_not_asked_for_are_not_sent(receiver, monkeypatch):
    monkeypatch.setattr(WebhookDispatcher, "BACKOFF", 0.01)
    sender, _ = dispatcher(receiver.url, policy=None, events=("completed",))
    assert sender.post("page", {"pages": []}) is None
    sender.end()
    assert sender.wait(5)
    assert receiver.posts == []


def test_the_signature_is_the_hmac_of_the_exact_body():
    body = b'{"id":"1"}'
    assert sign("k" * 16, body) == "sha256=" + __import__("hmac").new(b"k" * 16, body, "sha256").hexdigest()
    assert signature_matches("k" * 16, body, sign("k" * 16, body))
    assert not signature_matches("k" * 16, body + b" ", sign("k" * 16, body))
    assert not signature_matches("k" * 16, body, None)


def test_the_setting_round_trips_through_the_stored_config_and_hides_its_secret():
    config = parse_crawl_config({"url": "https://docs.example.org/", "webhook": {
        "url": "https://hooks.example.org/x?token=1", "secret": "0123456789abcdef", "events": ["completed", "started"],
        "headers": {"Authorization": "Bearer t"}, "metadata": {"a": [1, 2]}}})
    assert config.webhook is not None and config.webhook.events == ("started", "completed")
    assert parse_crawl_config(config.to_dict()) == config  # config.json and the Redis record
    public = config.public_dict()["webhook"]
    assert public["secret"] is None and public["signed"] is True
    assert public_settings(config.to_dict())["webhook"] == public
    assert parse_webhook("https://hooks.example.org/") == WebhookConfig("https://hooks.example.org/")


@pytest.mark.parametrize(("value", "words"), [
    ("javascript:alert(1)", "must start with http"),
    ({"url": "hooks.example.org/x"}, "must start with http"),
    ({"url": "https://h.example.org/", "secret": "x" * 257}, "webhook.secret"),
    ({"url": "https://h.example.org/", "events": []}, "non-empty list"),
    ({"url": "https://h.example.org/", "headers": {"Host": "internal"}}, "cannot be replaced"),
    ({"url": "https://h.example.org/", "headers": {"Bad Name": "x"}}, "not a valid header name"),
    ({"url": "https://h.example.org/", "metadata": {"big": "x" * 5000}}, "too large"),
    ({"url": "https://h.example.org/", "metadata": [1]}, "JSON object"),
    (["https://h.example.org/"], "must be an object"),
])
def test_bad_settings_are_refused(value, words):
    with pytest.raises(ConfigError, match=words):
        parse_crawl_config({"url": "https://docs.example.org/", "webhook": value})


def test_a_post_after_the_end_is_still_delivered(receiver):
    """`crawler_finished` may reach the sink after the job said it ended (its sender was slow):
    the dispatcher starts a thread again rather than drop it."""
    sender, _ = dispatcher(receiver.url, policy=None)
    sender.end()
    first = sender.post("started", {})
    assert sender.wait(10)
    late = sender.post("completed", {"state": "completed"})
    assert sender.wait(10)
    assert [post.delivery for post in receiver.posts] == [first.id, late.id]


def test_a_receiver_that_is_down_gets_one_try_per_post_and_no_page_posts_until_one_gets_through(receiver, monkeypatch):
    monkeypatch.setattr(WebhookDispatcher, "BACKOFF", 0.01)
    monkeypatch.setattr(WebhookDispatcher, "ATTEMPTS", 3)
    receiver.fail_first = {"started": 99, "completed": 1}
    sender, sink = dispatcher(receiver.url, policy=None)
    sender.post("started", {})
    for _ in range(20):
        sender.post("page", {"pages": []})
    sender.post("completed", {"state": "completed"})  # one try while down: it fails (its first 500)
    sender.post("failed", {"state": "failed"})  # one try, gets through: the receiver is up again
    sender.post("page", {"pages": []})  # sent again
    sender.end()
    assert sender.wait(10)
    assert [post.event for post in receiver.posts] == ["started"] * 3 + ["completed", "failed", "page"]
    assert sender.sent_pages == 1
    messages = lines(sink)
    assert sum("page posts are dropped" in line for line in messages) == 1  # said once, not per page
    assert "20 not sent: the receiver was down" in messages[-1]


def test_the_outbox_keeps_what_is_owed_and_skips_what_does_not_read_back(tmp_path):
    from crawler.service.webhooks import OUTBOX_FILE, Delivery, Outbox

    outbox = Outbox(tmp_path)
    owed = Delivery("a" * 32, "completed", b'{"id":"x"}')
    settled = Delivery("b" * 32, "started", b"{}")
    outbox.add(settled)
    outbox.add(owed)
    outbox.end(settled.id, "delivered")
    with open(tmp_path / OUTBOX_FILE, "a") as handle:
        handle.write('{"id": "../../x", "event": "completed", "body": "{}"}\n')  # not a delivery id
        handle.write('{"id": "' + "c" * 32 + '", "event": "page", "body": "{}"}\n')  # page posts are not owed
        handle.write('[1, 2]\n{"id": "' + "d" * 32 + '", "event": "comple')  # not an object; a torn last line
    assert Outbox(tmp_path).owed() == [owed]
    assert Outbox(tmp_path / "deleted").owed() == []
    Outbox(tmp_path / "deleted").add(owed)  # the crawl was deleted: nothing written, no error
    assert not (tmp_path / "deleted").exists()


def test_a_new_run_of_the_crawl_sends_what_the_last_one_owed_first(receiver, tmp_path):
    from crawler.service.webhooks import CrawlWebhooks, Outbox

    owed = Outbox(tmp_path)
    earlier = WebhookDispatcher("20261202-180000-abcdef", WebhookConfig(receiver.url), CrawlLog(RecordingSink()),
                                policy=None, user_agent="test", outbox=owed)
    earlier.close()  # the process went away before sending
    first = earlier.post("completed", {"state": "completed"})
    assert earlier.wait(5) and receiver.posts == [] and owed.owed() == [first]

    hooks = CrawlWebhooks("20261202-180000-abcdef", WebhookConfig(receiver.url), RecordingSink(),
                          allow_private_targets=True, user_agent="test", crawl_dir=tmp_path)
    later = hooks.dispatcher.post("started", {})
    hooks.ended()
    assert hooks.dispatcher.wait(10)
    assert [(post.delivery, post.body) for post in receiver.posts] == [(first.id, first.body), (later.id, later.body)]
    assert Outbox(tmp_path).owed() == []  # both settled
