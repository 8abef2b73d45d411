"""Engine events → the crawl-state store, then on to the listeners.

Whichever process runs a crawl (the web server's thread or a worker) wraps its outgoing sink in a
:class:`StateSink`, so the store always holds what the listeners were told: the state from
`crawler_status`, the latest `crawler_detailed_progress` snapshot, the recent log and page
transitions, and the summary from `crawler_finished`. The store is written before the event is
passed on, so a client that reacts to an event by asking the REST API sees at least that much.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from crawler.engine.events import Event, EventSink, State
from crawler.service.records import CrawlStates

log = logging.getLogger(__name__)


class StateSink:
    """An EventSink recording each event of one crawl into the store, then forwarding it.

    A store that fails (Redis unreachable) never stops the crawl or the events: the failure is
    logged once per outage and the store is skipped for `RETRY_AFTER` seconds; the next snapshot
    after that repairs it (every progress event carries the whole picture).
    """

    RETRY_AFTER = 1.0

    def __init__(self, states: CrawlStates, crawl_id: str, forward: EventSink) -> None:
        self._states = states
        self._crawl_id = crawl_id
        self._forward = forward
        self._failed_at: float | None = None

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        self._record(event, payload)
        self._forward.emit(event, payload)

    def _record(self, event: str, payload: dict[str, Any]) -> None:
        final = event == Event.FINISHED.value
        if self._failed_at is not None and not final and time.monotonic() - self._failed_at < self.RETRY_AFTER:
            return
        try:
            self._write(event, payload)
        except Exception as exc:  # noqa: BLE001 - any store failure: keep crawling, say so once
            if self._failed_at is None:
                log.warning("crawl %s: the state store failed (%s); events still go out, the store catches "
                            "up when it is back", self._crawl_id, exc)
            self._failed_at = time.monotonic()
        else:
            if self._failed_at is not None:
                log.info("crawl %s: the state store is reachable again", self._crawl_id)
            self._failed_at = None

    def _write(self, event: str, payload: dict[str, Any]) -> None:
        states, crawl_id = self._states, self._crawl_id
        if event == Event.PROGRESS.value:
            states.set_progress(crawl_id, payload)
        elif event == Event.STATUS.value:
            states.set_state(crawl_id, State(payload["state"]), payload.get("message", ""))
        elif event == Event.LOG.value:
            states.add_recent(crawl_id, [payload], [])
        elif event == Event.PAGE.value:
            states.add_recent(crawl_id, [], payload.get("pages", []))
        elif event == Event.FINISHED.value:
            states.finish(crawl_id, State(payload["state"]), payload["summary"])
