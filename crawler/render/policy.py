"""Which addresses a page's requests may reach in the browser.

The same rule as the HTTP fetcher (crawler/engine/netguard.py): without `allow_private`, loopback,
private, link-local and reserved addresses are refused, checked on the address actually
connected to. Two exceptions, by address *and* port, which the fetcher's address-only rule
cannot express: `allowed` lets one service through (a test site on 127.0.0.1:8123, while every
other local port stays refused), and `denied` is refused even when private targets are allowed
(the dashboard's own origin: a page's scripts must never reach the server that crawls them).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from crawler.engine.netguard import non_public_reason


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
            return "the dashboard's own address"
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
