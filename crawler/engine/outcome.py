"""What the crawl's parts pass each other about one page: the request for it (frontier →
scheduler → pipeline) and the outcome of its stages (pipeline → scheduler)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from crawler.engine.events import PageStatus

if TYPE_CHECKING:
    from crawler.engine.errors import TransientFailure
    from crawler.engine.fetch import FetchedPage


@dataclass(frozen=True, slots=True)  # slots: a crawl may hold tens of thousands queued
class CrawlRequest:
    url: str
    depth: int
    referrer: str | None = None
    source: str = "link"  # start | link | sitemap | selection
    tries: int = 0


class Unrecorded(StrEnum):
    """An outcome that is not (yet) a manifest line."""

    FETCHED = "fetched"  # on to the processing stage
    RETRY = "retry"  # failed transiently: fetched again after a back-off
    ABANDONED = "abandoned"  # the crawl stopped (or its disk filled) first


@dataclass
class PageOutcome:
    request: CrawlRequest
    status: PageStatus | Unrecorded
    links: list[str] = field(default_factory=list)
    retry: TransientFailure | None = None
    page: FetchedPage | None = None
    fetched_at: str | None = None
