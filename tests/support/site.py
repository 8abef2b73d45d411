"""The tests' one local HTTP server, on 127.0.0.1, and the documentation site built on it.

`Site` is the server: it records every request (path, count, time, user agent, concurrency), so
tests assert on what the server actually saw, and answers from routes a test registers
(`site.route(path, body, status=, headers=, reason=)`, a prefix, or a callable that answers at
request time). The other test sites are built on it: the hostile site (tests/support/hostile.py),
the rendering sites (render_sites.py), the editable refresh site (changing_site.py) and the
reader's pages (reader_site.py).

`DocSite` is the generated documentation site. Pages form a tree under /docs/: page i links to
pages 3i+1..3i+3, so the whole site is reachable breadth first and depth grows slowly. Optional
troublemakers: slow pages, a page that trickles bytes for a long time, non-HTML files, a 404, a
robots.txt, a page that crashes the extraction worker (with the crash marker set), sitemaps (an
index in robots.txt, nested, one of them gzipped) listing pages nobody links to while leaving out
some that are linked, print copies declaring rel=canonical, links with tracking parameters,
pages that answer 500 or 429 (with Retry-After) a few times before they work, redirects, an
endless calendar, and for llms.txt og:site_name and meta descriptions, a changelog, release notes
and a blog post. A test's own routes come first.

Run by hand: ``python -m tests.support.site --pages 200 --port 8001``.
"""

from __future__ import annotations

import argparse
import gzip
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

CRASH_MARKER = "CRASH-THE-EXTRACTION-WORKER"

PARAGRAPH = ("This section explains how the configuration loader resolves settings from the "
             "environment, the command line and the project file, in that order of precedence. ")


@dataclass
class SiteOptions:
    pages: int = 30
    paragraphs: int = 6
    latency: float = 0.0
    slow_pages: dict[int, float] = field(default_factory=dict)  # page index → seconds before answering
    trickle_pages: set[int] = field(default_factory=set)  # pages that send 1 byte / 0.5 s for 60 s
    robots: str | None = None
    extra_links: bool = True  # fragment/duplicate/out-of-scope/pdf/404 links on the index page
    crash_pages: set[int] = field(default_factory=set)
    redirects: dict[str, str] = field(default_factory=dict)  # path → Location (302)
    sitemap: bool = False  # robots.txt names /sitemaps/index.xml → a.xml.gz + nested-index.xml → b.xml
    orphans: int = 0  # pages listed only in the sitemap: /docs/orphans/orphan-K.html
    unlisted_every: int = 0  # tree pages with index % N == 0 are left out of the sitemap
    canonical_copies: int = 0  # the home page links /docs/print/page-I.html (I = 1..N), canonical → page I
    tracking_links: bool = False  # the home page links page 1 with utm_* parameters and /docs/index.html
    flaky: dict[int, int] = field(default_factory=dict)  # page → how many HTTP 500 answers before a 200
    rate_limited: dict[int, int] = field(default_factory=dict)  # page → how many 429 (Retry-After) first
    retry_after: int = 1  # seconds in the Retry-After of those 429 answers
    private_links: bool = False  # page I also links /docs/private/page-I.html (for a robots.txt to disallow)
    calendar: bool = False  # the home page links /docs/calendar/2026-01/, each month links the next, forever
    rich: bool = False  # pages shaped like real docs: sidebar of links, varied prose, lists, code, a table
    site_meta: bool = False  # every page declares og:site_name "Test Docs" and a meta description
    history_pages: bool = False  # the home page links a changelog, release notes and a blog post (HISTORY_PAGES)
    shape: str = "tree"  # how pages link (links_of): "tree", "wide" (also WIDE_LINKS pages all over the site)
    # or "chain" (the home page links CHAINS chapters, each page only the next page of its chapter)


SITE_NAME = "Test Docs"
# Pages llms.txt should list under "Optional": path → title.
HISTORY_PAGES = {
    "/docs/changelog/": "Changelog",
    "/docs/release-notes/v1.0.html": "Version 1.0",
    "/docs/blog/2024/launch.html": "We launched",
}


