"""robots.txt through protego (a compliant parser: Allow/Disallow, wildcards, agent groups)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from protego import Protego

from .urls import origin

# A robots.txt larger than this is treated as allow-all, as Google does past 500 KiB.
MAX_ROBOTS_BYTES = 512 * 1024


@dataclass
class RobotsRules:
    """The robots.txt of one origin, already fetched and parsed."""

    parser: Protego | None
    user_agent: str
    note: str = ""

    def allows(self, url: str) -> bool:
        return self.parser is None or self.parser.can_fetch(url, self.user_agent)

    @property
    def sitemaps(self) -> list[str]:
        return list(self.parser.sitemaps) if self.parser is not None else []

    @property
    def crawl_delay(self) -> float | None:
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(self.user_agent)
        return float(delay) if delay is not None else None


def rules_from_response(status: int | None, text: str | None, user_agent: str) -> RobotsRules:
    """Map the robots.txt response to rules the way crawlers conventionally do.

    2xx: parse it. 4xx (none published): everything allowed. 5xx or unreachable: the site may be
    down, so the conservative reading (RFC 9309 §2.3.1.4) is "disallow all" until it answers.
    """
    if status is None or status >= 500:
        return RobotsRules(Protego.parse("User-agent: *\nDisallow: /"), user_agent,
                           note=f"robots.txt unavailable ({status or 'no answer'}): treating the site as disallowed")
    if status >= 400:
        return RobotsRules(None, user_agent, note=f"no robots.txt (HTTP {status}): all paths allowed")
    return RobotsRules(Protego.parse(text or ""), user_agent, note="robots.txt loaded")


class RobotsCache:
    """robots.txt per host, fetched the first time a URL of that host is checked."""

    def __init__(self, fetch: Callable[[str], tuple[int | None, str | None]], user_agent: str,
                 on_loaded: Callable[[str, RobotsRules], None] | None = None) -> None:
        self._fetch = fetch
        self._user_agent = user_agent
        self._on_loaded = on_loaded
        self._rules: dict[str, RobotsRules] = {}
        self._lock = threading.Lock()

    def rules_for(self, url: str) -> RobotsRules:
        origin_url = origin(url)
        with self._lock:
            rules = self._rules.get(origin_url)
        if rules is not None:
            return rules
        status, text = self._fetch(origin_url + "/robots.txt")
        rules = rules_from_response(status, text, self._user_agent)
        with self._lock:
            if origin_url in self._rules:
                return self._rules[origin_url]
            self._rules[origin_url] = rules
        if self._on_loaded is not None:
            self._on_loaded(origin_url, rules)
        return rules

    def allows(self, url: str) -> bool:
        return self.rules_for(url).allows(url)
