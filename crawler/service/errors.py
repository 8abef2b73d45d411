"""The service's exceptions: what the web layer turns into HTTP statuses and Socket.IO errors."""

from __future__ import annotations

from crawler.engine.config import ConfigError


class UnknownCrawl(LookupError):
    """No such crawl for this session (it may exist, owned by someone else)."""


class BadRecord(ValueError):
    """A record in the shared store that no process may act on: an id or path field that is not
    well formed, a kind or settings that do not parse (written by something other than this code)."""


class StoreUnavailable(RuntimeError):
    """The shared store (Redis) cannot be reached: the request cannot be answered right now."""


class NotResumable(ConfigError):
    """The crawl is running, or ended in a way that leaves nothing to continue."""


class QueueFull(ConfigError):
    """The session already has as many crawls waiting as it may."""


class NotRefreshable(ConfigError):
    """The crawl is still running, is a discovery, or saved no page to compare with."""


class NoChangeReport(LookupError):
    """The crawl is not a refresh, or the crawl it refreshes is gone: there is no report."""


class Busy(Exception):
    """A runner still holds this crawl (it is finishing): nothing may start it again yet."""
