"""Which addresses a page's requests may reach in the browser.

The same rule as the HTTP fetcher (crawler/engine/netguard.py): without `allow_private`, loopback,
private, link-local and reserved addresses are refused, checked on the address actually
connected to. Two exceptions, by address *and* port, which the fetcher's address-only rule
cannot express: `allowed` lets one service through (a test site on 127.0.0.1:8123, while every
other local port stays refused), and `denied` is refused even when private targets are allowed
(the dashboard's own origin: a page's scripts must never reach the server that crawls them).

Where the dashboard listens is known to `crawler_app.py` from its flags; under gunicorn (or any
WSGI server) `MarkResponses` learns it from the first request, before any crawl can start: the
socket the request came through and every listening socket of the process. Every response it
sends is also marked (`DASHBOARD_HEADER`), and a marked response is refused by the render
process and the fetcher alike: the one rule that also holds behind a reverse proxy, on a public
address, and on a cluster worker, which never learns where the web servers are.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from crawler.engine.netguard import DASHBOARD_HEADER, non_public_reason

WILDCARD_HOSTS = ("0.0.0.0", "::", "", "localhost")


def _endpoint(address: str, port: int) -> str:
    address = address.split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            address = str(ip.ipv4_mapped)
    except ValueError:
        pass
    return f"{address}:{port}"


@dataclass(frozen=True)
class BrowserPolicy:
    allow_private: bool = False
    allowed: frozenset[str] = field(default_factory=frozenset)  # "address:port" let through
    denied: frozenset[str] = field(default_factory=frozenset)  # "address:port" always refused; "*:port" any local

    def refusal(self, address: str, port: int) -> str | None:
        """Why the browser may not connect to `address`:`port`, or None."""
        endpoint = _endpoint(address, port)
        local = non_public_reason(address)
        if endpoint in self.denied or (local and f"*:{port}" in self.denied):
            return "the crawler's own service (its dashboard or Redis)"
        if endpoint in self.allowed or self.allow_private:
            return None
        return local

    def to_json(self) -> dict[str, Any]:
        return {"allow_private": self.allow_private, "allowed": sorted(self.allowed), "denied": sorted(self.denied)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BrowserPolicy:
        return cls(bool(data.get("allow_private")), frozenset(data.get("allowed") or ()),
                   frozenset(data.get("denied") or ()))

    def with_rules(self, allowed: frozenset[str], denied: frozenset[str]) -> BrowserPolicy:
        return BrowserPolicy(self.allow_private, self.allowed | allowed, self.denied | denied)


def endpoint_keys(host: str, port: int) -> set[str]:
    """The `denied` keys of a service at `host`:`port`: a wildcard or `localhost` means any local
    address of that port; a name is resolved; loopback is always included (a service on this
    machine is reached through it too when it listens on every address)."""
    host = host.strip().strip("[]")
    keys = {f"127.0.0.1:{port}", f"::1:{port}"}
    if host in WILDCARD_HOSTS:
        return keys | {f"*:{port}"}
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError):
        addresses = {host}
    return keys | {_endpoint(address, port) for address in addresses}


def serving_endpoints(environ: dict[str, Any]) -> set[str]:
    """Where this server is reached: the local address of the request's connection (gunicorn,
    werkzeug) and every TCP socket this process listens on (its listeners, inherited or bound)."""
    keys: set[str] = set()
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    try:
        address, port = sock.getsockname()[:2]  # type: ignore[union-attr]
        keys |= endpoint_keys(str(address), int(port))
    except (AttributeError, OSError, TypeError, ValueError):
        pass
    try:
        import psutil

        for connection in psutil.Process().net_connections(kind="inet"):
            if connection.status == psutil.CONN_LISTEN and connection.laddr:
                keys |= endpoint_keys(str(connection.laddr.ip), int(connection.laddr.port))
    except Exception:  # noqa: BLE001 - the marker still refuses this server's answers
        pass
    return keys


class MarkResponses:
    """The dashboard's WSGI middleware: every response carries `DASHBOARD_HEADER`; until an
    address was found, each request first tells `learn` where the server is reached
    (`serving_endpoints`). Crawls start from requests, so this happens before any can start."""

    def __init__(self, app: Callable[..., Iterable[bytes]], learn: Callable[[set[str]], None] | None = None) -> None:
        self.app = app
        self._learn = learn
        self._learned = learn is None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self._learned and self._learn is not None:
            endpoints = serving_endpoints(environ)
            if endpoints:
                self._learn(endpoints)
                self._learned = True

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append((DASHBOARD_HEADER, "1"))
            return start_response(status, headers) if exc_info is None else start_response(status, headers, exc_info)

        return self.app(environ, start)
