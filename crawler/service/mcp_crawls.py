"""The MCP crawl tools' side in the service: start, refresh and follow crawls for one owner.

The MCP server (crawler/outputs/mcp) may not start anything itself; the hosts give it this, built
on their own `CrawlService`: the web server for a request that carries an API key
(crawler/web/app.py), and `crawler-mcp --allow-crawls` over stdio (crawler/mcp_stdio.py). Every
call goes through `CrawlService` exactly as a REST request does, so validation, limits, queues and
the address policy are the same; what they refuse comes back as the tool's error message.
"""

from __future__ import annotations

from typing import Any

from crawler.engine.config import ConfigError
from crawler.folder.paths import is_crawl_id
from crawler.outputs.mcp.library import ToolInputError
from crawler.service.crawls import CrawlService
from crawler.service.errors import NoChangeReport, StoreUnavailable, UnknownCrawl
from crawler.service.records import CrawlRecord


class ServiceCrawls:
    """`OwnerCrawls` (crawler/outputs/mcp/http.py) over a crawl service. `any_owner`: the local
    user of a stdio server, who sees every crawl of the data directory, acts on each as its owner."""

    def __init__(self, service: CrawlService, *, any_owner: bool = False) -> None:
        self.service = service
        self._any_owner = any_owner

    def _as(self, owner: str, crawl_id: str) -> str:
        if not is_crawl_id(crawl_id):
            raise ToolInputError(f"unknown crawl {str(crawl_id)[:100]!r}: pass a crawl_id from crawl_site, "
                                 "refresh_site or list_sites")
        if self._any_owner:
            record = self.service.states.get(crawl_id)
            if record is not None:
                return record.owner
        return owner

    def start(self, owner: str, settings: dict[str, Any]) -> dict[str, Any]:
        record = self._call(lambda: self.service.start(owner, settings))
        return self._started(record, "crawl")

    def refresh(self, owner: str, crawl_id: str) -> dict[str, Any]:
        record = self._call(lambda: self.service.refresh(self._as(owner, crawl_id), crawl_id))
        return self._started(record, "refresh")

    def status(self, owner: str, crawl_id: str) -> dict[str, Any]:
        record = self._call(lambda: self.service.get(self._as(owner, crawl_id), crawl_id))
        answer: dict[str, Any] = {"crawl_id": record.crawl_id, "url": record.config.url, "kind": record.kind,
                                  "state": record.state.value, "done": record.state.is_final,
                                  "message": record.message or None, "created_at": record.created_at,
                                  "pages": record.counts(), "refresh_of": record.refresh_of}
        if record.state.is_final and record.summary:
            answer["stop_reason"] = record.summary.get("stop_reason")
        if record.refresh_of and record.state.is_final:
            try:
                answer["changes"] = self.service.changes(record.owner, record.crawl_id).get("counts")
            except (NoChangeReport, ConfigError):
                answer["changes"] = None
        return answer

    @staticmethod
    def _started(record: CrawlRecord, what: str) -> dict[str, Any]:
        return {"crawl_id": record.crawl_id, "url": record.config.url, "state": record.state.value,
                "refresh_of": record.refresh_of,
                "next": f"call crawl_status with crawl_id {record.crawl_id!r} to follow the {what}; its pages are "
                        "searchable (search_docs, get_page) as they are saved"}

    @staticmethod
    def _call(call: Any) -> CrawlRecord:
        try:
            record: CrawlRecord = call()
        except UnknownCrawl as exc:
            raise ToolInputError(f"{exc.args[0] if exc.args else 'unknown crawl'}: pass a crawl_id from crawl_site, "
                                 "refresh_site or list_sites") from None
        except ConfigError as exc:  # bad settings, a refused address, a full queue, not refreshable...
            raise ToolInputError(str(exc)) from None
        except StoreUnavailable as exc:
            raise ToolInputError(str(exc)) from None
        return record
