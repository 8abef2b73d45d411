"""User sessions: a random id in Flask's signed cookie, with a secret that survives restarts.

A request may also act as another session through an API key (crawler/web/keys.py): a key sent
as `Authorization: Bearer <key>`, given to a Socket.IO connection, or signed in to by this
browser. The key, once checked, is put in the request's WSGI environ under `KEY_ENVIRON`, and the
functions here answer with its session.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import g, request, session

from crawler.service.keys import ApiKey

SESSION_KEY = "sid"
KEY_ENVIRON = "crawler.api_key"  # the checked ApiKey this request acts with (set by crawler/web/keys.py only)
NO_SESSION_MESSAGE = ("no session: load the dashboard or GET /api/health first "
                      "to receive a session cookie")


def load_or_create_secret(data_dir: Path, name: str = ".secret_key") -> str:
    """A secret (the cookie-signing key; in cluster mode also a generated access token),
    generated once and kept (mode 0600) in the data directory.

    Several web servers sharing the data directory may start at the same moment: the secret is
    written whole to a private temporary file and hard-linked into place, which succeeds for
    exactly one of them (also on NFS); the others read the winner's."""
    path = Path(data_dir) / name
    existing = _read_secret(path)
    if existing:
        return existing
    secret = secrets.token_hex(32)
    temporary = path.with_name(f"{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secret)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            winner = _read_secret(path)
            if winner:
                return winner
            os.replace(temporary, path)  # a damaged or empty file from an old version: replace it
    finally:
        temporary.unlink(missing_ok=True)
    return secret


def _read_secret(path: Path) -> str | None:
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return secret if len(secret) >= 32 else None


def request_api_key() -> ApiKey | None:
    """The key this request acts with, as checked for it by crawler/web/keys.py; None for others."""
    key = request.environ.get(KEY_ENVIRON)
    return key if isinstance(key, ApiKey) else None


def ensure_session_id() -> str:
    """The caller's session id (the key's session for a request made with a key), creating the
    cookie's session on its first request."""
    key = request_api_key()
    if key is not None:
        return key.owner
    sid = session.get(SESSION_KEY)
    if not isinstance(sid, str) or len(sid) != 32:
        sid = secrets.token_hex(16)
        session[SESSION_KEY] = sid
        session.permanent = True
        g.new_session = True
    return sid


def session_made_now() -> bool:
    """True when this request came with neither a key nor a session cookie: its session was
    made for it (a client that keeps no cookie would get a new one at every request)."""
    return request_api_key() is None and bool(g.get("new_session"))


def current_session_id() -> str | None:
    """The owner of the current request: the key's session when it carries a valid key, else the
    cookie's session (None before the first request made one)."""
    key = request_api_key()
    if key is not None:
        return key.owner
    sid = session.get(SESSION_KEY)
    return sid if isinstance(sid, str) and len(sid) == 32 else None
