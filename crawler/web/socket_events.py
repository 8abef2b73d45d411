"""Socket.IO handlers: connect joins the session's room; start/stop are acknowledged."""

from __future__ import annotations

from typing import Any

from flask_socketio import ConnectionRefusedError, join_room

from ..config import ConfigError
from ..registry import UnknownCrawl
from .app import services, socketio
from .sessions import NO_SESSION_MESSAGE, current_session_id


@socketio.on("connect")
def on_connect(auth: Any = None) -> None:
    """Only sockets that carry the session cookie are accepted; they join their session's room."""
    session_id = current_session_id()
    if session_id is None:
        raise ConnectionRefusedError(NO_SESSION_MESSAGE)
    join_room(session_id)


def _start(data: Any, kind: str) -> dict[str, Any]:
    session_id = current_session_id()
    if session_id is None:
        return {"ok": False, "error": NO_SESSION_MESSAGE}
    try:
        record = services().registry.start(session_id, data, kind=kind)
    except ConfigError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "crawl_id": record.crawl_id}


@socketio.on("start_crawl")
def on_start_crawl(data: Any = None) -> dict[str, Any]:
    return _start(data, "crawl")


@socketio.on("start_discovery")
def on_start_discovery(data: Any = None) -> dict[str, Any]:
    return _start(data, "discovery")


@socketio.on("stop_crawl")
def on_stop_crawl(data: Any = None) -> dict[str, Any]:
    session_id = current_session_id()
    crawl_id = data.get("crawl_id") if isinstance(data, dict) else None
    if session_id is None or not isinstance(crawl_id, str):
        return {"ok": False, "error": "stop_crawl needs {\"crawl_id\": \"...\"}"}
    try:
        state = services().registry.stop(session_id, crawl_id)
    except UnknownCrawl as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "state": state.value}


@socketio.on("echo")
def on_echo(data: Any = None) -> dict[str, Any]:
    """Answers at once: lets a client (or the benchmark) measure round trips under load."""
    return {"ok": True, "data": data}
