"""Socket.IO events through Redis: every web server relays what any process publishes.

python-socketio's RedisManager, with three changes for a crawler: a worker's publish fails fast and
says so (the worker's sink then skips the queue for a moment instead of blocking its sender); a
web server that lost Redis re-subscribes within a couple of seconds (the library backs off to a
minute), so the dashboards get live events again soon after Redis is back; and an idle
subscription is not a failure. The library reads with `listen()`, which on a connection with a
socket timeout raises after every quiet `socket_timeout` seconds: it re-subscribed each time and
lost what was published meanwhile. Here the subscriber waits with `get_message(timeout=...)`,
which answers None when nothing came; the connection's health check (a PING every
`health_check_interval` seconds while idle) is what notices a Redis that went away.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import socketio

from crawler.engine.events import Event

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "crawler-dashboard"
REDIS_OPTIONS = {"socket_timeout": 2, "socket_connect_timeout": 1, "health_check_interval": 10}
RESUBSCRIBE_CAP = 2.0
LISTEN_WAIT = 1.0  # one wait for a message; below socket_timeout, so a quiet channel never times out


class EventQueue(socketio.RedisManager):
    connected: bool  # set by RedisManager

    def __init__(self, url: str, *, write_only: bool = False, raise_on_failure: bool = False) -> None:
        super().__init__(url, channel=EVENTS_CHANNEL, write_only=write_only, redis_options=dict(REDIS_OPTIONS))
        self._raise = raise_on_failure

    def _publish(self, data: Any) -> Any:
        if not self._raise:
            return super()._publish(data)
        try:
            if not self.connected:
                self._redis_connect()
            return self.redis.publish(self.channel, self.json.dumps(data))
        except Exception:
            self.connected = False
            raise

    def _redis_listen_with_retries(self) -> Iterator[Any]:  # pragma: no cover - exercised by the cluster tests
        retry = 0.25
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    self.pubsub.subscribe(self.channel)
                    subscribed, retry = True, 0.25
                while True:
                    message = self.pubsub.get_message(timeout=LISTEN_WAIT)
                    if message is not None:
                        yield message
            except Exception as exc:  # noqa: BLE001 - Redis down or the connection broken: subscribe again
                log.warning("event queue: cannot receive from Redis (%s); retrying in %.2g s", exc, retry)
                subscribed = False
                time.sleep(retry)
                retry = min(retry * 2, RESUBSCRIBE_CAP)


class QueueSink:
    """An EventSink for a worker: one crawl's events to its owner's room, through the queue.

    While the queue fails, events are skipped for `RETRY_AFTER` seconds rather than each one
    waiting out a connection timeout (the next progress snapshot repairs every view); the final
    `crawler_finished` is always tried."""

    RETRY_AFTER = 1.0

    def __init__(self, queue: EventQueue, room: str) -> None:
        self._queue = queue
        self._room = room
        self._failed_at: float | None = None

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        if (self._failed_at is not None and event != Event.FINISHED.value
                and time.monotonic() - self._failed_at < self.RETRY_AFTER):
            return
        try:
            self._queue.emit(event, payload, namespace="/", room=self._room)
        except Exception:
            self._failed_at = time.monotonic()
            raise
        self._failed_at = None
