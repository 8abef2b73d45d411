"""Fetching stage: one HTTP GET, read as a stream so a stop is honoured while bytes arrive.

Redirects are followed by hand, one hop at a time, so each hop can be checked against the
crawl's scope before it is requested. The content type is checked from the headers, before
the body is downloaded, so a PDF or an archive costs one round trip and no bytes.
"""

from __future__ import annotations

import email.utils
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from crawler.engine.errors import (
    SLOW_DOWN_STATUSES,
    TRANSIENT_STATUSES,
    FetchFailed,
    PageSkipped,
    StopRequested,
    TransientFailure,
)
from crawler.engine.netguard import (
    DASHBOARD_HEADER,
    DASHBOARD_REFUSAL,
    DEADLINES,
    AddressPolicy,
    BlockedAddress,
    guard_session,
)
from crawler.engine.signals import StopSignal

HTML_TYPES = ("text/html", "application/xhtml+xml")
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 10
READ_CHUNK = 64 * 1024




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
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class FetchedPage:
    url: str
    http_status: int
    body: bytes
    encoding: str | None
    etag: str | None = None  # the response's validators, kept for a later conditional request
    last_modified: str | None = None
    not_modified: bool = False  # a 304 to a conditional request: no body, the earlier one holds


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


class CrawlSession(requests.Session):
    """A `requests.Session` that reads the environment's proxy and CA settings once per origin.

    requests reads them on every request (`merge_environment_settings`: every variable of the
    environment scanned for proxies, then `no_proxy` matched): ~0.25 ms of a fetch's ~0.7 ms of
    Python, with the GIL held. They are the same for every page of a host, so the first request
    to a scheme and host computes them and the next ones reuse them. `HTTP(S)_PROXY`, `NO_PROXY`
    and `REQUESTS_CA_BUNDLE` keep their meaning; a change to them reaches the next session.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[str, str, Any, Any, Any], dict[str, Any]] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> dict[str, Any]:
        if proxies:  # proxies given for this request: requests' own way, nothing kept
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        scheme, netloc = urlsplit(url)[:2]
        key = (scheme, netloc, stream, verify, cert)
        settings = self._environment.get(key)
        if settings is None:
            settings = self._environment[key] = super().merge_environment_settings(url, {}, stream, verify, cert)
        return {**settings, "proxies": dict(settings["proxies"])}


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
            session = guard_session(CrawlSession(), self._address_policy)
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


def looks_binary(head: bytes, encoding: str | None = None) -> bool:
    """True when the first bytes of a body served as HTML are not text (an image, an archive...).

    A known file signature decides at once. Otherwise it is the share of bytes that text never
    contains (WHATWG's "binary data bytes": controls other than tab, newlines, form feed and
    escape): random or compressed data has about 11 %, any text in any 8-bit or UTF-8 encoding
    close to none. UTF-16/32 text is full of NULs, so it is never judged by its bytes.
    """
    if head.startswith(BINARY_SIGNATURES):
        return True
    wide = (encoding or "").lower().replace("-", "").replace("_", "").startswith(("utf16", "utf32"))
    if wide or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    binary = len(head) - len(head.translate(None, _BINARY_DATA_BYTES))
    return binary >= 2 and binary * 32 > len(head)


BINARY_SIGNATURES = (b"\x89PNG", b"GIF87a", b"GIF89a", b"\xff\xd8\xff", b"%PDF-", b"PK\x03\x04", b"\x1f\x8b",
                     b"7z\xbc\xaf\x27\x1c", b"\x7fELF", b"\x00asm", b"\xd0\xcf\x11\xe0")
_BINARY_DATA_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20)])
SNIFF_BYTES = 1024


def read_body(response: requests.Response, stop: StopSignal, deadline: float,
              max_bytes: int = MAX_BODY_BYTES, *, sniff_encoding: str | None = None,
              sniff: bool = False, truncate: bool = False) -> bytes:
    """Read the body chunk by chunk as it arrives, checking the stop signal between chunks.

    Sizes count decoded bytes and each read asks for at most READ_CHUNK of them, so a gzip or
    deflate bomb is stopped after max_bytes of output, never inflated whole. With `sniff`, the
    first SNIFF_BYTES are checked for binary data (PageSkipped, code `binary`) before the rest
    is downloaded. With `truncate`, a longer body is not an error: its first max_bytes are
    returned and the rest is never read (each read then asks only for what still fits).
    """
    chunks: list[bytes] = []
    size = 0
    sniffed = not sniff
    while True:
        if stop.is_set():
            raise StopRequested()
        if time.monotonic() > deadline:
            raise FetchFailed("the page took too long to download (it was still arriving at the time limit)",
                              code="too_slow")
        if truncate and size >= max_bytes:
            return b"".join(chunks)
        wanted = min(READ_CHUNK, max_bytes - size) if truncate else READ_CHUNK
        chunk = response.raw.read1(wanted, decode_content=True)
        if truncate:
            chunk = chunk[: max_bytes - size]
        if chunk:
            size += len(chunk)
            if size > max_bytes:
                raise FetchFailed(f"page larger than {max_bytes // (1024 * 1024)} MB (cut off while downloading)",
                                  code="too_large")
            chunks.append(chunk)
        if not sniffed and (size >= SNIFF_BYTES or not chunk):
            sniffed = True
            if looks_binary(b"".join(chunks)[:SNIFF_BYTES], sniff_encoding):
                raise PageSkipped("binary data served as HTML", code="binary")
        if not chunk:
            return b"".join(chunks)


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps: requests wraps urllib3, which wraps the socket error."""
    found: list[BaseException] = []
    pending: list[object] = [exc]
    while pending:
        item = pending.pop(0)
        if not isinstance(item, BaseException) or any(item is seen for seen in found):
            continue
        found.append(item)
        pending.extend(item.args)
        pending.extend((getattr(item, "reason", None), item.__cause__, item.__context__))
    return found


