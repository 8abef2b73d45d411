"""Webhooks: a crawl's events posted as signed JSON to the address its settings name.

Every host that runs crawls (the web server's threads, a cluster worker) builds its jobs through
crawler/service/job.py, which wraps the crawl's sink in a :class:`WebhookSink` when the crawl has
a `webhook` setting. The sink only queues: the posts go out from one thread per crawl, in order,
so a slow or broken receiver never holds up the crawl (nor another crawl's webhooks).

- **Signed.** With a secret, `X-Crawler-Signature: sha256=<hex>` is the HMAC-SHA256 of the exact
  body bytes under it.
- **At least once.** A post that fails for a reason that may pass (no connection, a timeout, a 5xx,
  429, 408) is tried again with a doubling back-off; the body, and the delivery `id` in it (also
  `X-Crawler-Delivery`), are the same on every try, so a receiver drops the ones it has already had.
- **Guarded.** The address is checked when the setting is given (crawler/service/crawls.py) and
  again on every connection (crawler/engine/netguard.py, the same rule as crawling): a host name
  that resolves elsewhere later (DNS rebinding) is refused too. Redirects are never followed.
- **Logged.** Each delivery and each failure is a line in the crawl's log (`crawler_log`), also
  after the crawl ended; successful `page` deliveries are counted in one line at the end.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from crawler.engine.config import WebhookConfig
from crawler.engine.events import Event, EventSink, PageStatus, SafeSink, State, iso_timestamp
from crawler.engine.netguard import DEADLINES, AddressPolicy, BlockedAddress, guard_session, non_public_reason
from crawler.engine.progress import ProgressTracker

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Crawler-Signature"
EVENT_HEADER = "X-Crawler-Event"
DELIVERY_HEADER = "X-Crawler-Delivery"
ATTEMPT_HEADER = "X-Crawler-Attempt"
MAX_LISTED_URLS = 1000  # per list in a `changes` body; the whole report is at /api/crawls/<id>/changes


def sign(secret: str, body: bytes) -> str:
    """The value of X-Crawler-Signature for a body: `sha256=` and the hex HMAC-SHA256 under the secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver checks (constant-time comparison)."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


@dataclass(frozen=True)
class Delivery:
    id: str
    event: str
    body: bytes


class CrawlLog:
    """Lines in a crawl's log from outside the engine: through the crawl's tracker while it runs
    (its sender emits them, numbered with the crawl's other lines), and straight to the crawl's sink
    once it has ended (numbered on by the same tracker)."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = SafeSink(sink)
        self._tracker: ProgressTracker | None = None
        self._ended = False
        self._lock = threading.Lock()

    def attach(self, tracker: ProgressTracker) -> None:
        self._tracker = tracker

    def line(self, level: str, message: str) -> None:
        with self._lock:
            if self._tracker is None:
                log.info("%s", message)
                return
            self._tracker.log(level, message)
            if self._ended:
                self._emit_pending()

    def end(self) -> None:
        """The crawl's sender has stopped: from now on lines go out from here."""
        with self._lock:
            self._ended = True
            if self._tracker is not None:
                self._emit_pending()

    def _emit_pending(self) -> None:
        assert self._tracker is not None
        _, _, lines, _ = self._tracker.drain()
        for line in lines:
            self._sink.emit(Event.LOG.value, line)


