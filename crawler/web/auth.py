"""The access token: required on every surface (dashboard, REST, Socket.IO) when one is set.

A server reachable from other machines must not hand out crawls and downloads to anyone who
finds the port. The dashboard is opened once with `?token=...`; that marks the signed session
cookie as authorised (with an HMAC of the token, so a new token revokes old cookies) and the
token is stripped from the address bar. Scripts send `Authorization: Bearer <token>` (REST) or
`auth={"token": ...}` (Socket.IO). Every comparison is constant-time.

A valid API key (crawler/web/keys.py, checked before this guard) passes it too: it was made by
an authorised session, so a script needs to send only its key.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, jsonify, redirect, request, session
from werkzeug.wrappers import Response as BaseResponse

from crawler.service.config import ServerConfig, split_host_port
from crawler.web.sessions import request_api_key

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


def bearer_value() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def request_is_authorised() -> bool:
    """The authorised session cookie, a correct bearer token, or a valid API key on this request."""
    bearer = bearer_value()
    return (session_is_authorised() or request_api_key() is not None
            or (bearer is not None and token_matches(bearer)))


def refuse(message: str) -> Response:
    if request.path.startswith("/v2/"):  # Firecrawl's API (crawler/web/firecrawl.py): its error shape
        response = jsonify({"success": False, "error": message})
    elif request.path.startswith("/api/") or request.path == "/mcp":
        response = jsonify({"error": message})
    else:
        response = Response(f"401 Unauthorized: {message}\n", mimetype="text/plain")
    response.headers["WWW-Authenticate"] = 'Bearer realm="crawler"'  # a browser shows no prompt for Bearer
    response.status_code = 401
    response.headers["Cache-Control"] = "no-store"
    return response


def require_token() -> BaseResponse | None:
    """Runs before every request: None lets it through, a 401 (or the token-stripping redirect)
    answers instead."""
    if configured_token() is None or request.path in OPEN_PATHS or request.path.startswith("/static/"):
        return None
    if request.path == "/" and "token" in request.args:
        if not token_matches(request.args.get("token")):
            return refuse(WRONG_TOKEN_MESSAGE)
        authorise_session()
        response = redirect("/", code=303)  # keeps the token out of the address bar and history
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
    if session_is_authorised() or request_api_key() is not None:
        return None
    bearer = bearer_value()
    if bearer is not None:
        return None if token_matches(bearer) else refuse(WRONG_TOKEN_MESSAGE)
    return refuse(TOKEN_REQUIRED_MESSAGE)


def socket_is_authorised(auth: Any) -> bool:
    """A Socket.IO handshake: the authorised session cookie, auth={"token": ...}, or a valid API
    key (checked before, by crawler/web/keys.py `socket_key`)."""
    if session_is_authorised() or request_api_key() is not None:
        return True
    return isinstance(auth, dict) and token_matches(auth.get("token")) and configured_token() is not None


# ---------------------------------------------------------------- the names the server answers to
#
# DNS rebinding: a web page on a name the attacker controls (rebind.attacker.example) makes that
# name resolve to 127.0.0.1; the browser then sends the page's requests to this server as
# same-origin requests, with `Host: rebind.attacker.example:<port>`, and lets the page read the
# answers. Every request (dashboard, REST, /metrics, downloads, static files, /mcp and the
# Socket.IO handshake) therefore has its `Host` and `Origin` checked against the names the server
# was started for, by `source_refusal` below and nothing else.

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class HostRule:
    """The names (`Host`) and page origins (`Origin`) this server answers."""

    names: tuple[tuple[str, int | None], ...]  # (lowercase name, port or None for any port)
    any_host: bool = False  # off loopback with an access token and no --allowed-hosts: the token guards

    @classmethod
    def for_config(cls, config: ServerConfig) -> HostRule:
        """From how the server was started: loopback → localhost, 127.0.0.1 and [::1] on its port
        (any port when the port is unknown, under gunicorn); a specific address adds itself;
        --allowed-hosts adds its names. Off loopback (0.0.0.0, or an address unknown under a WSGI
        runner) with a token and without --allowed-hosts, the server cannot know the names it is
        reached by: any `Host` is answered and the token (required there) is the guard."""
        listen = (config.host or "").strip().strip("[]").lower()
        port = config.port
        names: list[tuple[str, int | None]] = [(name, port) for name in LOOPBACK_NAMES]
        if listen not in WILDCARD_ADDRESSES and (listen, port) not in names:
            names.append((listen, port))
        for entry in config.allowed_hosts:
            parsed = split_host_port(entry)
            if parsed is not None:
                names.append(parsed)
        on_loopback = bool(listen) and is_loopback_host(listen)
        any_host = config.token is not None and not config.allowed_hosts and not on_loopback
        return cls(tuple(dict.fromkeys(names)), any_host)

    def lists(self, name: str, port: int | None) -> bool:
        """Whether (name, port) is one of the names; a missing port is the default one (80 or 443)."""
        for allowed, allowed_port in self.names:
            if allowed != name:
                continue
            if allowed_port is None or port == allowed_port or (port is None and allowed_port in (80, 443)):
                return True
        return False

    def shown(self) -> str:
        def show(name: str, port: int | None) -> str:
            host = f"[{name}]" if ":" in name else name
            return host if port is None else f"{host}:{port}"

        return ", ".join(show(name, port) for name, port in self.names)


def _origin_authority(origin: str) -> tuple[str, int | None] | None:
    """`http://name:port` → (name, port); None for `null`, another scheme, or anything malformed."""
    try:
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
            return None
        return parts.hostname.lower(), parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None


def source_refusal(rule: HostRule, host: str | None, origin: str | None) -> tuple[int, str] | None:
    """THE rule for every surface: None when a request with these `Host` and `Origin` headers
    may be answered, else (421, why) for a name the server does not answer to, or (403, why) for
    a page of another origin. No `Host` (HTTP/1.0; never a browser) passes the Host check; no
    `Origin` (not a browser's cross-origin request) passes the Origin check."""
    parsed_host = split_host_port(host) if host else None
    if host and not rule.any_host and (parsed_host is None or not rule.lists(*parsed_host)):
        return 421, (f"this server does not answer to the name {host[:100]!r} (it answers to {rule.shown()}); "
                     "to reach it under another name, such as a reverse proxy's, start it with "
                     "--allowed-hosts <name> or set CRAWLER_ALLOWED_HOSTS")
    if origin is not None:
        authority = _origin_authority(origin)
        same = (authority is not None and parsed_host is not None
                and authority[0] == parsed_host[0] and (parsed_host[1] in (None, authority[1])))
        if authority is None or not (rule.lists(*authority) or (rule.any_host and same)):
            return 403, (f"requests from pages of {origin[:100]!r} are refused: only this server's own pages "
                         "may call it (a page served under another name of yours: add that name with "
                         "--allowed-hosts or CRAWLER_ALLOWED_HOSTS)")
    return None


class SourceGuard:
    """WSGI middleware in front of Flask and Socket.IO alike: a request refused by
    `source_refusal` is answered with a JSON error and reaches neither."""

    REASONS = {403: "FORBIDDEN", 421: "MISDIRECTED REQUEST"}

    def __init__(self, app: Callable[..., Iterable[bytes]], rule: HostRule) -> None:
        self.app = app
        self.rule = rule

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        refusal = source_refusal(self.rule, environ.get("HTTP_HOST"), environ.get("HTTP_ORIGIN"))
        if refusal is None:
            return self.app(environ, start_response)
        status, message = refusal
        body = json.dumps({"error": message}).encode()
        start_response(f"{status} {self.REASONS[status]}", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"), ("Vary", "Origin")])
        return [body]

    def origin_allowed(self, origin: str | None, environ: dict[str, Any]) -> bool:
        """Socket.IO's `cors_allowed_origins`: the same rule, so Engine.IO reflects no other origin."""
        return source_refusal(self.rule, environ.get("HTTP_HOST"), origin) is None
