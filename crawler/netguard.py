"""Refuse crawl targets on this machine's network unless the server operator allows them.

A crawler on a shared server is an open door to its network: without this check anyone could
make it read an internal admin page or a cloud metadata endpoint and download the result.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from .config import ConfigError


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


def ensure_public_target(url: str) -> None:
    """Raise ConfigError unless every address the URL's host resolves to is public."""
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
                f"refusing to crawl {host} ({address} is a {reason} address); "
                "start the server (or the CLI) with --allow-private-targets to crawl local or private sites")