class WebhookDispatcher:
    """One crawl's deliveries: a bounded queue and the one thread that posts them in order."""

    ATTEMPTS = 6
    BACKOFF = 2.0  # seconds before the second try, doubling: 2+4+8+16+32 s before giving up
    MAX_BACKOFF = 300.0
    CONNECT_TIMEOUT = 5.0
    RESPONSE_TIMEOUT = 10.0  # wall clock until the response's headers; the body is never read
    MAX_QUEUED = 500  # past this, `page` deliveries are dropped (and counted); the others always queue

    def __init__(self, crawl_id: str, config: WebhookConfig, crawl_log: CrawlLog, *,
                 policy: AddressPolicy | None, user_agent: str) -> None:
        self.crawl_id = crawl_id
        self.config = config
        self._log = crawl_log
        self._policy = policy
        self._user_agent = user_agent
        self._queue: deque[Delivery] = deque()
        self._cond = threading.Condition()
        self._ended = False
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._dropped = 0
        self.sent_pages = 0
        self.delivered: list[str] = []  # delivery ids, in order (what a test or a summary reads)
        self.failed: list[str] = []
        parts = urlsplit(config.url)
        self._where = f"{parts.hostname}{f':{parts.port}' if parts.port else ''}"  # never the path or query: they may hold a token

    # ---- what the crawl's side calls (never blocks) ----

    def post(self, event: str, data: dict[str, Any]) -> Delivery | None:
        if not self.config.wants(event):
            return None
        delivery_id = uuid.uuid4().hex
        body = json.dumps({"id": delivery_id, "event": event, "crawl_id": self.crawl_id, "timestamp": iso_timestamp(),
                           "data": data, "metadata": self.config.metadata}, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
        delivery = Delivery(delivery_id, event, body)
        with self._cond:
            if event == "page" and len(self._queue) >= self.MAX_QUEUED:
                self._dropped += 1
                return None
            self._queue.append(delivery)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"webhooks-{self.crawl_id}", daemon=True)
                self._thread.start()
            self._cond.notify()
        return delivery

    def end(self) -> None:
        """No more events: the thread ends once the queue is delivered (or given up on)."""
        with self._cond:
            self._ended = True
            self._cond.notify()

    def wait(self, timeout: float) -> bool:
        """Wait until everything queued was delivered or given up on (True), after `end`."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def close(self) -> None:
        """Give up on what is left (the process is going away)."""
        self._closing.set()
        self.end()

    # ---- the delivery thread ----

    def _next(self) -> Delivery | None:
        with self._cond:
            while not self._queue and not self._ended and not self._closing.is_set():
                self._cond.wait(1.0)
            if self._closing.is_set() or not self._queue:
                return None
            return self._queue.popleft()

    def _run(self) -> None:
        session = guard_session(requests.Session(), self._policy)
        session.trust_env = False  # no proxy from the environment, no credentials from ~/.netrc
        try:
            while (delivery := self._next()) is not None:
                self._deliver(session, delivery)
            self._summarise()
        finally:
            session.close()

    def _summarise(self) -> None:
        if self.sent_pages or self._dropped:
            dropped = f"; {self._dropped} dropped: the receiver was too slow to keep up" if self._dropped else ""
            self._log.line("warning" if self._dropped else "info",
                           f"webhook: {self.sent_pages} page deliveries to {self._where}{dropped}")
        left = len(self._queue)
        if left:
            self._log.line("warning", f"webhook: {left} deliveries to {self._where} not sent: the server shut down")

    def _deliver(self, session: requests.Session, delivery: Delivery) -> None:
        delay = self.BACKOFF
        for attempt in range(1, self.ATTEMPTS + 1):
            outcome, retry = self._attempt(session, delivery, attempt)
            if outcome is None:
                self.delivered.append(delivery.id)
                if delivery.event == "page":
                    self.sent_pages += 1
                else:
                    self._log.line("info", f"webhook {delivery.event} delivered to {self._where} "
                                           f"(delivery {delivery.id[:8]}, try {attempt})")
                return
            if not retry or attempt == self.ATTEMPTS:
                self.failed.append(delivery.id)
                tries = f" after {attempt} tries" if attempt > 1 else ""
                self._log.line("error", f"webhook {delivery.event} to {self._where} failed{tries}: {outcome}")
                return
            self._log.line("warning", f"webhook {delivery.event} to {self._where}: {outcome}; "
                                      f"trying again in {delay:g} s (try {attempt} of {self.ATTEMPTS})")
            if self._closing.wait(delay):
                self.failed.append(delivery.id)
                return
            delay = min(delay * 2, self.MAX_BACKOFF)

    def _attempt(self, session: requests.Session, delivery: Delivery, attempt: int) -> tuple[str | None, bool]:
        """(None, _) when delivered; else (why, whether trying again may help)."""
        headers = {**dict(self.config.headers), "Content-Type": "application/json", "User-Agent": self._user_agent,
                   EVENT_HEADER: delivery.event, DELIVERY_HEADER: delivery.id, ATTEMPT_HEADER: str(attempt)}
        if self.config.secret:
            headers[SIGNATURE_HEADER] = sign(self.config.secret, delivery.body)
        try:
            with DEADLINES.limit(time.monotonic() + self.RESPONSE_TIMEOUT):
                response = session.post(self.config.url, data=delivery.body, headers=headers, stream=True,
                                        allow_redirects=False, timeout=(self.CONNECT_TIMEOUT, self.RESPONSE_TIMEOUT))
            if DEADLINES.expired():
                response.close()
                return f"no answer within {self.RESPONSE_TIMEOUT:g} s", True
        except BlockedAddress as exc:
            return f"refused: {exc.address} is a {exc.reason} address (webhooks reach public addresses only)", False
        except requests.RequestException as exc:
            if DEADLINES.expired():
                return f"no answer within {self.RESPONSE_TIMEOUT:g} s", True
            return f"could not connect ({type(exc).__name__})", True
        status = response.status_code
        response.close()  # the body is never read: a huge answer costs nothing
        if 200 <= status < 300:
            return None, False
        if 300 <= status < 400:
            return f"answered {status}, a redirect (redirects are not followed)", False
        return f"answered {status}", status >= 500 or status in (408, 429)


def _finished_pages(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    finished = {PageStatus.OK.value, PageStatus.FAILED.value, PageStatus.SKIPPED.value}
    return [{key: page.get(key) for key in ("url", "status", "title", "depth", "reason", "error")}
            for page in pages if page.get("status") in finished]


def change_data(report: dict[str, Any]) -> dict[str, Any]:
    """The `changes` body: the counts and the URLs new, changed and removed (no diffs)."""
    def urls(key: str) -> list[str]:
        return [entry if isinstance(entry, str) else str(entry.get("url")) for entry in report.get(key) or []]

    lists = {key: urls(key) for key in ("new", "changed", "removed")}
    return {"refresh_of": report.get("refresh_of"), "state": report.get("state"), "complete": report.get("complete"),
            "counts": report.get("counts"), **{key: value[:MAX_LISTED_URLS] for key, value in lists.items()},
            "truncated": any(len(value) > MAX_LISTED_URLS for value in lists.values()),
            "report": f"/api/crawls/{report.get('crawl_id')}/changes"}


class CrawlWebhooks:
    """A crawl's webhooks: the sink its controller emits to (`sink`), the log it writes, and the
    dispatcher; the job calls `changes` and `ended` after the run."""

    def __init__(self, crawl_id: str, config: WebhookConfig, sink: EventSink, *, allow_private_targets: bool,
                 user_agent: str) -> None:
        self.log = CrawlLog(sink)
        self.dispatcher = WebhookDispatcher(crawl_id, config, self.log, user_agent=user_agent,
                                            policy=None if allow_private_targets else non_public_reason)
        self.sink = WebhookSink(sink, self.dispatcher)

    def attach(self, tracker: ProgressTracker) -> None:
        self.log.attach(tracker)

    def changes(self, report: dict[str, Any]) -> None:
        self.dispatcher.post("changes", change_data(report))

    def ended(self) -> None:
        self.log.end()
        self.dispatcher.end()


class WebhookSink:
    """An EventSink forwarding every event, and queueing the webhook events they mean."""

    def __init__(self, forward: EventSink, dispatcher: WebhookDispatcher) -> None:
        self._forward = forward
        self._dispatcher = dispatcher
        self._started = False

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        self._forward.emit(event, payload)
        try:
            self._queue(event, payload)
        except Exception:  # a webhook never stops a crawl
            log.exception("crawl %s: could not queue a webhook for %s", self._dispatcher.crawl_id, event)

    def _queue(self, event: str, payload: dict[str, Any]) -> None:
        post = self._dispatcher.post
        if event == Event.STATUS.value and not self._started and payload.get("state") in (State.DISCOVERING,
                                                                                            State.RUNNING):
            self._started = True
            post("started", {"state": payload.get("state"), "message": payload.get("message")})
        elif event == Event.PAGE.value:
            pages = _finished_pages(payload.get("pages") or [])
            if pages:
                post("page", {"pages": pages})
        elif event == Event.FINISHED.value:
            state = payload.get("state")
            summary = payload.get("summary") or {}
            if state in (State.COMPLETED, State.STOPPED):
                post("completed", {"state": state, "summary": summary})
            elif state == State.FAILED:
                post("failed", {"state": state, "summary": summary, "error": summary.get("stop_reason")})
