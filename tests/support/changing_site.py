"""A small site whose pages a test edits between crawls, answering conditional requests (ETag,
Last-Modified) like a real server, for the refresh tests; `hits` records every request."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.server import Client
from tests.support.site import Site

LAST_MODIFIED = "Wed, 25 Nov 2026 10:00:00 GMT"


def html(title: str, text: str, links: list[str] = ()) -> str:
    items = "".join(f'<li><a href="{link}">{link.rsplit("/", 1)[-1] or "home"}</a></li>' for link in links)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
            f"<main><article><h1>{title}</h1><p>{text}</p><p>{text} It says more about the same thing, at length, "
            f"so the extractor keeps it as the page's main content.</p><ul>{items}</ul></article></main>"
            f"</body></html>")


@dataclass
class Page:
    body: str
    validator: str = "etag"  # etag | last_modified | none
    version: int = 1


@dataclass
class Hit:
    path: str
    if_none_match: str | None
    if_modified_since: str | None
    status: int
    bytes: int


class ChangingSite(Site):
    """A small site whose pages a test edits between crawls; `hits` is every request it answered.
    Started at once."""

    def __init__(self, pages: dict[str, Page], delay: dict[str, float] | None = None) -> None:
        self.pages = pages
        self.delay = delay or {}
        super().__init__()
        self.hits: list[Hit] = []  # type: ignore[assignment]
        self.start()

    def url(self, path: str) -> str:
        return self.base + path

    def edit(self, path: str, body: str) -> None:
        page = self.pages[path]
        self.pages[path] = Page(body, page.validator, page.version + 1)

    def hits_of(self, path: str) -> list[Hit]:
        with self._lock:
            return [hit for hit in self.hits if hit.path == path]

    def clear(self) -> None:
        with self._lock:
            self.hits.clear()

    def _answer(self, handler: BaseHTTPRequestHandler) -> tuple[int, bytes, dict[str, str]]:
        page = self.pages.get(handler.path.split("?")[0])
        if page is None:
            return 404, b"<h1>Not found</h1>", {"Content-Type": "text/html"}
        headers = {"Content-Type": "text/html; charset=utf-8"}
        etag = f'"{handler.path}-v{page.version}"'
        if page.validator == "etag":
            headers["ETag"] = etag
            if handler.headers.get("If-None-Match") == etag:
                return 304, b"", {"ETag": etag}
        elif page.validator == "last_modified":
            modified = LAST_MODIFIED if page.version == 1 else f"Thu, 26 Nov 2026 1{page.version}:00:00 GMT"
            headers["Last-Modified"] = modified
            if handler.headers.get("If-Modified-Since") == modified:
                return 304, b"", {"Last-Modified": modified}
        return 200, page.body.encode(), headers

    def answer(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        delay = self.delay.get(handler.path)
        if delay:
            threading.Event().wait(delay)
        status, body, headers = self._answer(handler)
        with self._lock:
            self.hits.append(Hit(handler.path, handler.headers.get("If-None-Match"),
                                 handler.headers.get("If-Modified-Since"), status, len(body)))
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if body:
            handler.wfile.write(body)




def first_version() -> dict[str, Page]:
    """The home page links every page but `deep`, which only `a` (unchanged: a 304) links."""
    links = ["/docs/a.html", "/docs/b.html", "/docs/c.html", "/docs/d.html", "/docs/e.html", "/docs/gone.html"]
    return {
        "/docs/": Page(html("Home", "The documentation home lists every guide.", links)),
        "/docs/a.html": Page(html("Alpha", "Alpha explains installation.", ["/docs/deep.html"]), "etag"),
        "/docs/b.html": Page(html("Beta", "Beta explains configuration."), "last_modified"),
        "/docs/c.html": Page(html("Gamma", "Gamma explains the command line."), "none"),
        "/docs/d.html": Page(html("Delta", "Delta explains deployment on one server."), "etag"),
        "/docs/e.html": Page(html("Epsilon", "Epsilon explains logging to a file."), "none"),
        "/docs/gone.html": Page(html("Gone", "This page will be removed."), "etag"),
        "/docs/deep.html": Page(html("Deep", "Deep is linked from Alpha only."), "etag"),
    }


def change_the_site(site: ChangingSite) -> None:
    """Second version: d and e edited, gone removed (404 and unlinked), new added; a, b, c, deep same."""
    links = ["/docs/a.html", "/docs/b.html", "/docs/c.html", "/docs/d.html", "/docs/e.html", "/docs/new.html"]
    site.edit("/docs/", html("Home", "The documentation home lists every guide, and a new one.", links))
    site.edit("/docs/d.html", html("Delta", "Delta explains deployment on a cluster of servers."))
    site.edit("/docs/e.html", html("Epsilon", "Epsilon explains logging to the journal."))
    del site.pages["/docs/gone.html"]
    site.pages["/docs/new.html"] = Page(html("New", "New explains upgrades."), "etag")


CONFIG = {"max_pages": 50, "concurrency": 4, "respect_robots": False, "use_sitemaps": False}


def crawl(client: Client, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    crawl_id = client.start(config)
    return crawl_id, client.wait_finished(crawl_id, timeout=30)["summary"]
