"""The web layer: Flask routes, Socket.IO handlers and the sink that adapts engine events.

Thin on purpose: every decision about crawling lives in the engine; this package only maps
HTTP requests and socket events onto the registry, and engine events onto Socket.IO rooms.
"""

from __future__ import annotations

from crawler.web.app import create_app

__all__ = ["create_app"]
