"""The crawled sites as an MCP server: list them, search them, read a page, read a site's outline.

Two ways in, one set of tools (:func:`build_server`):

- stdio, ``crawler-mcp --data-dir ./crawls``: the local user's own tool; it serves every
  crawl in the data directory.
- streamable HTTP at ``/mcp`` on the web server (``crawler/outputs/mcp/http.py``): the same token rule as
  the REST API, and only the crawls of the session the request's cookie names, exactly as
  ``GET /api/crawls`` would list them.

Which crawls a caller may see is a :class:`SiteSource`; every tool asks it on every call, so a
tool never reads a crawl outside that list. Every answer is capped in size and says how to get
the rest (an ``offset`` to pass back).
"""

from __future__ import annotations

from crawler.outputs.mcp.library import (
    DocsLibrary,
    FolderSites,
    SiteInfo,
    SiteSource,
    ToolInputError,
    build_server,
)

__all__ = ["DocsLibrary", "FolderSites", "SiteInfo", "SiteSource", "ToolInputError", "build_server"]
