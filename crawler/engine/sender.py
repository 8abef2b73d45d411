"""The one thread per crawl that emits its events, reading the progress tracker.

Workers never emit: they update the tracker. This thread wakes a few times a second, takes a
snapshot and the pending page and log events, and emits them: one emitter per crawl (Socket.IO
emits are not safe from many threads at once), natural throttling, small payloads however fast
pages finish. `crawler_finished` is retried rather than dropped (SafeSink.emit_final).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from crawler.engine.events import Event, EventSink, SafeSink, State, iso_timestamp
from crawler.engine.progress import ProgressTracker


class ProgressSender:
    """The one thread that emits a crawl's events: ≤ 5 snapshots/s, ≥ 1/s while running."""

    INTERVAL = 0.2
    HEARTBEAT = 1.0

    def __init__(self, tracker: ProgressTracker, sink: EventSink) -> None:
        self._tracker = tracker
        self._sink = sink
        self._wake = threading.Event()
        self._finished_payload: dict[str, Any] | None = None
        self._last_signature: Any = None
        self._last_sent = 0.0
        self.latest: dict[str, Any] | None = None
        self._thread = threading.Thread(target=self._run, name=f"sender-{tracker.crawl_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self, state: State, summary: dict[str, Any], timeout: float = 5.0) -> None:
        """Flush everything, send the last snapshot and `crawler_finished`, end the thread."""
        self._finished_payload = {"crawl_id": self._tracker.crawl_id, "state": state.value, "summary": summary}
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        else:  # never started (e.g. stopped while queued): send from here, still one sender
            self._flush(force=True)
            self._emit_finished()

    def nudge(self) -> None:
        """Send soon (a state change the person is waiting to see, like 'stopping')."""
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.INTERVAL)
            self._wake.clear()
            if self._finished_payload is not None:
                self._flush(force=True)
                self._emit_finished()
                return
            self._flush(force=False)

    def _emit_finished(self) -> None:
        """`crawler_finished` is retried on failure (SafeSink.emit_final), not dropped like the rest."""
        assert self._finished_payload is not None
        sink = self._sink if isinstance(self._sink, SafeSink) else SafeSink(self._sink)
        sink.emit_final(Event.FINISHED.value, self._finished_payload)

    def _flush(self, force: bool) -> None:
        self._tracker.flush_refusals(force)
        statuses, pages, logs, dropped = self._tracker.drain()
        for status in statuses:
            self._sink.emit(Event.STATUS.value, status)
        if pages:
            self._sink.emit(Event.PAGE.value, {"crawl_id": self._tracker.crawl_id, "pages": pages})
        if dropped:
            self._sink.emit(Event.LOG.value, {"crawl_id": self._tracker.crawl_id, "seq": None, "level": "warning",
                                              "message": f"{dropped} log lines skipped to keep up",
                                              "timestamp": iso_timestamp()})
        for line in logs:
            self._sink.emit(Event.LOG.value, line)
        snapshot = self._tracker.snapshot()
        self.latest = snapshot
        signature = {k: v for k, v in snapshot.items() if k not in ("timestamp", "elapsed", "speed", "eta")}
        now = time.monotonic()
        if force or statuses or signature != self._last_signature or now - self._last_sent >= self.HEARTBEAT:
            self._sink.emit(Event.PROGRESS.value, snapshot)
            self._last_signature, self._last_sent = signature, now
