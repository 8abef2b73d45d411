"""Crawler Dashboard: a real-time crawler for documentation sites.

The engine (config, frontier, fetch, parse, extract, store, progress, controller) knows nothing
about Flask or Socket.IO; ``crawler.web`` adapts it to a browser dashboard and a REST API.
"""

__version__ = "0.1.0"
