"""The application factory: one Flask app, one Socket.IO server, one crawl service.

Embedded mode (the default): crawls run in this process, records live in memory, events go
straight to this server's Socket.IO rooms. Cluster mode (`redis_url` set): crawls are Celery jobs
run by `crawler.worker` processes, records live in Redis, and every web server relays the events
published to the Redis message queue, so a browser on any server sees its own crawls' events.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from flask import Flask, current_app
from flask_socketio import SocketIO

from ..config import ServerConfig
from ..cpu import CpuPool
from ..crawls import CrawlService, MemoryCrawlStates
from ..crawls.history import read_history
from ..crawls.local import LocalBackend
from ..memory import MemoryGuard, ProcessTree, release_memory
from ..render import RenderPool
from ..render.policy import MarkResponses
from .metrics import ServerMetrics
from ..search import SearchIndex, SearchIndexer, open_search
from .sessions import load_or_create_secret
from .sink import RoomSink

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ASYNC_MODES = ("threading", "eventlet")
# One limit for a REST body and a Socket.IO message. A configuration is small; the largest
# legitimate one is a selection of the maximum 100,000 URLs from a discovery (~100 bytes each).
MAX_REQUEST_BYTES = 16 * 1024 * 1024

socketio = SocketIO()
log = logging.getLogger(__name__)


@dataclass
class CrawlerServices:
    """What the routes and socket handlers need, hung on `app.extensions["crawler"]`."""

    config: ServerConfig
    crawls: CrawlService
    cpu: CpuPool | None = None
    render: RenderPool | None = None  # Chromium for pages that need JavaScript, started on first need
    closers: list[Any] = field(default_factory=list)
    tree: ProcessTree = field(default_factory=ProcessTree)
    guard: MemoryGuard | None = None
    metrics: ServerMetrics | None = None
    search: SearchIndex | None = None
    indexer: SearchIndexer | None = None
    mcp: Any = None  # the MCP streamable HTTP endpoint (crawler.mcp.http.McpHttp), None if not served

    def __post_init__(self) -> None:
        if self.metrics is None:
            self.metrics = ServerMetrics(self.live_state, self.tree)

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
            "browser": [row for row in rows if row["role"] == "browser"],
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
        try:
            self.crawls.shutdown()
        finally:
            for close in self.closers:
                close()


def services() -> CrawlerServices:
    return current_app.extensions["crawler"]


def _server_config(config: ServerConfig | dict[str, Any] | None) -> ServerConfig:
    if isinstance(config, ServerConfig):
        return config
    if config is None:
        return ServerConfig.from_env(dict(os.environ))
    return ServerConfig(**config)


def _embedded(config: ServerConfig, data_dir: Path) -> CrawlerServices:
    # Under eventlet the fork server is unavailable and forking a patched process is unsafe:
    # workers are spawned fresh instead (slower to start, same once running).
    start_method = "spawn" if config.async_mode == "eventlet" else "forkserver"
    cpu = CpuPool(config.cpu_workers, start_method=start_method)
    cpu.warm_up()
    tree = ProcessTree()
    guard = (MemoryGuard(config.memory_limit, measure=tree.memory, relieve=lambda: release_memory(cpu)).start()
             if config.memory_limit is not None else None)
    render = RenderPool()
    states = MemoryCrawlStates()
    states.add_missing(read_history(data_dir))
    holder: dict[str, CrawlerServices] = {}
    metrics = ServerMetrics(lambda: holder["services"].live_state(), tree)
    backend = LocalBackend(data_dir, states, cpu, lambda session_id: RoomSink(socketio, session_id),
                           allow_private_targets=config.allow_private_targets,
                           max_running=config.max_running_crawls, max_per_session=config.max_crawls_per_session,
                           max_queued_per_session=config.max_queued_per_session, pause_signal=guard,
                           stats=metrics, render=render)
    service = CrawlService(data_dir, states, backend, allow_private_targets=config.allow_private_targets)
    closers = [cpu.shutdown, render.close] + ([guard.close] if guard is not None else [])
    holder["services"] = CrawlerServices(config, service, cpu, render, closers=closers, tree=tree, guard=guard,
                                         metrics=metrics)
    return holder["services"]


def _cluster(config: ServerConfig, data_dir: Path) -> CrawlerServices:
    from ..crawls.celery_jobs import job_sender, make_celery
    from ..crawls.cluster import Cluster
    from ..crawls.cluster_backend import ClusterBackend
    from ..crawls.redis_states import RedisCrawlStates, redis_client

    assert config.redis_url is not None

    def announce(owner: str, event: str, payload: dict[str, Any]) -> None:
        try:
            socketio.emit(event, payload, to=owner)
        except Exception as exc:  # noqa: BLE001 - an event lost to a Redis outage; snapshots repair views
            log.warning("could not publish %s: %s", event, exc)

    states = RedisCrawlStates(redis_client(config.redis_url))
    cluster = Cluster(states, data_dir, announce, send_job=job_sender(make_celery(config.redis_url)),
                      max_per_session=config.max_crawls_per_session, lease_seconds=config.lease_seconds)
    try:
        cluster.publish_limits()
    except Exception as exc:  # noqa: BLE001 - start anyway; health says Redis is down
        log.warning("Redis at %s is not reachable yet: %s", config.redis_url, exc)
    backend = ClusterBackend(cluster, states, announce, max_queued_per_session=config.max_queued_per_session,
                             redis_url=config.redis_url)
    backend.start()
    service = CrawlService(data_dir, states, backend, allow_private_targets=config.allow_private_targets)
    return CrawlerServices(config, service)


def _add_search(crawler_services: CrawlerServices, data_dir: Path) -> None:
    """The full-text index of the data directory and its writer thread. Its file is
    `<data-dir>/.search.sqlite`, or CRAWLER_SEARCH_INDEX (in cluster mode, a path on each web
    server's own disk: the index is a cache rebuilt from the shared folders, and SQLite's locks
    are not to be trusted on a network file system)."""
    index_path = os.environ.get("CRAWLER_SEARCH_INDEX") or None
    # Under eventlet the indexer is a green thread: small batches keep each stretch it holds the
    # hub short (~25 ms), so sockets stay responsive while a large crawl is indexed.
    batch = 25 if crawler_services.config.async_mode == "eventlet" else 200
    index, indexer = open_search(data_dir, Path(index_path) if index_path else None, batch=batch)
    crawler_services.search, crawler_services.indexer = index, indexer
    crawler_services.closers.insert(0, indexer.stop)


def _add_mcp(crawler_services: CrawlerServices, data_dir: Path) -> None:
    """MCP over streamable HTTP at /mcp, for the threading mode. Under eventlet every thread is a
    green thread, and the asyncio loop the SDK's transport needs would have to share eventlet's
    hub; /mcp then answers 501 and the stdio server (python -m crawler.mcp) remains."""
    if crawler_services.config.async_mode != "threading" or crawler_services.search is None:
        return
    service, index = crawler_services.crawls, crawler_services.search

    def start() -> Any:
        from ..mcp.http import McpHttp
        from ..mcp.library import SiteInfo

        def sites_of(owner: str) -> list[SiteInfo]:
            return [SiteInfo(r.crawl_id, r.config.url, r.state.value, r.created_at)
                    for r in service.list(owner) if r.kind == "crawl"]

        return McpHttp(data_dir, index, sites_of, token_required=crawler_services.config.token is not None)

    endpoint = LazyEndpoint(start)
    crawler_services.mcp = endpoint
    crawler_services.closers.insert(0, endpoint.close)


class LazyEndpoint:
    """A WSGI endpoint built on its first request: the MCP SDK (pydantic, starlette...) costs the
    server ~35 MB, paid only once someone uses /mcp."""

    def __init__(self, start: Callable[[], Any]) -> None:
        self._start = start
        self._endpoint: Any = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self._endpoint is None:
            with self._lock:
                if self._endpoint is None:
                    self._endpoint = self._start()
        return self._endpoint(environ, start_response)

    def close(self) -> None:
        with self._lock:
            if self._endpoint is not None:
                self._endpoint.close()


def create_app(config: ServerConfig | dict[str, Any] | None = None) -> Flask:
    """Build the app. Set `async_mode` explicitly: Flask-SocketIO would otherwise pick eventlet
    just because it is installed, and eventlet turns the crawl's threads into green threads."""
    server_config = _server_config(config)
    if server_config.async_mode not in ASYNC_MODES:
        raise ValueError(f"async_mode must be one of {ASYNC_MODES}, got {server_config.async_mode!r}")
    data_dir = Path(server_config.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)

    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"))
    app.config.update(
        SECRET_KEY=server_config.secret_key or load_or_create_secret(data_dir),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(days=365),
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
    )

    build = _cluster if server_config.redis_url else _embedded
    crawler_services = build(server_config, data_dir)
    _add_search(crawler_services, data_dir)
    _add_mcp(crawler_services, data_dir)
    app.extensions["crawler"] = crawler_services
    atexit.register(crawler_services.close)

    from . import routes, socket_events  # noqa: F401 - registers the handlers
    from .auth import require_token

    app.before_request(require_token)  # before the blueprint's hooks: a refused request gets no session
    app.register_blueprint(routes.blueprint)
    options: dict[str, Any] = {}
    if server_config.redis_url:
        from ..crawls.event_queue import EventQueue

        options["client_manager"] = EventQueue(server_config.redis_url)
    # An oversize message closes that one connection (WebSocket) or answers 413 (polling).
    socketio.init_app(app, async_mode=server_config.async_mode, ping_interval=10, ping_timeout=20,
                      max_http_buffer_size=MAX_REQUEST_BYTES, **options)
    # Outermost: every answer (Socket.IO's too) is marked as the dashboard's, and the first
    # request tells the render pool where this server listens (under gunicorn nothing else does).
    render = crawler_services.render
    app.wsgi_app = MarkResponses(app.wsgi_app, render.deny if render is not None else None)  # type: ignore[method-assign]
    return app
