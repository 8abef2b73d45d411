"""Engine events → one Socket.IO room (the owner session's)."""

from __future__ import annotations

from typing import Any

from flask_socketio import SocketIO


class RoomSink:
    """An EventSink that sends every event of a crawl to its owner's room, and only there."""

    def __init__(self, socketio: SocketIO, room: str) -> None:
        self._socketio = socketio
        self._room = room

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        self._socketio.emit(event, payload, to=self._room)
