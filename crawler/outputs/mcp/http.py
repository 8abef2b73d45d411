"""The MCP server over streamable HTTP, served at /mcp by the Flask (WSGI) web server.

The SDK's streamable HTTP transport is an ASGI application. It runs here on one asyncio event
loop in a thread of its own, and each request reaches it through a2wsgi's ASGI→WSGI adapter from
a Flask view. Going through a Flask view (rather than mounting the ASGI app beside Flask) means
/mcp passes the same `before_request` hooks as the REST API: the access token rule of
`crawler/web/auth.py` and the session cookie. The view puts the caller's session id into the
request, and the tools see only that session's crawls, as `GET /api/crawls` lists them.

The transport runs stateless with JSON answers (no server-side MCP session, no long-lived event
stream): each POST is one self-contained exchange, which is what a WSGI server serves well and
lets any web server of a cluster answer any request.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from a2wsgi import ASGIMiddleware
from a2wsgi.wsgi_typing import Environ, StartResponse
from mcp.server.mcpserver import Context
from mcp.server.transport_security import TransportSecuritySettings

from crawler.outputs.mcp.library import DocsLibrary, SiteInfo, ToolInputError, build_server, request_scope
from crawler.outputs.search import SearchIndex

OWNER_KEY = "crawler.owner"  # WSGI environ → ASGI scope: whose crawls this request may see
CRAWLS_KEY = "crawler.mcp_crawls"  # WSGI environ: True when the request may start crawls (it carries an API key)


class OwnerCrawls(Protocol):
    """The host's crawls for one owner (crawler/service/mcp_crawls.py), as the crawl tools call them."""

    def start(self, owner: str, settings: dict[str, Any]) -> dict[str, Any]: ...
    def refresh(self, owner: str, crawl_id: str) -> dict[str, Any]: ...
    def status(self, owner: str, crawl_id: str) -> dict[str, Any]: ...


def _owner(context: Context | None) -> str:
    scope = request_scope(context)
    owner = scope.get(OWNER_KEY) if scope else None
    if not isinstance(owner, str) or not owner:
        raise ToolInputError("this request names no session: crawls cannot be started")
    return owner


class SessionCrawls:
    """The crawl tools' starter for the session named in the request (never any other)."""

    def __init__(self, crawls: OwnerCrawls) -> None:
        self._crawls = crawls

    def start(self, context: Context | None, settings: dict[str, Any]) -> dict[str, Any]:
        return self._crawls.start(_owner(context), settings)

    def refresh(self, context: Context | None, crawl_id: str) -> dict[str, Any]:
        return self._crawls.refresh(_owner(context), crawl_id)

    def status(self, context: Context | None, crawl_id: str) -> dict[str, Any]:
        return self._crawls.status(_owner(context), crawl_id)


class SessionSites:
    """The crawls of the session named in the request (never any other)."""

    def __init__(self, sites_of: Callable[[str], list[SiteInfo]]) -> None:
        self._sites_of = sites_of

    def sites(self, context: Context | None) -> list[SiteInfo]:
        scope = request_scope(context)
        owner = scope.get(OWNER_KEY) if scope else None
        if not isinstance(owner, str) or not owner:
            return []
        return self._sites_of(owner)


class McpHttp:
    """A WSGI application answering MCP's streamable HTTP for the session set in the environ.

    Two servers share the one event loop: the read-only tools for every caller, and the same
    tools with the crawl tools for a request the web layer marks (`CRAWLS_KEY`: it carries an API
    key). A caller without a key is never offered the crawl tools, nor can it call them."""

    def __init__(self, data_dir: Path, index: SearchIndex, sites_of: Callable[[str], list[SiteInfo]],
                 crawls: OwnerCrawls | None = None) -> None:
        library = DocsLibrary(data_dir, index, SessionSites(sites_of))
        self._manager = self._serve(build_server(library))
        self._crawl_manager = self._serve(build_server(library, SessionCrawls(crawls))) if crawls else None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-http", daemon=True)
        self._thread.start()
        self._closing: asyncio.Event | None = None
        ready = threading.Event()
        self._held = asyncio.run_coroutine_threadsafe(self._hold(ready), self._loop)
        if not ready.wait(10):
            raise RuntimeError("the MCP session manager did not start")
        self._wsgi = ASGIMiddleware(self._asgi, loop=self._loop)  # type: ignore[arg-type]  # a2wsgi's TypedDict scope lacks the wsgi_environ key it adds itself

    @staticmethod
    def _serve(server: Any) -> Any:
        # The DNS-rebinding guard (`Host` and `Origin`) is the web server's, in front of every route
        # and of Socket.IO (crawler/web/auth.py, source_refusal): one rule, with the names the
        # server was started for, so the SDK's own copy of it is off.
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
        server.streamable_http_app(json_response=True, stateless_http=True, transport_security=security)
        return server.session_manager

    async def _hold(self, ready: threading.Event) -> None:
        self._closing = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(self._manager.run())
            if self._crawl_manager is not None:
                await stack.enter_async_context(self._crawl_manager.run())
            ready.set()
            await self._closing.wait()

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        environ = scope.get("wsgi_environ") or {}
        scope[OWNER_KEY] = environ.get(OWNER_KEY)
        manager = self._crawl_manager if environ.get(CRAWLS_KEY) is True and self._crawl_manager else self._manager
        await manager.handle_request(scope, receive, send)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        return self._wsgi(environ, start_response)

    def close(self) -> None:
        if self._closing is not None:
            self._loop.call_soon_threadsafe(self._closing.set)
        try:
            self._held.result(5)
        except Exception:  # noqa: BLE001 - shutting down anyway
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
