"""What the crawl's parts pass each other about one page: the request for it (frontier →
scheduler → pipeline) and the outcome of its stages (pipeline → scheduler)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crawler.engine.errors import TransientFailure
    from crawler.engine.fetch import FetchedPage


@dataclass(frozen=True)
class CrawlRequest:
    url: str
    depth: int
    referrer: str | None = None
    source: str = "link"  # start | link | sitemap | selection
    tries: int = 0


@dataclass
class PageOutcome:
    request: CrawlRequest
    status: str  # ok | failed | skipped | abandoned | retry | fetched
    links: list[str] = field(default_factory=list)
    retry: TransientFailure | None = None
    page: FetchedPage | None = None
    fetched_at: str | None = None
