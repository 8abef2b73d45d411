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
import os
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from crawler.engine.config import WebhookConfig
from crawler.engine.events import Event, EventSink, PageStatus, SafeSink, State, iso_timestamp
from crawler.engine.netguard import DEADLINES, AddressPolicy, BlockedAddress, guard_session, non_public_reason
from crawler.engine.progress import ProgressTracker
from crawler.service.records import CrawlRecord

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


OUTBOX_FILE = "webhooks.jsonl"  # in the crawl folder: the posts still owed to the receiver (all but `page`)
DELIVERY_ID = re.compile(r"^[0-9a-f]{32}$")
OWED_EVENTS = ("started", "completed", "failed", "changes")  # kept until delivered; `page` posts are not
MAX_OUTBOX_BYTES = 8 * 1024 * 1024


class Outbox:
    """The posts a crawl still owes its receiver, kept in its folder so that a restart does not
    lose them: a line `{"id", "event", "body"}` when a post is queued, a line `{"id", "end"}` when
    it was delivered or given up on. Owed = queued without an end. Lines that do not read back as
    such (a torn last line, other hands) are skipped."""

    def __init__(self, crawl_dir: Path) -> None:
        self.path = Path(crawl_dir) / OUTBOX_FILE
        self._lock = threading.Lock()

    def add(self, delivery: Delivery) -> None:
        self._append({"id": delivery.id, "event": delivery.event, "body": delivery.body.decode("utf-8")})

    def end(self, delivery_id: str, how: str) -> None:
        self._append({"id": delivery_id, "end": how})

    def owed(self) -> list[Delivery]:
        try:
            if self.path.stat().st_size > MAX_OUTBOX_BYTES:
                log.warning("%s is larger than %d bytes: not read", self.path, MAX_OUTBOX_BYTES)
                return []
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        queued: dict[str, Delivery] = {}
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not DELIVERY_ID.match(entry["id"]):
                continue
            if "end" in entry:
                queued.pop(entry["id"], None)
            elif entry.get("event") in OWED_EVENTS and isinstance(entry.get("body"), str):
                queued[entry["id"]] = Delivery(entry["id"], entry["event"], entry["body"].encode("utf-8"))
        return list(queued.values())

    def _append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                if not self.path.parent.is_dir():
                    return  # the crawl was deleted
                with open(self.path, "a", encoding="utf-8") as handle:
                    handle.write(line)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as exc:  # a full disk: the post still goes out, only a restart would forget it
                log.warning("could not record webhook %s in %s: %s", entry.get("id"), self.path, exc)


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
                 policy: AddressPolicy | None, user_agent: str, outbox: Outbox | None = None) -> None:
        self.crawl_id = crawl_id
        self._outbox = outbox
        self.config = config
        self._log = crawl_log
        self._policy = policy
        self._user_agent = user_agent
        self._queue: deque[Delivery] = deque()
        self._cond = threading.Condition()
        self._ended = False
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._running = False  # a delivery thread is taking from the queue (set and cleared under _cond)
        self._dropped = 0
        self._down = False  # the last post was given up on (see _deliver)
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
        if event == "page":
            with self._cond:
                if len(self._queue) >= self.MAX_QUEUED:
                    self._dropped += 1
                    return None
        elif self._outbox is not None:
            self._outbox.add(delivery)
        self._enqueue(delivery)
        return delivery

    def resend(self, deliveries: list[Delivery]) -> None:
        """Posts an earlier run owed (its outbox): queued first, with their ids and bodies."""
        for delivery in deliveries:
            self._enqueue(delivery)

    def _enqueue(self, delivery: Delivery) -> None:
        with self._cond:
            self._queue.append(delivery)
            if not self._running:  # the first post, or one that came after the thread had finished
                self._running = True
                self._thread = threading.Thread(target=self._run, name=f"webhooks-{self.crawl_id}", daemon=True)
                self._thread.start()
            self._cond.notify()

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
                self._running = False
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
            dropped = (f"; {self._dropped} not sent: the receiver was down or too slow to keep up"
                       if self._dropped else "")
            self._log.line("warning" if self._dropped else "info",
                           f"webhook: {self.sent_pages} page deliveries to {self._where}{dropped}")
        left = len(self._queue)
        if left:
            self._log.line("warning", f"webhook: {left} deliveries to {self._where} not sent: the server shut down "
                                      "(all but page posts are sent when the crawl runs again, or the server starts)")

    def _deliver(self, session: requests.Session, delivery: Delivery) -> None:
        """Post until it gets through, or give up. A receiver that made the last post give up is
        `down`: until a post gets through again, each post has one try and `page` posts are dropped
        (counted), so a dead receiver costs a minute, not one per page."""
        if self._down and delivery.event == "page":
            self._dropped += 1
            self.failed.append(delivery.id)
            return
        attempts = 1 if self._down else self.ATTEMPTS
        delay = self.BACKOFF
        for attempt in range(1, attempts + 1):
            outcome, retry = self._attempt(session, delivery, attempt)
            if outcome is None:
                self._down = False
                self._settle(delivery, "delivered")
                self.delivered.append(delivery.id)
                if delivery.event == "page":
                    self.sent_pages += 1
                else:
                    self._log.line("info", f"webhook {delivery.event} delivered to {self._where} "
                                           f"(delivery {delivery.id[:8]}, try {attempt})")
                return
            if not retry or attempt == attempts:
                self._settle(delivery, "given up")
                self.failed.append(delivery.id)
                tries = f" after {attempt} tries" if attempt > 1 else ""
                dropping = "" if self._down else "; until a post gets through, page posts are dropped"
                self._log.line("error", f"webhook {delivery.event} to {self._where} failed{tries}: {outcome}{dropping}")
                self._down = True
                return
            self._log.line("warning", f"webhook {delivery.event} to {self._where}: {outcome}; "
                                      f"trying again in {delay:g} s (try {attempt} of {attempts})")
            if self._closing.wait(delay):
                self.failed.append(delivery.id)
                return
            delay = min(delay * 2, self.MAX_BACKOFF)

    def _settle(self, delivery: Delivery, how: str) -> None:
        if self._outbox is not None and delivery.event != "page":
            self._outbox.end(delivery.id, how)

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
                 user_agent: str, crawl_dir: Path | None = None) -> None:
        self.log = CrawlLog(sink)
        outbox = Outbox(crawl_dir) if crawl_dir is not None else None
        self.dispatcher = WebhookDispatcher(crawl_id, config, self.log, user_agent=user_agent, outbox=outbox,
                                            policy=None if allow_private_targets else non_public_reason)
        self.sink = WebhookSink(sink, self.dispatcher)
        if outbox is not None:  # what an earlier run of this crawl still owed (its process died)
            self.dispatcher.resend(outbox.owed())

    def attach(self, tracker: ProgressTracker) -> None:
        self.log.attach(tracker)

    def changes(self, report: dict[str, Any]) -> None:
        self.dispatcher.post("changes", change_data(report))

    def ended(self) -> None:
        self.log.end()
        self.dispatcher.end()


