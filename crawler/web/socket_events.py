"""Socket.IO handlers: connect joins the session's room; start/stop are acknowledged.

A connection made with an API key (auth={"key": ...}) acts as the key's session; each of its
events first checks that the key was not revoked since (crawler/web/keys.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask_socketio import ConnectionRefusedError, SocketIO, join_room

from crawler.engine.config import ConfigError
from crawler.folder.paths import is_crawl_id
from crawler.service.errors import StoreUnavailable, UnknownCrawl
from crawler.web.auth import (
    TOKEN_REQUIRED_MESSAGE,
    WRONG_TOKEN_MESSAGE,
    socket_is_authorised,
)
from crawler.web.extensions import extension
from crawler.web.keys import INVALID_KEY_MESSAGE, socket_key, socket_key_still_valid
from crawler.web.sessions import NO_SESSION_MESSAGE, current_session_id


def on_connect(auth: Any = None) -> None:
    """Only sockets that carry the session cookie (and, when one is set, the access token or an
    authorised session) are accepted; they join their session's room and no other. A connection
    with an API key (auth={"key": ...}) acts as the key's session, and needs no token."""
    socket_key(auth)  # refuses a key that is not valid
    if not socket_is_authorised(auth):
        has_token = isinstance(auth, dict) and auth.get("token") is not None
        raise ConnectionRefusedError(WRONG_TOKEN_MESSAGE if has_token else TOKEN_REQUIRED_MESSAGE)
    session_id = current_session_id()
    if session_id is None:
        raise ConnectionRefusedError(NO_SESSION_MESSAGE)
    join_room(session_id)
    extension().metrics.client_connected()


def on_disconnect(*_: Any) -> None:
    """Only sockets that were accepted reach this (a refused handshake does not)."""
    extension().metrics.client_disconnected()


def _crawl_id(data: Any) -> str | None:
    """The payload's crawl id when it has the exact id shape; anything else is no crawl at all."""
    crawl_id = data.get("crawl_id") if isinstance(data, dict) else None
    return crawl_id if is_crawl_id(crawl_id) else None


def _unknown(data: Any) -> dict[str, Any]:
    """Malformed, missing and someone else's crawl all get these same words."""
    raw = data.get("crawl_id") if isinstance(data, dict) else None
    return {"ok": False, "error": f"unknown crawl {str(raw)[:100]!r}"}


def _start(data: Any, kind: str) -> dict[str, Any]:
    session_id = current_session_id()
    if session_id is None:
        return {"ok": False, "error": NO_SESSION_MESSAGE}
    try:
        record = extension().crawls.start(session_id, data, kind=kind)
    except (ConfigError, StoreUnavailable) as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "crawl_id": record.crawl_id}


def on_start_crawl(data: Any = None) -> dict[str, Any]:
    return _start(data, "crawl")


def on_start_discovery(data: Any = None) -> dict[str, Any]:
    return _start(data, "discovery")


def _on_own_crawl(event: str, data: Any, action: Callable[[str, str], dict[str, Any]]) -> dict[str, Any]:
    """The checks every event naming one of the caller's crawls shares, then `action(session, id)`."""
    session_id = current_session_id()
    if session_id is None or not isinstance(data, dict) or "crawl_id" not in data:
        return {"ok": False, "error": f'{event} needs {{"crawl_id": "..."}}'}
    crawl_id = _crawl_id(data)
    if crawl_id is None:
        return _unknown(data)
    try:
        return action(session_id, crawl_id)
    except (UnknownCrawl, ConfigError, StoreUnavailable) as exc:
        return {"ok": False, "error": str(exc.args[0]) if exc.args else "unknown crawl"}


def on_stop_crawl(data: Any = None) -> dict[str, Any]:
    def stop(session_id: str, crawl_id: str) -> dict[str, Any]:
        return {"ok": True, "state": extension().crawls.stop(session_id, crawl_id).value}

    return _on_own_crawl("stop_crawl", data, stop)


def on_resume_crawl(data: Any = None) -> dict[str, Any]:
    """Continue one of the caller's stopped or interrupted crawls where it left off."""
    def resume(session_id: str, crawl_id: str) -> dict[str, Any]:
        record = extension().crawls.resume(session_id, crawl_id)
        return {"ok": True, "crawl_id": record.crawl_id, "state": record.state.value}

    return _on_own_crawl("resume_crawl", data, resume)


def on_refresh_crawl(data: Any = None) -> dict[str, Any]:
    """Start a new crawl with the settings of one of the caller's ended crawls, linked to it."""
    def refresh(session_id: str, crawl_id: str) -> dict[str, Any]:
        record = extension().crawls.refresh(session_id, crawl_id)
        return {"ok": True, "crawl_id": record.crawl_id, "refresh_of": crawl_id, "state": record.state.value}

    return _on_own_crawl("refresh_crawl", data, refresh)


def on_watch_crawl(data: Any = None) -> dict[str, Any]:
    """Attach to one of the caller's crawls: its current detail (as GET /api/crawls/<id>); its
    live events already reach every socket of the session. Another session's crawl is unknown."""
    session_id = current_session_id()
    crawl_id = _crawl_id(data)
    if session_id is None or crawl_id is None:
        return _unknown(data)
    try:
        detail = extension().crawls.detail(session_id, crawl_id)
    except (UnknownCrawl, StoreUnavailable) as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, **detail}


def on_join(data: Any = None) -> dict[str, Any]:
    """Rooms are not chosen by clients: a socket is in its own session's room from the start, and
    asking for any other room is refused."""
    session_id = current_session_id()
    room = data.get("room") if isinstance(data, dict) else data
    if session_id is not None and isinstance(room, str) and room == session_id:
        return {"ok": True, "room": room}
    return {"ok": False, "error": "joining that room is not allowed: a connection receives its own session's "
                                  "events only (use watch_crawl with one of your crawl ids)"}


def on_echo(data: Any = None) -> dict[str, Any]:
    """Answers at once: lets a client (or the benchmark) measure round trips under load."""
    return {"ok": True, "data": data}


HANDLERS: dict[str, Callable[..., Any]] = {
    "connect": on_connect,
    "disconnect": on_disconnect,
    "start_crawl": on_start_crawl,
    "start_discovery": on_start_discovery,
    "stop_crawl": on_stop_crawl,
    "resume_crawl": on_resume_crawl,
    "refresh_crawl": on_refresh_crawl,
    "watch_crawl": on_watch_crawl,
    "join": on_join,
    "echo": on_echo,
}


def checking_key(handler: Callable[..., Any]) -> Callable[..., Any]:
    """An event handler that first refuses (and disconnects) a connection whose key was revoked."""
    @functools.wraps(handler)
    def handle(*args: Any) -> Any:
        if not socket_key_still_valid():
            return {"ok": False, "error": INVALID_KEY_MESSAGE}
        return handler(*args)
    return handle


def register(socketio: SocketIO) -> None:
    """Bind every handler to this app's own Socket.IO server."""
    for event, handler in HANDLERS.items():
        socketio.on_event(event, handler if event in ("connect", "disconnect") else checking_key(handler))
