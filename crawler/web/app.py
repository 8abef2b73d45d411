"""The application factory: one Flask app, one Socket.IO server, one crawl service.

Embedded mode (the default): crawls run in this process, records live in memory, events go
straight to this server's Socket.IO rooms. Cluster mode (`redis_url` set): crawls are Celery jobs
run by `crawler.service.cluster.worker` processes, records live in Redis, and every web server relays the events
published to the Redis message queue, so a browser on any server sees its own crawls' events.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask_socketio import SocketIO
from werkzeug.serving import WSGIRequestHandler

from crawler.engine.cpu import CpuPool
from crawler.folder.writer import make_private_dirs
from crawler.outputs.search import INDEX_FILE, SearchIndexer, open_search
from crawler.outputs.search_process import IndexerProcess, open_search_process
from crawler.render import RenderPool
from crawler.render.policy import MarkResponses
from crawler.service import CrawlService, MemoryCrawlStates
from crawler.service.config import ServerConfig
from crawler.service.history import read_history
from crawler.service.keys import ApiKeys
from crawler.service.local import LocalBackend
from crawler.service.memory import MemoryGuard, ProcessTree, release_memory
from crawler.service.schedules import FileScheduleStore, Schedules, ScheduleTicker
from crawler.service.webhooks import resend_owed
from crawler.web.extensions import CrawlerExtension
from crawler.web.metrics import ServerMetrics
from crawler.web.sessions import load_or_create_secret
from crawler.web.sink import RoomSink

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ASYNC_MODES = ("threading", "eventlet")
# One limit for a REST body and a Socket.IO message. A configuration is small; the largest
# legitimate one is a selection of the maximum 100,000 URLs from a discovery (~100 bytes each).
MAX_REQUEST_BYTES = 16 * 1024 * 1024

log = logging.getLogger(__name__)


def _server_config(config: ServerConfig | dict[str, Any] | None) -> ServerConfig:
    if isinstance(config, ServerConfig):
        return config
    if config is None:
        return ServerConfig.from_env(dict(os.environ))
    return ServerConfig(**config)


def _embedded(config: ServerConfig, data_dir: Path, socketio: SocketIO) -> CrawlerExtension:
    cpu = CpuPool(config.cpu_workers)
    cpu.warm_up()
    tree = ProcessTree()
    guard = (MemoryGuard(config.memory_limit, measure=tree.memory, relieve=lambda: release_memory(cpu)).start()
             if config.memory_limit is not None else None)
    render = RenderPool()
    states = MemoryCrawlStates()
    history = list(read_history(data_dir))
    states.add_missing(history)
    # Webhook posts that crawls ended before their delivery still owe (the server stopped meanwhile).
    resend_owed(history, data_dir, allow_private_targets=config.allow_private_targets)
    holder: dict[str, CrawlerExtension] = {}
    metrics = ServerMetrics(lambda: holder["extension"].live_state(), tree)
    backend = LocalBackend(data_dir, states, cpu, lambda session_id: RoomSink(socketio, session_id),
                           allow_private_targets=config.allow_private_targets,
                           max_running=config.max_running_crawls, max_per_session=config.max_crawls_per_session,
                           max_queued_per_session=config.max_queued_per_session, pause_signal=guard,
                           stats=metrics, render=render)
    service = CrawlService(data_dir, states, backend, allow_private_targets=config.allow_private_targets)
    schedules = Schedules(FileScheduleStore(data_dir), service, min_interval=config.schedule_min_interval)
    closers = [cpu.shutdown, render.close] + ([guard.close] if guard is not None else [])
    holder["extension"] = CrawlerExtension(config, service, cpu, render, closers=closers, tree=tree, guard=guard,
                                         given_metrics=metrics, schedules=schedules,
                                         keys=ApiKeys.in_data_dir(data_dir))
    return holder["extension"]


def _cluster(config: ServerConfig, data_dir: Path, socketio: SocketIO) -> CrawlerExtension:
    from crawler.service.cluster.backend import ClusterBackend
    from crawler.service.cluster.coordinator import Cluster
    from crawler.service.cluster.jobs import job_sender, make_celery
    from crawler.service.cluster.redis_keys import RedisKeyStore
    from crawler.service.cluster.redis_states import RedisCrawlStates, redis_client
    from crawler.service.cluster.schedules import RedisScheduleStore

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
    schedules = Schedules(RedisScheduleStore(states), service, min_interval=config.schedule_min_interval)
    return CrawlerExtension(config, service, schedules=schedules, keys=ApiKeys(RedisKeyStore(states.redis)))


def _add_search(extension: CrawlerExtension, data_dir: Path) -> None:
    """The full-text index of the data directory and its writer. Its file is
    `<data-dir>/.search.sqlite`, or CRAWLER_SEARCH_INDEX (in cluster mode, a path on each web
    server's own disk: the index is a cache rebuilt from the shared folders, and SQLite's locks
    are not to be trusted on a network file system). The writer is a child process at a lower
    CPU priority (`search_indexer` "process", the default), or a thread of this process."""
    config = extension.config
    indexer: SearchIndexer | IndexerProcess
    index_path = Path(os.environ.get("CRAWLER_SEARCH_INDEX") or data_dir / INDEX_FILE)
    if config.search_indexer == "process":
        # A process of its own holds no hub: it takes full batches.
        index, host = open_search_process(data_dir, index_path)
        extension.tree.add_role("indexer", lambda: host.pid)
        indexer = host
    else:
        # Under eventlet the indexer is a green thread: small batches keep each stretch it holds the
        # hub short (~25 ms), so sockets stay responsive while a large crawl is indexed.
        batch = 25 if config.async_mode == "eventlet" else 200
        index, indexer = open_search(data_dir, index_path, batch=batch)
    extension.search, extension.indexer = index, indexer
    extension.closers.insert(0, indexer.stop)


def _add_mcp(extension: CrawlerExtension, data_dir: Path) -> None:
    """MCP over streamable HTTP at /mcp, for the threading mode. Under eventlet every thread is a
    green thread, and the asyncio loop the SDK's transport needs would have to share eventlet's
    hub; /mcp then answers 501 and the stdio server (crawler-mcp) remains."""
    if extension.config.async_mode != "threading" or extension.search is None:
        return
    service, index = extension.crawls, extension.search

    def start() -> Any:
        from crawler.outputs.mcp.http import McpHttp
        from crawler.outputs.mcp.library import SiteInfo
        from crawler.service.mcp_crawls import ServiceCrawls

        def sites_of(owner: str) -> list[SiteInfo]:
            return [SiteInfo(r.crawl_id, r.config.url, r.state.value, r.created_at)
                    for r in service.list(owner) if r.kind == "crawl"]

        # The crawl tools are served to requests with an API key only (routes.mcp_endpoint marks them).
        return McpHttp(data_dir, index, sites_of, crawls=ServiceCrawls(service))

    endpoint = LazyEndpoint(start)
    extension.mcp = endpoint
    extension.closers.insert(0, endpoint.close)


class JsonErrorRequestHandler(WSGIRequestHandler):
    """The development server's request handler (threading mode), with JSON answers for the
    requests it refuses before they reach the app: a request line over 64 KB (414), a malformed
    request line (400), too many or too long headers (431). `http.server` writes an HTML page."""

    MESSAGES = {414: "the URL is too long: at most 65,536 bytes in the request line",
                431: "the request headers are too large"}

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        short = self.responses.get(code, ("Error", ""))[0]
        body = json.dumps({"error": self.MESSAGES.get(code) or message or short}).encode()
        self.log_error("code %d, message %s", code, message)
        self.send_response(code, short)
        self.send_header("Connection", "close")
        self.close_connection = True
        if code >= 200 and code not in (204, 304):
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)


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
    make_private_dirs(data_dir)  # 0700, as everything the crawler makes in it (crawler/folder/writer.py)

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

    # This app's own Socket.IO server: its handlers, its sinks and its message queue belong to it
    # alone, so two apps in one process never send each other's events.
    socketio = SocketIO()
    build = _cluster if server_config.redis_url else _embedded
    extension = build(server_config, data_dir, socketio)
    _add_search(extension, data_dir)
    _add_mcp(extension, data_dir)
    app.extensions["crawler"] = extension
    atexit.register(extension.close)

    from crawler.web import firecrawl, keys, routes, schedules, socket_events
    from crawler.web.auth import HostRule, SourceGuard, require_token

    # Before the blueprints' hooks, in this order: who the request acts as (an API key), then the
    # access token (which a valid key passes); a refused request gets no session.
    app.before_request(keys.identify)
    app.before_request(require_token)
    app.register_blueprint(routes.blueprint)
    app.register_blueprint(schedules.blueprint)
    app.register_blueprint(keys.blueprint)
    app.register_blueprint(firecrawl.blueprint)
    options: dict[str, Any] = {}
    if server_config.redis_url:
        from crawler.service.cluster.event_queue import EventQueue

        options["client_manager"] = EventQueue(server_config.redis_url)
    # Host and Origin are checked in front of Flask and Socket.IO alike (the DNS-rebinding guard),
    # and Engine.IO reflects only an origin that same rule allows.
    guard = SourceGuard(app.wsgi_app, HostRule.for_config(server_config))
    # An oversize message closes that one connection (WebSocket) or answers 413 (polling).
    socketio.init_app(app, async_mode=server_config.async_mode, ping_interval=10, ping_timeout=20,
                      max_http_buffer_size=MAX_REQUEST_BYTES, cors_allowed_origins=guard.origin_allowed, **options)
    socket_events.register(socketio)
    extension.key_watch = keys.KeySocketWatch(socketio, extension.keys) if extension.keys is not None else None
    if extension.key_watch is not None:
        extension.closers.insert(0, extension.key_watch.close)
    # Only now: a run that is due at start sends its crawl's events through Socket.IO, which the
    # line above just made ready (earlier, its first events met a server not yet set up).
    if extension.schedules is not None:  # every web server ticks; the store's claims make each run happen once
        extension.ticker = ScheduleTicker(extension.schedules).start()
    guard.app = app.wsgi_app  # Socket.IO's middleware, with Flask behind it
    # Outermost: every answer (Socket.IO's and the guard's refusals too) is marked as the dashboard's,
    # and the first request tells the render pool where this server listens (under gunicorn nothing
    # else does).
    render = extension.render
    app.wsgi_app = MarkResponses(guard, render.deny if render is not None else None)  # type: ignore[method-assign]
    return app
