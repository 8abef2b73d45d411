"""The engine's exceptions and the HTTP statuses they are decided by, in one place.

A page ends as one of: saved, `PageSkipped` (not a page to keep: not HTML, out of scope, a soft
404), `FetchFailed` (could not be had), `TransientFailure` (worth another try later). The crawl's
stop signal surfaces as `StopRequested` wherever a page is in progress.
"""

from __future__ import annotations

# A server that answers these asks the whole host to slow down; these are worth another try.
SLOW_DOWN_STATUSES = (429, 503)
TRANSIENT_STATUSES = (408, 425, 429, 500, 502, 503, 504)


class StopRequested(Exception):
    """The crawl's stop signal was set while this page was in progress."""


class PageProblem(Exception):
    """Why a page was not saved: `reason` for the person reading the log, `code` a short word
    for counting (not_html, redirect, fetch_error...), and the HTTP status when there was one."""

    default_code = "problem"

    def __init__(self, reason: str, http_status: int | None = None, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status
        self.code = code or self.default_code


class PageSkipped(PageProblem):
    """The URL is not a page to store (not HTML, redirected out of scope...)."""

    default_code = "skipped"


class FetchFailed(PageProblem):
    """The page could not be fetched."""

    default_code = "fetch_error"


class TransientFailure(FetchFailed):
    """Worth another try later: timeouts, resets, 5xx, 429.

    `slow_down` means the server asked the whole host to back off (SLOW_DOWN_STATUSES), and
    `retry_after` is its Retry-After in seconds, when it sent one.
    """

    default_code = "transient"

    def __init__(self, reason: str, http_status: int | None = None, *, slow_down: bool = False,
                 retry_after: float | None = None, code: str | None = None) -> None:
        super().__init__(reason, http_status, code)
        self.slow_down = slow_down
        self.retry_after = retry_after