def page_description(index: int) -> str:
    return f"What page {index} explains, in one sentence for the index."


def page_path(index: int) -> str:
    return "/docs/" if index == 0 else f"/docs/section-{index % 7}/page-{index}.html"


def orphan_path(number: int) -> str:
    return f"/docs/orphans/orphan-{number}.html"


def private_path(index: int) -> str:
    return f"/docs/private/page-{index}.html"


def print_path(index: int) -> str:
    return f"/docs/print/page-{index}.html"


def sitemap_paths(options: SiteOptions) -> list[str]:
    """Pages the sitemaps list: the tree minus the unlisted ones, plus the orphans."""
    listed = [page_path(i) for i in range(options.pages)
              if not (options.unlisted_every and i and i % options.unlisted_every == 0)]
    return listed + [orphan_path(k) for k in range(options.orphans)]


def urlset(base: str, paths: list[str]) -> bytes:
    entries = "".join(f"<url><loc>{base}{path}</loc></url>" for path in paths)
    return (f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>').encode()


def sitemap_index(base: str, paths: list[str]) -> bytes:
    entries = "".join(f"<sitemap><loc>{base}{path}</loc></sitemap>" for path in paths)
    return (f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>').encode()


def children(index: int, total: int) -> list[int]:
    return [c for c in (3 * index + 1, 3 * index + 2, 3 * index + 3) if c < total]


WIDE_LINKS = 12  # pages a page of a "wide" site links besides its children, anywhere in the site
CHAINS = 16  # chapters of a "chain" site


def links_of(index: int, options: SiteOptions) -> list[int]:
    """The pages page `index` links to, by the site's shape: a tree (page i links 3i+1..3i+3);
    "wide": the tree plus WIDE_LINKS pages spread over the whole site (a sidebar into every
    section), so most links soon lead to known pages; "chain": the home page links the first
    page of CHAINS chapters and every page only the next page of its chapter (i + CHAINS), so
    the crawl never sees the end coming."""
    total = options.pages
    if options.shape == "chain":
        following = range(1, CHAINS + 1) if index == 0 else [index + CHAINS]
        return [c for c in following if c < total]
    if options.shape == "wide":
        spread = random.Random(index).sample(range(total), min(WIDE_LINKS, total))
        return children(index, total) + [c for c in spread if c != index]
    return children(index, total)


WORDS = ["request", "response", "handler", "config", "option", "value", "server", "client", "session", "cache", "token", "route", "worker", "thread", "process", "queue", "stream", "buffer", "parser", "schema", "field", "record", "index", "query", "filter", "default", "timeout", "retry", "limit", "header", "cookie", "module", "package", "install", "deploy", "build", "test"]


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


@lru_cache(maxsize=4096)
def _cached_rich_page(index: int, pages: int, paragraphs: int) -> str:
    return render_rich_page(index, SiteOptions(pages=pages, paragraphs=paragraphs))


def render_rich_page(index: int, options: SiteOptions) -> str:
    """A page shaped like real documentation, about `options.paragraphs` × 0.5 KB of prose."""
    rng = random.Random(index)
    sidebar = "".join(f'<li><a href="{page_path(i)}">Topic {i}</a></li>'
                      for i in range(max(0, index - 15), min(options.pages, index + 15)))
    sections = []
    for number in range(max(1, options.paragraphs // 4)):
        prose = "".join(f"<p>{' '.join(_sentence(rng, rng.randint(8, 18)) for _ in range(4))}</p>" for _ in range(4))
        items = "".join(f"<li><code>{rng.choice(WORDS)}_{rng.choice(WORDS)}</code>: {_sentence(rng, 8)}</li>"
                        for _ in range(4))
        sections.append(f"<h2 id='s{number}'>Section {number}: {rng.choice(WORDS).title()}</h2>{prose}<ul>{items}</ul>"
                        f"<pre><code>client.{rng.choice(WORDS)}(timeout={rng.randint(1, 60)})\n</code></pre>")
    rows = "".join(f"<tr><td>{rng.choice(WORDS)}</td><td>{rng.randint(0, 999)}</td><td>{_sentence(rng, 6)}</td></tr>"
                   for _ in range(6))
    links = "".join(f'<li><a href="{page_path(c)}">Next: page {c}</a></li>' for c in children(index, options.pages))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Topic {index} | Test Docs</title>
<link rel="stylesheet" href="/static/docs.css"><script src="/static/docs.js"></script></head>
<body><header><a href="/docs/">Test Docs</a> <input type="search" placeholder="Search"></header>
<div class="layout"><nav class="sidebar"><ul>{sidebar}</ul></nav>
<main><article><h1>Topic {index}</h1>{''.join(sections)}
<table><thead><tr><th>Name</th><th>Value</th><th>Meaning</th></tr></thead><tbody>{rows}</tbody></table>
<ul class="next">{links}</ul></article></main></div>
<footer>Copyright Test Docs. Built with a static site generator.</footer></body></html>"""


def render_page(index: int, options: SiteOptions, head_extra: str = "") -> str:
    if options.rich and not head_extra:
        # Cached: in a benchmark the site's own CPU would otherwise compete with the crawler's.
        return _cached_rich_page(index, options.pages, options.paragraphs)
    links = "\n".join(f'<li><a href="{page_path(c)}">Page {c}</a></li>' for c in links_of(index, options))
    if options.private_links:
        links += f'\n<li><a href="{private_path(index)}">Private notes {index}</a></li>'
    extra = ""
    if index == 0 and options.extra_links:
        extra = """
<li><a href="/docs/#top">Home again, with a fragment</a></li>
<li><a href="HTTP://127.0.0.1:{port}/docs/./">Home again, different spelling</a></li>
<li><a href="/outside/">Out of scope</a></li>
<li><a href="/docs/manual.pdf">The PDF manual</a></li>
<li><a href="/docs/missing.html">A broken link</a></li>
<li><a href="mailto:docs@example.org">Mail us</a></li>"""
    if index == 0:
        extra += "".join(f'<li><a href="{print_path(i)}">Print {i}</a></li>' for i in range(1, options.canonical_copies + 1))
        if options.tracking_links:
            extra += (f'<li><a href="{page_path(1)}?utm_source=nav&amp;utm_medium=web&amp;fbclid=abc">Tracked</a></li>'
                      '<li><a href="/docs/index.html">Home as index.html</a></li>')
        if options.calendar:
            extra += '<li><a href="/docs/calendar/2026-01/">Calendar</a></li>'
        if options.history_pages:
            extra += "".join(f'<li><a href="{path}">{title}</a></li>' for path, title in HISTORY_PAGES.items())
    if options.site_meta:
        head_extra += (f'<meta property="og:site_name" content="{SITE_NAME}">'
                       f'<meta name="description" content="{page_description(index)}">')
    body = "\n".join(f"<p>{PARAGRAPH * 2}Paragraph {p} of page {index}.</p>" for p in range(options.paragraphs))
    marker = f"<p>{CRASH_MARKER}</p>" if index in options.crash_pages else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Page {index} | Test Docs</title>{head_extra}</head>
<body>
<nav><a href="/docs/">Home</a></nav>
<main><article>
<h1>Page {index} title</h1>
{body}
{marker}
<pre><code>crawler --depth {index}</code></pre>
</article></main>
<aside><ul>{links}{extra}</ul></aside>
<footer>Footer text that is not content.</footer>
</body></html>"""


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A crawler that hangs up mid-page (a stop, a size or time limit) is normal here, not worth
        a traceback."""
        return None


@dataclass
class Route:
    """One fixed answer: status, body, headers (Content-Type defaults to HTML) and, if the test is
    about it, the reason phrase of the status line."""

    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None

    def send(self, handler: BaseHTTPRequestHandler) -> None:
        body = self.body.encode() if isinstance(self.body, str) else self.body
        handler.send_response(self.status, self.reason)
        headers = {"Content-Type": "text/html; charset=utf-8", **self.headers}
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


# A route's answer made at request time: (handler, path without query) → a Route, or None when the
# callable has written the answer itself (a stall, a trickle, a reset...).
Answer = Callable[[BaseHTTPRequestHandler, str], "Route | None"]


class Site:
    """The one local HTTP server of the tests, on 127.0.0.1: every request is recorded (path, count,
    time, user agent, concurrency) and answered by the first that knows it of: a route the test
    registered for the exact path, a route for a path prefix, then `answer` (the generated docs of
    DocSite, the hostile site, the rendering sites; a bare Site answers 404)."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.counts: Counter[str] = Counter()  # requests per path
        self.hits = self.counts
        self.log: list[tuple[float, str]] = []  # (monotonic time, path with query) in arrival order
        self.agents: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._routes: dict[str, Route | Answer] = {}
        self._prefixes: list[tuple[str, Route | Answer]] = []
        self.server = QuietServer((host, port), self._handler_class())
        self.port = self.server.server_address[1]
        self.base = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def route(self, path: str, body: bytes | str | Answer = b"", *, status: int = 200,
              headers: dict[str, str] | None = None, reason: str | None = None, prefix: bool = False) -> Site:
        """Answer `path` (every path under it with prefix=True) with a fixed answer, or with what a
        callable `body(handler, path)` returns at request time."""
        answer: Route | Answer = body if callable(body) else Route(status, body, dict(headers or {}), reason)
        if prefix:
            self._prefixes.append((path, answer))
        else:
            self._routes[path] = answer
        return self

    def start(self) -> Site:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def times_of(self, path: str) -> list[float]:
        with self._lock:
            return [t for t, raw in self.log if urlsplit(raw).path == path]

    def answer(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        """What no route answers: here a 404; the sites built on this class answer their own paths."""
        Route(404, b"<h1>Not found</h1>").send(handler)

    def _dispatch(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        answer = self._routes.get(path)
        if answer is None:
            answer = next((a for prefix, a in self._prefixes if path.startswith(prefix)), None)
        if answer is None:
            return self.answer(handler, path)
        if callable(answer):
            answer = answer(handler, path)
        if answer is not None:
            answer.send(handler)
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle's algorithm on, the body waits
            # for the client's delayed ACK (40 ms), which would measure TCP, not the crawler.
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                return None

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                with site._lock:
                    site.counts[path] += 1
                    site.log.append((time.monotonic(), self.path))
                    site.agents[self.headers.get("User-Agent", "")] += 1
                    site.in_flight += 1
                    site.max_in_flight = max(site.max_in_flight, site.in_flight)
                try:
                    site._dispatch(self, path)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with site._lock:
                        site.in_flight -= 1

        return Handler


class DocSite(Site):
    """The generated documentation site (SiteOptions), plus any routes a test registers."""

    def __init__(self, options: SiteOptions | None = None, port: int = 0, host: str = "127.0.0.1") -> None:
        self.options = options or SiteOptions()
        self._index_of = {page_path(i): i for i in range(self.options.pages)}
        self._failures_left = {page_path(i): n for i, n in self.options.flaky.items()}
        self._limits_left = {page_path(i): n for i, n in self.options.rate_limited.items()}
        super().__init__(port, host)
        self.requests = self.log

    @property
    def user_agents(self) -> set[str]:
        with self._lock:
            return set(self.agents)

    def start(self) -> DocSite:
        super().start()
        return self

    def url(self, index: int) -> str:
        return self.base + page_path(index)

    def answer(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        self._answer(handler, path)

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _answer(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        options = self.options
        if path == "/robots.txt":
            robots = options.robots
            if options.sitemap:
                robots = (robots or "") + f"\nSitemap: {self.base}/sitemaps/index.xml\n"
            if robots is None:
                return self._send(handler, 404, b"not found", "text/plain")
            return self._send(handler, 200, robots.encode(), "text/plain")
        if path.startswith("/sitemaps/") and options.sitemap:
            return self._sitemap(handler, path)
        if self._take(self._failures_left, path):
            return self._send(handler, 500, b"<h1>Temporary failure</h1>", "text/html")
        if self._take(self._limits_left, path):
            handler.send_response(429)
            handler.send_header("Retry-After", str(options.retry_after))
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return None
        if path.startswith("/docs/orphans/orphan-"):
            number = int(path.rsplit("-", 1)[1].split(".")[0])
            if number < options.orphans:
                body = render_page(10_000 + number, options).encode()
                return self._send(handler, 200, body, "text/html; charset=utf-8")
        if path.startswith("/docs/print/page-"):
            index = int(path.rsplit("-", 1)[1].split(".")[0])
            canonical = f'<link rel="canonical" href="{page_path(index)}">'
            return self._send(handler, 200, render_page(index, options, canonical).encode(), "text/html; charset=utf-8")
        if path.startswith("/docs/calendar/") and options.calendar:
            return self._send(handler, 200, self._calendar(path).encode(), "text/html; charset=utf-8")
        if path in options.redirects:
            handler.send_response(302)
            handler.send_header("Location", options.redirects[path])
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return None
        if options.history_pages and path in HISTORY_PAGES:
            title = HISTORY_PAGES[path]
            body = (f"<html><head><title>{title} | {SITE_NAME}</title></head><body><main><h1>{title}</h1>"
                    f"<p>{PARAGRAPH}Notes about {title.lower()} for older versions.</p></main></body></html>")
            return self._send(handler, 200, body.encode(), "text/html; charset=utf-8")
        if path == "/docs/manual.pdf":
            return self._send(handler, 200, b"%PDF-1.4 not really a pdf" * 1000, "application/pdf")
        index = self._index_of.get(path)
        if index is None:
            return self._send(handler, 404, b"<h1>Not found</h1>", "text/html")
        delay = options.slow_pages.get(index, 0.0) + options.latency
        if delay:
            time.sleep(delay)
        body = render_page(index, options).replace("{port}", str(self.port)).encode()
        if index in options.trickle_pages:
            return self._trickle(handler, body)
        self._send(handler, 200, body, "text/html; charset=utf-8")

    def _take(self, counters: dict[str, int], path: str) -> bool:
        """Use up one of a page's scripted bad answers, if it has any left."""
        with self._lock:
            if counters.get(path, 0) > 0:
                counters[path] -= 1
                return True
            return False

    def _sitemap(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        paths = sitemap_paths(self.options)
        half = len(paths) // 2
        if path == "/sitemaps/index.xml":
            body = sitemap_index(self.base, ["/sitemaps/a.xml.gz", "/sitemaps/nested-index.xml"])
        elif path == "/sitemaps/nested-index.xml":
            body = sitemap_index(self.base, ["/sitemaps/b.xml"])
        elif path == "/sitemaps/a.xml.gz":
            return self._send(handler, 200, gzip.compress(urlset(self.base, paths[:half])), "application/gzip")
        elif path == "/sitemaps/b.xml":
            body = urlset(self.base, paths[half:])
        else:
            return self._send(handler, 404, b"not found", "text/plain")
        self._send(handler, 200, body, "application/xml")

    @staticmethod
    def _calendar(path: str) -> str:
        """A month page linking to the next month: a trap that only limits can end."""
        year, month = (int(part) for part in path.rstrip("/").rsplit("/", 1)[1].split("-"))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return (f"<html><head><title>Calendar</title></head><body><main><p>Events this month.</p>"
                f'<a href="/docs/calendar/{year}-{month:02d}/">Next month</a></main></body></html>')

    def _trickle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        """Headers at once, then one byte every half second: a body that takes ages to arrive."""
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.flush()
        deadline = time.monotonic() + 60
        for byte in body:
            if time.monotonic() > deadline:
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a generated documentation site on 127.0.0.1.")
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--paragraphs", type=int, default=6)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each page answers")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--rich", action="store_true", help="pages shaped like real documentation")
    parser.add_argument("--trickle", type=int, nargs="*", default=[], help="pages that trickle their body")
    args = parser.parse_args()
    site = DocSite(SiteOptions(pages=args.pages, paragraphs=args.paragraphs, latency=args.latency, rich=args.rich,
                               extra_links=not args.rich, trickle_pages=set(args.trickle)), port=args.port)
    print(f"serving {args.pages} pages at {site.base}/docs/", flush=True)
    site.server.serve_forever()


if __name__ == "__main__":
    main()
