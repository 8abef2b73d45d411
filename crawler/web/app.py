"""The application factory: one Flask app, one Socket.IO server, one crawl registry."""

from __future__ import annotations

import atexit
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from flask_socketio import SocketIO

from ..config import ServerConfig
from ..cpu import CpuPool
from ..registry import CrawlRegistry
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
    registry: CrawlRegistry
    cpu: CpuPool

    def close(self) -> None:
        try:
            self.registry.shutdown()
        finally:
            self.cpu.shutdown()


def services() -> CrawlerServices:
    return current_app.extensions["crawler"]


def _server_config(config: ServerConfig | dict[str, Any] | None) -> ServerConfig:
    if isinstance(config, ServerConfig):
        return config
    if config is None:
        return ServerConfig.from_env(dict(os.environ))
    return ServerConfig(**config)


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

    # Under eventlet the fork server is unavailable and forking a patched process is unsafe:
    # workers are spawned fresh instead (slower to start, same once running).
    start_method = "spawn" if server_config.async_mode == "eventlet" else "forkserver"
    cpu = CpuPool(server_config.cpu_workers, start_method=start_method)
    cpu.warm_up()
    registry = CrawlRegistry(data_dir, cpu, lambda session_id: RoomSink(socketio, session_id),
                             allow_private_targets=server_config.allow_private_targets,
                             max_running=server_config.max_running_crawls,
                             max_per_session=server_config.max_crawls_per_session,
                             max_queued_per_session=server_config.max_queued_per_session)
    crawler_services = CrawlerServices(server_config, registry, cpu)
    app.extensions["crawler"] = crawler_services
    atexit.register(crawler_services.close)

    from . import routes, socket_events  # noqa: F401 - registers the handlers
    from .auth import require_token

    app.before_request(require_token)  # before the blueprint's hooks: a refused request gets no session
    app.register_blueprint(routes.blueprint)
    # An oversize message closes that one connection (WebSocket) or answers 413 (polling).
    socketio.init_app(app, async_mode=server_config.async_mode, ping_interval=10, ping_timeout=20,
                      max_http_buffer_size=MAX_REQUEST_BYTES)
    return app
