"""Fetching stage: one HTTP GET, read as a stream so a stop is honoured while bytes arrive.

Redirects are followed by hand, one hop at a time, so each hop can be checked against the
crawl's scope before it is requested. The content type is checked from the headers, before
the body is downloaded, so a PDF or an archive costs one round trip and no bytes.
"""

from __future__ import annotations

import email.utils
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import urljoin

import requests

from .netguard import AddressPolicy, BlockedAddress, guard_session

HTML_TYPES = ("text/html", "application/xhtml+xml")
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 10
READ_CHUNK = 64 * 1024


class StopRequested(Exception):
    """The crawl's stop signal was set while this page was in progress."""


class PageSkipped(Exception):
    """The URL is not a page to store (not HTML, redirected out of scope...).

    `reason` is for the person reading the log, `code` a short word for counting (not_html,
    redirect).
    """

    def __init__(self, reason: str, http_status: int | None = None, code: str = "skipped") -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status
        self.code = code


class FetchFailed(Exception):
    """The page could not be fetched: `reason` for people, `code` for counting."""

    def __init__(self, reason: str, http_status: int | None = None, code: str = "fetch_error") -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status
        self.code = code


class TransientFailure(FetchFailed):
    """Worth another try later: timeouts, resets, 5xx, 429.

    `slow_down` means the server asked the whole host to back off (429, 503), and
    `retry_after` is its Retry-After in seconds, when it sent one.
    """

    def __init__(self, reason: str, http_status: int | None = None, *, slow_down: bool = False,
                 retry_after: float | None = None, code: str = "transient") -> None:
        super().__init__(reason, http_status, code)
        self.slow_down = slow_down
        self.retry_after = retry_after


SLOW_DOWN_STATUSES = (429, 503)
TRANSIENT_STATUSES = (408, 425, 429, 500, 502, 503, 504)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


@dataclass
class FetchedPage:
    url: str
    http_status: int
    body: bytes
    encoding: str | None


def is_html(content_type: str | None) -> bool:
    """Pages without a Content-Type are given the benefit of the doubt."""
    if not content_type:
        return True
    return content_type.split(";", 1)[0].strip().lower() in HTML_TYPES


def charset_of(content_type: str | None) -> str | None:
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


class SessionPool:
    """One `requests.Session` per worker thread: connection reuse without sharing a Session."""

    def __init__(self, user_agent: str, address_policy: AddressPolicy | None = None) -> None:
        self._user_agent = user_agent
        self._address_policy = address_policy
        self._local = threading.local()
        self._all: list[requests.Session] = []
        self._lock = threading.Lock()

    def get(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = guard_session(requests.Session(), self._address_policy)
            session.headers["User-Agent"] = self._user_agent
            session.headers["Accept"] = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
            self._local.session = session
            with self._lock:
                self._all.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            sessions, self._all = self._all, []
        for session in sessions:
            session.close()


def read_body(response: requests.Response, stop: threading.Event, deadline: float,
              max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """Read the body chunk by chunk as it arrives, checking the stop signal between chunks."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if stop.is_set():
            raise StopRequested()
        if time.monotonic() > deadline:
            raise FetchFailed("the page took too long to download", code="too_slow")
        chunk = response.raw.read1(READ_CHUNK, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise FetchFailed(f"page larger than {max_bytes // (1024 * 1024)} MB", code="too_large")
        chunks.append(chunk)


def fetch_page(session: requests.Session, url: str, *, timeout: float, stop: threading.Event,
               check_redirect: Callable[[str], str | None]) -> FetchedPage:
    """GET `url`, following in-scope redirects; raise PageSkipped / FetchFailed / StopRequested.

    `check_redirect(target)` returns None to follow a redirect, or the reason to refuse it.
    """
    deadline = time.monotonic() + 3 * timeout
    visited = {url}
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        if stop.is_set():
            raise StopRequested()
        try:
            response = session.get(current, timeout=timeout, stream=True, allow_redirects=False)
        except BlockedAddress as exc:
            raise FetchFailed(str(exc), code="blocked_address") from None
        except requests.Timeout:
            raise TransientFailure(f"timed out after {timeout:g} s", code="timeout") from None
        except requests.ConnectionError as exc:
            raise TransientFailure(f"connection failed: {_short(exc)}", code="connection") from None
        except requests.RequestException as exc:
            raise FetchFailed(f"request failed: {_short(exc)}") from None
        with response:
            if response.is_redirect:
                target = urljoin(current, response.headers.get("Location", ""))
                if target in visited:
                    raise FetchFailed(f"redirect loop at {target}", response.status_code, code="redirect_loop")
                refusal = check_redirect(target)
                if refusal:
                    raise PageSkipped(f"redirected to {target}: {refusal}", response.status_code, code="redirect")
                visited.add(target)
                current = target
                continue
            if response.status_code >= 400:
                reason = f"HTTP {response.status_code} {response.reason or ''}".strip()
                if response.status_code in TRANSIENT_STATUSES:
                    raise TransientFailure(reason, response.status_code, code="http_error",
                                           slow_down=response.status_code in SLOW_DOWN_STATUSES,
                                           retry_after=parse_retry_after(response.headers.get("Retry-After")))
                raise FetchFailed(reason, response.status_code, code="http_error")
            content_type = response.headers.get("Content-Type")
            if not is_html(content_type):
                raise PageSkipped(f"not HTML ({content_type.split(';')[0].strip()})", response.status_code,
                                  code="not_html")
            try:
                body = read_body(response, stop, deadline)
            except (requests.RequestException, OSError) as exc:
                raise TransientFailure(f"download interrupted: {_short(exc)}", response.status_code,
                                       code="interrupted") from None
            except Exception as exc:  # urllib3 read errors (timeouts, protocol errors) are not RequestExceptions
                if isinstance(exc, (StopRequested, FetchFailed)):
                    raise
                raise TransientFailure(f"download interrupted: {_short(exc)}", response.status_code,
                                       code="interrupted") from None
            return FetchedPage(current, response.status_code, body, charset_of(content_type))
    raise FetchFailed(f"more than {MAX_REDIRECTS} redirects", code="redirect_loop")


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
