"""The app's extension object: what the routes and socket handlers need, on `app.extensions["crawler"]`.

Nothing here is module-level state: `create_app` builds one `CrawlerExtension` (and one Socket.IO
server) per app, and handlers reach their own app's through `extension()`.
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field
from typing import Any

from flask import current_app

from crawler.engine.cpu import CpuPool
from crawler.outputs.search import SearchIndex, SearchIndexer
from crawler.outputs.search_process import IndexerProcess
from crawler.render import RenderPool
from crawler.service import CrawlService
from crawler.service.config import ServerConfig
from crawler.service.keys import ApiKeys
from crawler.service.local import LocalBackend
from crawler.service.memory import MemoryGuard, ProcessTree
from crawler.service.schedules import Schedules, ScheduleTicker
from crawler.web.metrics import ServerMetrics


@dataclass
class CrawlerExtension:
    """What the routes and socket handlers need, hung on `app.extensions["crawler"]`."""

    config: ServerConfig
    crawls: CrawlService
    cpu: CpuPool | None = None
    render: RenderPool | None = None  # Chromium for pages that need JavaScript, started on first need
    closers: list[Any] = field(default_factory=list)
    tree: ProcessTree = field(default_factory=ProcessTree)
    guard: MemoryGuard | None = None
    given_metrics: InitVar[ServerMetrics | None] = None
    search: SearchIndex | None = None
    indexer: SearchIndexer | IndexerProcess | None = None  # the index's writer: a thread, or a child process
    mcp: Any = None  # the MCP streamable HTTP endpoint (crawler.outputs.mcp.http.McpHttp), None if not served
    schedules: Schedules | None = None
    ticker: ScheduleTicker | None = None  # fires the schedules' runs; closed first, before the crawls stop
    keys: ApiKeys | None = None  # the API keys, stored beside the crawl records (crawler/service/keys.py)
    key_watch: Any = None  # closes this server's connections made with a revoked key (crawler.web.keys.KeySocketWatch)
    metrics: ServerMetrics = field(init=False)

    def __post_init__(self, given_metrics: ServerMetrics | None) -> None:
        self.metrics = given_metrics or ServerMetrics(self.live_state, self.tree)

    @property
    def mode(self) -> str:
        return self.crawls.backend.mode

    def health(self) -> dict[str, Any]:
        try:
            running = self.crawls.running_count()
        except Exception:  # noqa: BLE001 - the store may be unreachable: health still answers
            running = None
        return {"mode": self.mode, "crawls_running": running, **self.crawls.backend.health()}

    def guard_state(self) -> dict[str, Any] | None:
        guard = self.guard
        if guard is None:
            return None
        return {"limit_bytes": guard.limit, "used_bytes": guard.last, "peak_bytes": guard.peak,
                "paused": guard.is_set(), "pauses": guard.pauses, "gave_up": guard.gave_up,
                "reason": guard.reason or None}

    def live_state(self) -> dict[str, Any]:
        """What /metrics reads at scrape time."""
        return {"crawls": self.crawls.states.active_states(), "memory_guard": self.guard_state()}

    def system(self, owner: str) -> dict[str, Any]:
        """GET /api/system: this server's processes, its crawl slots and queues (docs/events.md)."""
        rows = self.tree.sample()
        server = next((row for row in rows if row["role"] == "server"), None)
        workers = [row for row in rows if row["role"] == "worker"]
        answer: dict[str, Any] = {
            "mode": self.mode,
            "server": server,
            "workers": workers,
            "helpers": [row for row in rows if row["role"] == "helper"],
            "browser": [row for row in rows if row["role"] == "browser"],
            "indexer": [row for row in rows if row["role"] == "indexer"],
            "memory_bytes": sum(int(row["memory_bytes"]) for row in rows),
            "memory_guard": self.guard_state(),
        }
        backend = self.crawls.backend
        if isinstance(backend, LocalBackend):
            health = backend.health()
            queues = backend.queues()
            mine = queues.get(owner, {"running": 0, "queued": 0})
            answer["slots"] = {"total": health["slots"], "used": health["running"],
                               "free": max(0, health["slots"] - health["running"])}
            answer["queues"] = {"yours": mine, "total": {"running": health["running"], "queued": health["queued"],
                                                         "sessions": len(queues)}}
        else:
            health = backend.health()
            from crawler.service.cluster.backend import ClusterBackend  # cluster mode only: Redis, Celery

            assert isinstance(backend, ClusterBackend)
            try:
                yours: dict[str, Any] | None = {"queued": backend.cluster.queued_of(owner)}
            except Exception:  # noqa: BLE001 - Redis unreachable: say what is known
                yours = None
            answer["redis"] = health.get("redis")
            answer["cluster_workers"] = health.get("workers", [])
            slots, free = health.get("slots"), health.get("free_slots")
            answer["slots"] = {"total": slots, "used": None if slots is None else slots - (free or 0), "free": free}
            answer["queues"] = {"yours": yours, "total": {"queued": health.get("queued")}}
        return answer

    def close(self) -> None:
        if self.ticker is not None:
            self.ticker.close()
        try:
            self.crawls.shutdown()
        finally:
            for close in self.closers:
                close()


def extension() -> CrawlerExtension:
    """The current app's extension object (inside a request or a Socket.IO handler)."""
    extension: CrawlerExtension = current_app.extensions["crawler"]
    return extension