def _first(causes: list[BaseException], kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    return next((cause for cause in causes if isinstance(cause, kinds)), None)


def request_failure(exc: BaseException, url: str, timeout: float, *, during_body: bool = False,
                    http_status: int | None = None) -> FetchFailed:
    """Name what went wrong on the wire, and decide whether trying again can help.

    A name that does not resolve (`dns`), a TLS failure (`tls`) and a body that cannot be
    decoded (`bad_encoding`) will not fix themselves within a crawl: they fail at once. Refused
    and reset connections, timeouts and cut-off bodies are worth another try.
    """
    causes = _causes(exc)
    if _first(causes, (urllib3.exceptions.DecodeError,)):
        return FetchFailed("the body is not valid data of its Content-Encoding (corrupt compression)",
                           http_status, code="bad_encoding")
    resolution = _first(causes, (urllib3.exceptions.NameResolutionError, socket.gaierror))
    if resolution is not None:
        host = urlsplit(url).hostname or url
        detail = next((str(cause.strerror) for cause in causes if isinstance(cause, socket.gaierror)), "")
        return FetchFailed(f"cannot resolve host {host!r}" + (f" ({detail})" if detail else ""), code="dns")
    if _first(causes, (requests.exceptions.SSLError, ssl.SSLError)):
        return FetchFailed(f"TLS error: {_short(_first(causes, (ssl.SSLError,)) or exc)}", code="tls")
    incomplete = _first(causes, (http.client.IncompleteRead, urllib3.exceptions.IncompleteRead))
    if incomplete is not None:
        return TransientFailure("download interrupted: the connection closed before the whole body arrived "
                                f"({_short(incomplete)})", http_status, code="interrupted")
    # Before the timeouts: urllib3's "could not connect" error is a subclass of its connect timeout.
    if _first(causes, (ConnectionRefusedError,)):
        return TransientFailure("connection refused", code="connection")
    if _first(causes, (ConnectionResetError,)):
        if during_body:
            return TransientFailure("download interrupted: connection reset by the server", http_status,
                                    code="interrupted")
        return TransientFailure("connection reset by the server", code="connection")
    if _first(causes, (requests.exceptions.ConnectTimeout,)) or any(
            isinstance(cause, urllib3.exceptions.ConnectTimeoutError)
            and not isinstance(cause, urllib3.exceptions.NewConnectionError) for cause in causes):
        return TransientFailure(f"could not connect within {timeout:g} s", code="timeout")
    if _first(causes, (urllib3.exceptions.ReadTimeoutError, requests.exceptions.ReadTimeout, TimeoutError)):
        what = "no data" if during_body else "no response"
        return TransientFailure(f"{what} within {timeout:g} s" + (" while downloading" if during_body else ""),
                                http_status, code="timeout")
    if _first(causes, (http.client.RemoteDisconnected,)):
        return TransientFailure("the server closed the connection without a response", code="connection")
    if during_body:
        return TransientFailure(f"download interrupted: {_short(exc)}", http_status, code="interrupted")
    if _first(causes, (requests.ConnectionError,)):
        return TransientFailure(f"connection failed: {_short(exc)}", code="connection")
    return FetchFailed(f"request failed: {_short(exc)}")


def _response_headers(session: requests.Session, url: str, timeout: float, deadline: float,
                      too_slow: Callable[[], Exception], headers: dict[str, str] | None = None) -> requests.Response:
    """One GET up to its headers (body streamed later), without following redirects. Headers
    dribbled byte by byte count against the page's whole deadline: past it, `too_slow()` is
    raised; a refused address and request errors become named failures."""
    try:
        with DEADLINES.limit(deadline):
            response = session.get(url, timeout=timeout, stream=True, allow_redirects=False, headers=headers)
    except BlockedAddress as exc:
        raise FetchFailed(str(exc), code="blocked_address") from None
    except requests.RequestException as exc:
        if DEADLINES.expired():
            raise too_slow() from None
        raise request_failure(exc, url, timeout) from None
    if DEADLINES.expired():  # cut off mid-headers, the parser may have taken EOF for their end
        response.close()
        raise too_slow()
    if DASHBOARD_HEADER in response.headers:  # the crawler's own server, whatever address reached it
        response.close()
        raise FetchFailed(DASHBOARD_REFUSAL, response.status_code, code="blocked_address")
    return response


def fetch_page(session: requests.Session, url: str, *, timeout: float, stop: StopSignal,
               check_redirect: Callable[[str], str | None], conditional: dict[str, str] | None = None,
               answered: Callable[[str], None] | None = None) -> FetchedPage:
    """GET `url`, following in-scope redirects; raise PageSkipped / FetchFailed / StopRequested.

    `check_redirect(target)` returns None to follow a redirect, or the reason to refuse it.
    `conditional` (If-None-Match / If-Modified-Since) makes it a conditional request: a 304
    answer is a page with `not_modified` set and no body. `answered(url)` is called when each
    answer's headers arrive (a redirect's too): by then the site has surely seen the request.
    Every way a hostile or broken server can answer ends in one of those, with a reason code:
    the body is capped in bytes (after decompression) and in total time (3 × timeout).
    """
    deadline = time.monotonic() + 3 * timeout
    visited = {url}
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        if stop.is_set():
            raise StopRequested()
        response = _response_headers(session, current, timeout, deadline, lambda: _headers_too_slow(timeout),
                                     conditional or None)
        if answered is not None:
            answered(current)
        with response:
            etag, last_modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
            if response.status_code == 304 and conditional:
                return FetchedPage(current, 304, b"", None, etag or conditional.get("If-None-Match"),
                                   last_modified or conditional.get("If-Modified-Since"), not_modified=True)
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
                raise PageSkipped(f"not HTML ({(content_type or '').split(';')[0].strip()})", response.status_code,
                                  code="not_html")
            declared = _content_length(response)
            if declared is not None and declared > MAX_BODY_BYTES:
                raise FetchFailed(f"page larger than {MAX_BODY_BYTES // (1024 * 1024)} MB "
                                  f"(Content-Length {declared:,} bytes; nothing downloaded)",
                                  response.status_code, code="too_large")
            encoding = charset_of(content_type)
            try:
                body = read_body(response, stop, deadline, sniff=True, sniff_encoding=encoding)
            except PageSkipped as exc:
                exc.http_status = response.status_code
                raise
            except (StopRequested, FetchFailed):
                raise
            except Exception as exc:  # noqa: BLE001 - urllib3 read errors (timeouts, protocol errors) are not RequestExceptions
                raise request_failure(exc, current, timeout, during_body=True,
                                      http_status=response.status_code) from None
            if not body.strip():
                raise PageSkipped("empty page (the server sent no content)", response.status_code, code="empty")
            return FetchedPage(current, response.status_code, body, encoding, etag, last_modified)
    raise FetchFailed(f"more than {MAX_REDIRECTS} redirects", code="too_many_redirects")


MAX_ROBOTS_REDIRECTS = 5  # RFC 9309 §2.3.1.2: follow at least five consecutive redirects


def fetch_robots_txt(session: requests.Session, url: str, *, timeout: float, stop: StopSignal,
                     max_bytes: int) -> tuple[int, bytes, bool]:
    """GET a robots.txt under the same limits as a page: returns (status, body, truncated).

    The same time limit (3 × timeout, headers included), stop checks between reads and named
    failures as `fetch_page`; redirects are followed (up to five). A 4xx is an answer (status,
    empty body). A body longer than `max_bytes` is cut there (`truncated`), never held whole in
    memory. Raises TransientFailure (timeouts, resets, 429 and 5xx: worth another try),
    FetchFailed (DNS, TLS, a refused address, a redirect loop) or StopRequested.
    """
    deadline = time.monotonic() + 3 * timeout
    visited = {url}
    current = url
    for _hop in range(MAX_ROBOTS_REDIRECTS + 1):
        if stop.is_set():
            raise StopRequested()
        response = _response_headers(session, current, timeout, deadline, lambda: TransientFailure(
            _headers_too_slow(timeout).reason, code="too_slow"))
        with response:
            if response.is_redirect:
                target = urljoin(current, response.headers.get("Location", ""))
                if target in visited:
                    raise FetchFailed(f"redirect loop at {target}", response.status_code, code="redirect_loop")
                visited.add(target)
                current = target
                continue
            status = response.status_code
            if status in TRANSIENT_STATUSES or status >= 500:
                raise TransientFailure(f"HTTP {status} {response.reason or ''}".strip(), status, code="http_error",
                                       retry_after=parse_retry_after(response.headers.get("Retry-After")))
            if status >= 300:  # 4xx: no robots.txt published; other 3xx without a Location: nothing to read
                return status, b"", False
            try:
                body = read_body(response, stop, deadline, max_bytes + 1, truncate=True)
            except FetchFailed as exc:  # still arriving at the time limit: a timeout, worth another try
                raise TransientFailure(exc.reason, status, code=exc.code) from None
            except StopRequested:
                raise
            except Exception as exc:  # noqa: BLE001 - urllib3 read errors (timeouts, resets) are not RequestExceptions
                raise request_failure(exc, current, timeout, during_body=True, http_status=status) from None
            return status, body[:max_bytes], len(body) > max_bytes
    raise FetchFailed(f"more than {MAX_ROBOTS_REDIRECTS} redirects", code="too_many_redirects")


TEXT_TYPES = ("text/plain", "text/markdown", "text/x-markdown")


def fetch_text(session: requests.Session, url: str, *, timeout: float, stop: StopSignal, max_bytes: int,
               check_redirect: Callable[[str], str | None]) -> tuple[str, bytes, bool] | None:
    """GET a text file a site publishes beside its pages (its llms.txt, a page's Markdown), under
    a page's limits: returns (final URL, body, truncated), or None when the site has no such file
    (4xx, a redirect `check_redirect` refuses, an HTML page or any type but plain text or
    Markdown, binary or empty content). The body is cut at `max_bytes`, never held whole; it is
    bytes to store, never markup to follow. Raises TransientFailure, FetchFailed or StopRequested
    as `fetch_robots_txt` does."""
    deadline = time.monotonic() + 3 * timeout
    visited = {url}
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        if stop.is_set():
            raise StopRequested()
        response = _response_headers(session, current, timeout, deadline, lambda: _headers_too_slow(timeout))
        with response:
            status = response.status_code
            if response.is_redirect:
                target = urljoin(current, response.headers.get("Location", ""))
                if target in visited or check_redirect(target):
                    return None
                visited.add(target)
                current = target
                continue
            if status in TRANSIENT_STATUSES or status >= 500:
                raise TransientFailure(f"HTTP {status} {response.reason or ''}".strip(), status, code="http_error")
            content_type = (response.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            if status != 200 or content_type not in TEXT_TYPES:
                return None
            try:
                body = read_body(response, stop, deadline, max_bytes + 1, sniff=True, truncate=True)
            except PageSkipped:  # binary data served as text
                return None
            except (StopRequested, FetchFailed):
                raise
            except Exception as exc:  # noqa: BLE001 - urllib3 read errors (timeouts, resets) are not RequestExceptions
                raise request_failure(exc, current, timeout, during_body=True, http_status=status) from None
            head = body[:512].lstrip().lower()
            if not body.strip() or head.startswith((b"<!doctype html", b"<html")):
                return None  # an HTML page served as text (a catch-all answer) is not the file
            return current, body[:max_bytes], len(body) > max_bytes
    return None


def _content_length(response: requests.Response) -> int | None:
    value = (response.headers.get("Content-Length") or "").strip()
    return int(value) if value.isdigit() else None


def _headers_too_slow(timeout: float) -> FetchFailed:
    return FetchFailed(f"the server took too long to send its response headers (still arriving after "
                       f"{3 * timeout:g} s)", code="too_slow")


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
