"""Guards on every connection the crawler opens: which addresses it may reach, and how long it
may wait for a response's headers.

A crawler on a shared server is an open door to its network: without the address check anyone
could make it read an internal admin page or a cloud metadata endpoint and download the result.
Without a wall-clock limit on headers, one slow server could hold a fetcher forever.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from crawler.engine.config import ConfigError

# Every response of the dashboard carries this header (crawler/render/policy.py `MarkResponses`);
# the crawler's fetchers and the browser's requests refuse a response that carries it, whatever
# address reached it (a reverse proxy, a public address, a web server a cluster worker does not
# know). A documentation site never sends it.
DASHBOARD_HEADER = "X-Crawler-Dashboard"
DASHBOARD_REFUSAL = "the crawler's own dashboard answered (it is never crawled, nor read by a crawled page)"


def non_public_reason(address: str) -> str | None:
    """Why an IP address is not a public internet address, or None if it is one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # Most specific first: Python counts loopback and link-local as "private" too.
    for label, flag in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                        ("unspecified", ip.is_unspecified), ("multicast", ip.is_multicast),
                        ("reserved", ip.is_reserved), ("private", ip.is_private)):
        if flag:
            return label
    if not ip.is_global:
        return "not globally routable"
    return None


def ensure_public_target(url: str, purpose: str = "crawl") -> None:
    """Raise ConfigError unless every address the URL's host resolves to is public (the same
    rule, `non_public_reason`, as every connection's check). `purpose` names what is refused
    ("crawl", "send webhooks to")."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"cannot resolve host {host!r}: {exc}") from None
    for info in infos:
        address = str(info[4][0])
        reason = non_public_reason(address)
        if reason:
            raise ConfigError(
                f"refusing to {purpose} {host} ({address} is a {reason} address); "
                "start the server (or the CLI) with --allow-private-targets to reach local or private addresses")


# ---- the same check at connect time ----------------------------------------------------------
#
# Checking the typed URL is not enough: a redirect can point at 169.254.169.254, and a host name
# can resolve to a public address when it is checked and to 127.0.0.1 a second later (DNS
# rebinding). So every connection the crawler opens checks the address it actually connected
# to, before a single byte of the request is sent.

AddressPolicy = Callable[[str], "str | None"]


class BlockedAddress(requests.ConnectionError):
    """A connection reached an address the server's policy refuses (e.g. loopback, metadata).

    Callers that handle connection errors in general handle this one too; callers that care
    (the fetching stage) catch it first, since retrying cannot help.
    """

    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(f"refused to connect to {host} ({address} is a {reason} address)")
        self.host, self.address, self.reason = host, address, reason


class ResponseDeadlines:
    """A wall-clock limit on waiting for a response's headers, per thread.

    Socket timeouts bound each read, not the sum: a server that sends its headers one byte
    just inside the timeout would hold a fetcher for hours. A thread that sets a deadline has
    the socket it waits on registered here; one reaper thread shuts that socket down when the
    deadline passes, which wakes the blocked read, and the thread then finds itself `expired`.
    """

    TICK = 0.25

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadline: dict[int, float] = {}  # thread → monotonic deadline
        self._waiting: dict[int, socket.socket] = {}  # thread → socket it is reading headers from
        self._expired: set[int] = set()
        self._reaper: threading.Thread | None = None

    @contextmanager
    def limit(self, deadline: float) -> Iterator[None]:
        """Within this block, waiting for response headers ends at `deadline` (time.monotonic)."""
        me = threading.get_ident()
        with self._lock:
            self._deadline[me] = deadline
            self._expired.discard(me)
        try:
            yield
        finally:
            with self._lock:
                self._deadline.pop(me, None)
                self._waiting.pop(me, None)

    def expired(self) -> bool:
        """True once, after this thread's wait was cut off by its deadline."""
        me = threading.get_ident()
        with self._lock:
            if me in self._expired:
                self._expired.discard(me)
                return True
            return False

    @contextmanager
    def watching(self, sock: socket.socket | None) -> Iterator[None]:
        me = threading.get_ident()
        with self._lock:
            watched = False
            if sock is not None and me in self._deadline:
                watched = True
                self._waiting[me] = sock
                self._start_reaper()
        try:
            yield
        finally:
            if watched:
                with self._lock:
                    self._waiting.pop(me, None)

    def _start_reaper(self) -> None:
        if self._reaper is None or not self._reaper.is_alive():
            self._reaper = threading.Thread(target=self._reap, name="response-deadlines", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        while True:
            time.sleep(self.TICK)
            now = time.monotonic()
            with self._lock:
                late = [(me, sock) for me, sock in self._waiting.items() if self._deadline.get(me, now + 1) <= now]
                for me, _ in late:
                    self._waiting.pop(me, None)
                    self._expired.add(me)
            for _, sock in late:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


DEADLINES = ResponseDeadlines()


def _guarded_connection(base: type[HTTPConnection], policy: AddressPolicy | None) -> type[HTTPConnection]:
    class GuardedConnection(base):  # type: ignore[valid-type, misc]  # the base is the pool's class, known at run time
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            if policy is None:
                return sock
            address = str(sock.getpeername()[0])
            reason = policy(address)
            if reason:
                sock.close()
                raise BlockedAddress(self.host, address, reason)
            return sock

        def getresponse(self, *args: Any, **kwargs: Any) -> Any:
            with DEADLINES.watching(self.sock):
                return super().getresponse(*args, **kwargs)

    GuardedConnection.__name__ = f"Guarded{base.__name__}"
    return GuardedConnection


def _guarded_pool(base: type[HTTPConnectionPool], connection: type[HTTPConnection],
                  policy: AddressPolicy | None) -> type[HTTPConnectionPool]:
    return type(f"Guarded{base.__name__}", (base,), {"ConnectionCls": _guarded_connection(connection, policy)})


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose every connection is checked against an address policy (if any)
    and whose wait for response headers obeys the thread's ResponseDeadlines limit."""

    def __init__(self, policy: AddressPolicy | None, **kwargs: Any) -> None:
        self._policy = policy
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            return super().send(request, *args, **kwargs)
        except requests.ConnectionError as exc:
            blocked = _find_blocked(exc)
            if blocked is None:
                raise
            raise blocked from None

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _guarded_pool(HTTPConnectionPool, HTTPConnection, self._policy),
            "https": _guarded_pool(HTTPSConnectionPool, HTTPSConnection, self._policy),
        }


def _find_blocked(exc: BaseException) -> BlockedAddress | None:
    """urllib3 wraps the refusal in ProtocolError and requests in ConnectionError: unwrap it."""
    pending: list[object] = [exc]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        if id(item) in seen or not isinstance(item, BaseException):
            continue
        seen.add(id(item))
        if isinstance(item, BlockedAddress) and item is not exc:
            return item
        pending.extend(item.args)
        pending.extend((item.__cause__, item.__context__))
    return None


def guard_session(session: requests.Session, policy: AddressPolicy | None) -> requests.Session:
    """Mount the guarded adapter for http and https (no policy: every address is allowed)."""
    adapter = GuardedAdapter(policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
