"""User sessions: a random id in Flask's signed cookie, with a secret that survives restarts."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import session

SESSION_KEY = "sid"
NO_SESSION_MESSAGE = ("no session: load the dashboard or GET /api/health first "
                      "to receive a session cookie")


def load_or_create_secret(data_dir: Path) -> str:
    """The cookie-signing secret, generated once and kept (mode 0600) in the data directory."""
    path = Path(data_dir) / ".secret_key"
    if path.exists():
        secret = path.read_text(encoding="utf-8").strip()
        if len(secret) >= 32:
            return secret
    secret = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret)
    return secret


def ensure_session_id() -> str:
    """The caller's session id, creating the session on its first request."""
    sid = session.get(SESSION_KEY)
    if not isinstance(sid, str) or len(sid) != 32:
        sid = secrets.token_hex(16)
        session[SESSION_KEY] = sid
        session.permanent = True
    return sid


def current_session_id() -> str | None:
    sid = session.get(SESSION_KEY)
    return sid if isinstance(sid, str) and len(sid) == 32 else None
