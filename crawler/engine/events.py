"""The event contract between the engine and whatever listens (docs/events.md).

The engine emits through an :class:`EventSink`: a plain object with ``emit(name, payload)``.
The web layer plugs in a Socket.IO sink; the CLI prints; tests record. A later worker process
can plug in a message-queue sink without the engine changing.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Event(StrEnum):
    STATUS = "crawler_status"
    PROGRESS = "crawler_detailed_progress"
    PAGE = "crawler_page"
    LOG = "crawler_log"
    FINISHED = "crawler_finished"


class State(StrEnum):
    QUEUED = "queued"
    DISCOVERING = "discovering"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # cut off by a server crash or shutdown; resumable

    @property
    def is_final(self) -> bool:
        return self in (State.STOPPED, State.COMPLETED, State.FAILED, State.INTERRUPTED)

    @property
    def is_resumable(self) -> bool:
        """A crawl that ended before its frontier was exhausted can be continued where it stopped."""
        return self in (State.STOPPED, State.INTERRUPTED)


class PageStatus(StrEnum):
    """How a page handled ended: its `status` in manifest.jsonl, crawler_page events and the counts."""

    OK = "ok"  # saved (a discovery: fetched)
    FAILED = "failed"
    SKIPPED = "skipped"


class CrawlKind(StrEnum):
    """A crawl saves pages; a discovery only lists the site's pages (and may fill a page cache)."""

    CRAWL = "crawl"
    DISCOVERY = "discovery"


class Stage(StrEnum):
    FETCHING = "fetching"
    RENDERING = "rendering"  # only pages that need JavaScript (crawler/render/)
    PARSING = "parsing"
    EXTRACTING = "extracting"
    STORING = "storing"
    DONE = "done"


STAGE_ORDER = {stage: index for index, stage in enumerate(Stage)}
STAGE_TIMERS = ("fetch", "render", "parse", "extract", "store")

# Payload fields per event, as documented; tests check docs/events.md names every one of them.
PAYLOAD_FIELDS: dict[Event, tuple[str, ...]] = {
    Event.STATUS: ("crawl_id", "state", "message", "timestamp"),
    Event.PROGRESS: ("session_id", "crawl_id", "state", "current", "total", "total_final",
                     "total_estimate", "total_range", "percent",
                     "current_url", "stage", "speed", "eta", "eta_range", "elapsed", "ok", "failed", "skipped",
                     "in_flight", "queued", "discovered", "stages", "stage_seconds", "skip_reasons",
                     "refused", "reused", "backoff", "rendered", "timestamp"),
    Event.PAGE: ("crawl_id", "pages"),
    Event.LOG: ("crawl_id", "seq", "level", "message", "timestamp"),
    Event.FINISHED: ("crawl_id", "state", "summary"),
}
PAGE_FIELDS = ("url", "stage", "status", "title", "depth", "source", "reason", "error", "timestamp")


class EventSink(Protocol):
    def emit(self, event: str, payload: dict[str, Any]) -> None: ...


FINAL_EMIT_ATTEMPTS = 5
FINAL_EMIT_BACKOFF = 0.1  # seconds before the 2nd try, doubling: 1.5 s of waiting at most


class SafeSink:
    """Wraps a sink so a failing listener (a dead socket) is logged and never stops a crawl."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        try:
            self._sink.emit(event, payload)
        except Exception:
            log.exception("event sink failed on %s", event)

    def emit_final(self, event: str, payload: dict[str, Any], attempts: int = FINAL_EMIT_ATTEMPTS,
                   backoff: float = FINAL_EMIT_BACKOFF) -> bool:
        """The one event a listener cannot do without (`crawler_finished`): tried a few times with
        a short back-off, so one transient failure does not leave the listener thinking the
        crawl still runs. If every try fails, an error is logged; the crawl still ends."""
        delay = backoff
        for attempt in range(1, attempts + 1):
            try:
                self._sink.emit(event, payload)
                return True
            except Exception:
                if attempt == attempts:
                    log.exception("%s could not be delivered after %d tries: the listener was not told "
                                  "that crawl %s ended", event, attempts, payload.get("crawl_id"))
                    return False
                log.warning("event sink failed on %s (try %d of %d); retrying in %g s", event, attempt,
                            attempts, delay, exc_info=True)
                time.sleep(delay)
                delay *= 2
        return False


class RecordingSink:
    """Keeps every event in order, for tests and tools that inspect a crawl afterwards."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        self.events.append((event, payload))

    def of(self, event: Event) -> list[dict[str, Any]]:
        return [payload for name, payload in self.events if name == event.value]


def iso_timestamp(moment: datetime | None = None) -> str:
    """ISO 8601, UTC, milliseconds: 2026-11-23T18:40:12.345Z."""
    global _second_text
    if moment is None:  # now: the second's text is made once a second (this runs several times per page)
        moment = datetime.now(UTC)
        second = moment.replace(microsecond=0)
        made_for, prefix = _second_text
        if second != made_for:
            prefix = second.strftime("%Y-%m-%dT%H:%M:%S.")
            _second_text = (second, prefix)
        return prefix + f"{moment.microsecond // 1000:03d}Z"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_second_text: tuple[datetime | None, str] = (None, "")
