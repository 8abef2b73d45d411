"""The access token: required on every surface (dashboard, REST, Socket.IO) when one is set.

A server reachable from other machines must not hand out crawls and downloads to anyone who
finds the port. The dashboard is opened once with `?token=...`; that marks the signed session
cookie as authorised (with an HMAC of the token, so a new token revokes old cookies) and the
token is stripped from the address bar. Scripts send `Authorization: Bearer <token>` (REST) or
`auth={"token": ...}` (Socket.IO). Every comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Any

from flask import Response, current_app, jsonify, redirect, request, session

AUTH_KEY = "auth"
OPEN_PATHS = ("/api/health",)
TOKEN_REQUIRED_MESSAGE = ("an access token is required: open the dashboard with the address the server printed "
                          "(…/?token=...), send 'Authorization: Bearer <token>' to the REST API, or connect "
                          "Socket.IO with auth={\"token\": \"...\"}")
WRONG_TOKEN_MESSAGE = "the access token is not valid"


def is_loopback_host(host: str) -> bool:
    """True for addresses only this machine can reach: 127.0.0.0/8, ::1 and localhost."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def configured_token() -> str | None:
    return current_app.extensions["crawler"].config.token


def _token_mark(token: str) -> str:
    """What the session cookie holds once authorised: bound to this token and this server's secret."""
    key = str(current_app.secret_key).encode()
    return hmac.new(key, b"crawler-token:" + token.encode(), hashlib.sha256).hexdigest()


def token_matches(candidate: Any) -> bool:
    token = configured_token()
    if token is None:
        return True
    if not isinstance(candidate, str):
        return False
    return hmac.compare_digest(candidate.encode(), token.encode())


def session_is_authorised() -> bool:
    token = configured_token()
    if token is None:
        return True
    mark = session.get(AUTH_KEY)
    return isinstance(mark, str) and hmac.compare_digest(mark, _token_mark(token))


def authorise_session() -> None:
    token = configured_token()
    if token is not None:
        session[AUTH_KEY] = _token_mark(token)
        session.permanent = True


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def request_is_authorised() -> bool:
    """The authorised session cookie, or a correct bearer token on this request."""
    bearer = _bearer()
    return session_is_authorised() or (bearer is not None and token_matches(bearer))


def _refuse(message: str) -> Response:
    if request.path.startswith("/api/") or request.path == "/mcp":
        response = jsonify({"error": message})
        response.headers["WWW-Authenticate"] = 'Bearer realm="crawler"'
    else:
        response = Response(f"401 Unauthorized: {message}\n", mimetype="text/plain")
    response.status_code = 401
    response.headers["Cache-Control"] = "no-store"
    return response


def require_token() -> Response | None:
    """Runs before every request: None lets it through, a 401 (or the token-stripping redirect)
    answers instead."""
    if configured_token() is None or request.path in OPEN_PATHS or request.path.startswith("/static/"):
        return None
    if request.path == "/" and "token" in request.args:
        if not token_matches(request.args.get("token")):
            return _refuse(WRONG_TOKEN_MESSAGE)
        authorise_session()
        response = redirect("/", code=303)  # keeps the token out of the address bar and history
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
    if session_is_authorised():
        return None
    bearer = _bearer()
    if bearer is not None:
        return None if token_matches(bearer) else _refuse(WRONG_TOKEN_MESSAGE)
    return _refuse(TOKEN_REQUIRED_MESSAGE)


def socket_is_authorised(auth: Any) -> bool:
    """A Socket.IO handshake: the authorised session cookie, or auth={"token": ...}."""
    if session_is_authorised():
        return True
    return isinstance(auth, dict) and token_matches(auth.get("token")) and configured_token() is not None
