"""API keys over the web: made, listed and revoked by a session; acting as it everywhere.

- `POST /api/keys` `{"name"}` → 201 `{"id", "name", "key", "created_at"}` (the key shown once),
  `GET /api/keys` (no secrets), `DELETE /api/keys/<id>`. Keys are made by a session itself (its
  browser or a script with its cookie), never with a key: a leaked key cannot mint others that
  would outlive its revocation.
- `Authorization: Bearer <key>` on any HTTP route (REST, `/mcp`, `/metrics`, downloads) and
  `auth={"key": ...}` (or the same header) on Socket.IO: the request acts as the key's session.
  A valid key also passes the access-token guard (it was made by an authorised session).
- `POST /api/session/key` `{"key"}` signs this browser in to a key's session ("sign in with a
  key": the key's crawls from another machine); `DELETE /api/session/key` signs out, back to the
  browser's own session. The cookie holds the key's id, checked at every request: revoking the
  key signs such browsers out.

`identify` runs before every request, before the access token's check. Every check reads the
key store (crawler/service/keys.py), so a revoked key is refused from the next request on, on
every web server of a cluster; a Socket.IO connection made with it is refused its next event and
disconnected within a second (`KeySocketWatch`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, session
from flask_socketio import SocketIO, disconnect, join_room
from werkzeug.wrappers import Response as BaseResponse

from crawler.service.errors import StoreUnavailable
from crawler.service.keys import KEY_ID_PATTERN, ApiKey, ApiKeys, KeyRefused, TooManyKeys, looks_like_key
from crawler.web.auth import WRONG_TOKEN_MESSAGE, bearer_value, configured_token, refuse, token_matches
from crawler.web.extensions import extension
from crawler.web.sessions import KEY_ENVIRON, ensure_session_id, request_api_key

log = logging.getLogger(__name__)

blueprint = Blueprint("keys", __name__)

INVALID_KEY_MESSAGE = "the API key is not valid: it was revoked, or was never issued by this server"
SIGNED_IN_KEY = "key"  # in the session cookie: {"id", "owner"} of the key this browser signed in with
KEY_ROOM_PREFIX = "apikey:"  # the Socket.IO room of the connections made with one key
WATCH_SECONDS = 1.0


def keys() -> ApiKeys:
    store = extension().keys
    if store is None:
        raise StoreUnavailable("API keys are not available on this server")
    return store


def request_key_id() -> str | None:
    """The id of the key that authenticated this request (a Bearer key, a socket's key, a browser
    signed in with a key); None for cookie and access-token callers."""
    key = request_api_key()
    return key.key_id if key is not None else None


def _signed_in_key() -> ApiKey | None:
    """The key this browser signed in with, if it is still valid (else the mark is dropped)."""
    mark = session.get(SIGNED_IN_KEY)
    if mark is None:
        return None
    key_id = mark.get("id") if isinstance(mark, dict) else None
    owner = mark.get("owner") if isinstance(mark, dict) else None
    key = (keys().still_valid(key_id, owner)
           if isinstance(key_id, str) and isinstance(owner, str) else None)
    if key is None:
        session.pop(SIGNED_IN_KEY, None)
    return key


def identify() -> BaseResponse | None:
    """Before every request: a Bearer value is the access token or a valid key, else 401; a
    valid key (or this browser's signed-in key) becomes the identity of the request."""
    if request.path.startswith("/static/"):
        return None
    bearer = bearer_value()
    if bearer is None or (configured_token() is not None and token_matches(bearer)):
        key = _signed_in_key()
        if key is not None:
            request.environ[KEY_ENVIRON] = key
        return None
    key = keys().verify(bearer)
    if key is None:
        on_token_server = configured_token() is not None and not looks_like_key(bearer)
        return refuse(WRONG_TOKEN_MESSAGE if on_token_server else INVALID_KEY_MESSAGE)
    request.environ[KEY_ENVIRON] = key
    return None


def error(message: str, status: int) -> tuple[Response, int]:
    return jsonify({"error": message}), status


@blueprint.post("/api/keys")
def create_key() -> tuple[Response, int]:
    if request_key_id() is not None:
        return error("keys are made by the session itself (its browser, or a script with its cookie), "
                     "not with a key", 403)
    data = request.get_json(silent=True) if request.is_json else None
    if not isinstance(data, dict):
        return error('the request body must be a JSON object, e.g. {"name": "my script"}, sent with '
                     "Content-Type: application/json", 400)
    try:
        record, secret = keys().create(ensure_session_id(), data.get("name"))
    except KeyRefused as exc:
        return error(str(exc), 409 if isinstance(exc, TooManyKeys) else 400)
    answer = jsonify({"id": record.key_id, "name": record.name, "key": secret, "created_at": record.created_at})
    answer.headers["Cache-Control"] = "no-store"
    return answer, 201


@blueprint.get("/api/keys")
def list_keys() -> Response:
    return jsonify({"keys": [key.row() for key in keys().list(ensure_session_id())]})


@blueprint.delete("/api/keys/<key_id>")
def revoke_key(key_id: str) -> tuple[Response, int]:
    shown = key_id[:40]
    if not KEY_ID_PATTERN.fullmatch(key_id) or not keys().revoke(ensure_session_id(), key_id):
        return error(f"unknown key {shown!r}", 404)
    end_key_sockets(key_id)
    return jsonify({"ok": True}), 200


@blueprint.post("/api/session/key")
def sign_in() -> tuple[Response, int]:
    """Sign this browser in to a key's session: `{"key": "cdk_..."}` (or the key as Bearer)."""
    data = request.get_json(silent=True) if request.is_json else None
    presented = data.get("key") if isinstance(data, dict) else None
    key = keys().verify(presented) if presented is not None else request_api_key()
    if key is None:
        if presented is None:
            return error('send the key to sign in with: {"key": "cdk_..."}', 400)
        return error(INVALID_KEY_MESSAGE, 401)
    session[SIGNED_IN_KEY] = {"id": key.key_id, "owner": key.owner}
    session.permanent = True
    return jsonify({"ok": True, "session_id": key.owner, "key": {"id": key.key_id, "name": key.name}}), 200


@blueprint.delete("/api/session/key")
def sign_out() -> tuple[Response, int]:
    session.pop(SIGNED_IN_KEY, None)
    request.environ.pop(KEY_ENVIRON, None)  # a key sent as Bearer with this request: it stays valid
    return jsonify({"ok": True, "session_id": ensure_session_id()}), 200


# ---------------------------------------------------------------- Socket.IO


def socket_key(auth: Any) -> ApiKey | None:
    """At a Socket.IO connection: the key it acts with (auth={"key": ...}, else a Bearer header,
    else this browser's signed-in key), put in the connection's environ; None without one.
    ConnectionRefusedError for a key that is not valid."""
    from flask_socketio import ConnectionRefusedError

    presented = auth.get("key") if isinstance(auth, dict) else None
    if presented is None:
        bearer = bearer_value()
        presented = bearer if bearer is not None and looks_like_key(bearer) else None
    try:
        key = keys().verify(presented) if presented is not None else _signed_in_key()
    except StoreUnavailable as exc:
        raise ConnectionRefusedError(str(exc)) from exc
    if presented is not None and key is None:
        raise ConnectionRefusedError(INVALID_KEY_MESSAGE)
    if key is None:
        return None
    request.environ[KEY_ENVIRON] = key
    join_room(KEY_ROOM_PREFIX + key.key_id)
    watch = extension().key_watch
    if watch is not None:
        watch.start()
    return key


def socket_key_still_valid() -> bool:
    """Before each Socket.IO event: False (and the connection closed) when the key the connection
    was made with has been revoked since."""
    key = request_api_key()
    if key is None:
        return True
    try:
        valid = keys().still_valid(key.key_id, key.owner) is not None
    except StoreUnavailable:
        return True  # the event's own handler answers that the store is unavailable
    if not valid:
        request.environ.pop(KEY_ENVIRON, None)
        disconnect()
    return valid


def end_key_sockets(key_id: str) -> None:
    """Close this server's connections made with a revoked key (the watch of each other server
    closes its own)."""
    socketio: SocketIO | None = current_app.extensions.get("socketio")
    if socketio is not None and socketio.server is not None:
        _disconnect_room(socketio, KEY_ROOM_PREFIX + key_id)


def _disconnect_room(socketio: SocketIO, room: str) -> None:
    server = socketio.server
    for sid, _ in list(server.manager.get_participants("/", room)):
        try:
            server.disconnect(sid, namespace="/", ignore_queue=True)
        except Exception as exc:  # noqa: BLE001 - already gone
            log.debug("closing %s: %s", sid, exc)


class KeySocketWatch:
    """Once a second, the connections to this server made with a key are checked against the
    store; those whose key was revoked (through any web server) are disconnected. Started on the
    first such connection."""

    def __init__(self, socketio: SocketIO, store: ApiKeys) -> None:
        self._socketio = socketio
        self._store = store
        self._started = False
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        self._socketio.start_background_task(self._run)

    def close(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._socketio.sleep(WATCH_SECONDS)
            try:
                self.check()
            except Exception as exc:  # noqa: BLE001 - Redis away: look again next time
                log.warning("API keys: could not check the connections' keys: %s", exc)

    def check(self) -> None:
        server = self._socketio.server
        if server is None:
            return
        try:
            rooms = [room for room in list(server.manager.rooms.get("/", {}))
                     if isinstance(room, str) and room.startswith(KEY_ROOM_PREFIX)]
        except RuntimeError:  # a connection joined or left meanwhile: look again next time
            return
        for room in rooms:
            key_id = room[len(KEY_ROOM_PREFIX):]
            if self._store.store.get(key_id) is None:
                _disconnect_room(self._socketio, room)

