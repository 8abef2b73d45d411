"""The engine's measurement hook: what a host that keeps metrics is told about each page.

The controller calls these methods from its worker threads; the default does nothing. A host
that exports metrics (the web server's ``/metrics``) passes an object with the same methods.
The engine itself imports nothing of the metrics library.
"""

from __future__ import annotations

from typing import Protocol


class CrawlStats(Protocol):
    def stage_time(self, stage: str, seconds: float) -> None:
        """One page spent `seconds` in a stage timer (`fetch`, `parse`, `extract`, `store`);
        `fetch` is the page's fetch latency, from the request to the last body byte."""

    def downloaded_bytes(self, size: int) -> None:
        """A page's body of `size` bytes was downloaded."""

    def page_done(self, status: str, reason: str | None) -> None:
        """A page was handled: `ok`, `failed` or `skipped`, with its reason code (or None)."""

    def retry(self, backoff: bool) -> None:
        """A transient failure will be retried; `backoff` when its host backs off (429/503)."""


class NoStats:
    """The default: nothing is measured."""

    def stage_time(self, stage: str, seconds: float) -> None:
        pass

    def downloaded_bytes(self, size: int) -> None:
        pass

    def page_done(self, status: str, reason: str | None) -> None:
        pass

    def retry(self, backoff: bool) -> None:
        pass
