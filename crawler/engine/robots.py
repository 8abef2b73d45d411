"""robots.txt through protego (a compliant parser: Allow/Disallow, wildcards, agent groups).

The controller fetches robots.txt like a page (crawler/engine/fetch.py `fetch_robots_txt`: a time
limit, stop checks, a capped streaming read), retries transient failures a few times, and ends
the crawl as `interrupted` (resumable) if it stays unreachable: nothing is cached then, so a
resumed crawl asks again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from protego import Protego

from crawler.engine.urls import origin

# Only the first 512 KiB of a robots.txt are read and parsed (Google ignores what follows its
# 500 KiB limit); the rest is never downloaded. A line cut at the limit is dropped, not parsed.
MAX_ROBOTS_BYTES = 512 * 1024


def robots_text(body: bytes, truncated: bool) -> str:
    """The robots.txt to parse: UTF-8 (bad bytes replaced), without a last line cut at the cap.

    A cut rule could say something else than the whole one (`Allow: /docs/private` cut to
    `Allow: /docs/`), so when the body was truncated its incomplete last line is left out.
    """
    if truncated:
        cut = body.rfind(b"\n")
        body = body[: cut + 1] if cut >= 0 else b""
    return body.decode("utf-8", errors="replace")


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
    (The controller does not cache that reading: it retries, then ends the crawl resumably.)
    """
    if status is None or status >= 500:
        return RobotsRules(Protego.parse("User-agent: *\nDisallow: /"), user_agent,
                           note=f"robots.txt unavailable ({status or 'no answer'}): treating the site as disallowed")
    if status >= 400:
        return RobotsRules(None, user_agent, note=f"no robots.txt (HTTP {status}): all paths allowed")
    return RobotsRules(Protego.parse(text or ""), user_agent, note="robots.txt loaded")


class RobotsCache:
    """robots.txt per host, fetched the first time a URL of that host is checked.

    One fetch per origin at a time: other threads asking for the same origin wait for it. If the
    fetch raises (the crawl is stopping, or robots.txt stayed unreachable), nothing is cached.
    """

    def __init__(self, fetch: Callable[[str], tuple[int | None, str | None]], user_agent: str,
                 on_loaded: Callable[[str, RobotsRules], None] | None = None) -> None:
        self._fetch = fetch
        self._user_agent = user_agent
        self._on_loaded = on_loaded
        self._rules: dict[str, RobotsRules] = {}
        self._fetching: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def rules_for(self, url: str) -> RobotsRules:
        origin_url = origin(url)
        with self._lock:
            rules = self._rules.get(origin_url)
            if rules is not None:
                return rules
            fetching = self._fetching.setdefault(origin_url, threading.Lock())
        with fetching:
            with self._lock:
                rules = self._rules.get(origin_url)
            if rules is not None:
                return rules
            status, text = self._fetch(origin_url + "/robots.txt")
            rules = rules_from_response(status, text, self._user_agent)
            with self._lock:
                self._rules[origin_url] = rules
        if self._on_loaded is not None:
            self._on_loaded(origin_url, rules)
        return rules

    def allows(self, url: str) -> bool:
        return self.rules_for(url).allows(url)