def resend_owed(records: Iterable[CrawlRecord], data_dir: Path, *, allow_private_targets: bool) -> int:
    """At a server's start: the posts still owed by crawls that ended (completed, stopped,
    failed) before their process could deliver them, sent again (same ids, same bodies) from a
    thread per crawl; their outcome goes to the server's log. Interrupted crawls are left to their
    resume. How many crawls owed posts."""
    owing = 0
    for record in records:
        if (record.config.webhook is None or not record.state.is_final or record.state == State.INTERRUPTED
                or not (Path(data_dir) / record.crawl_id / OUTBOX_FILE).is_file()):
            continue
        outbox = Outbox(Path(data_dir) / record.crawl_id)
        owed = outbox.owed()
        if not owed:
            continue
        owing += 1
        log.info("crawl %s: sending %d webhook posts again (owed when the server stopped)", record.crawl_id, len(owed))
        dispatcher = WebhookDispatcher(record.crawl_id, record.config.webhook, CrawlLog(SafeSink(_NoSink())),
                                       policy=None if allow_private_targets else non_public_reason,
                                       user_agent=record.config.user_agent, outbox=outbox)
        dispatcher.resend(owed)
        dispatcher.end()
    return owing


class _NoSink:
    def emit(self, event: str, payload: dict[str, Any]) -> None:
        pass


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
