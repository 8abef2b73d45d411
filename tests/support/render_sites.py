"""Sites that only exist after JavaScript runs, served on 127.0.0.1 for the rendering tests and
benchmark, with every request recorded (path and count) so tests assert on what was asked.

* `/docsify/`  a Docsify site (tests/support/docsify: Docsify 4.13.1 vendored from npm, a dozen
               Markdown pages, a sidebar, hash routes `#/guide/install`)
* `/app/`      a client-rendered app shell: every page is the same empty `<div id="app">`, and its
               text and links arrive by fetch() from `/app-data/<page>.json`
* `/plain/`    a server-rendered site (plain HTML with scripts, nothing to render)
* `/loop/`     a shell whose script never ends (`while (true)`)
* `/reach/`    a shell whose script tries to reach other addresses (`reach_targets`), then shows
               its text; `/reach/img` is an image it also loads
* `/slow/`     shells whose content takes `slow_seconds` to arrive

Run by hand: ``python -m tests.support.render_sites --port 8002``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.support.site import Route, Site

DOCSIFY_DIR = Path(__file__).resolve().parent / "docsify"
DOCSIFY_PAGES = sorted(str(p.relative_to(DOCSIFY_DIR))[:-3] for p in DOCSIFY_DIR.rglob("*.md")
                       if not p.name.startswith("_"))  # "README" is the home page

APP_PAGES = 6
APP_TEXT = ("The scheduler hands each request to a worker when its host allows it, and the worker "
            "reports back when the page is stored. This paragraph is long enough to be the main text "
            "of a documentation page, so an extractor keeps it. ")
PLAIN_PAGES = 10

SHELL = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body><noscript>You need to enable JavaScript to run this app.</noscript><div id="app"></div>
<script src="/app.js"></script></body></html>"""

APP_JS = """(async () => {
  const name = location.pathname.replace(/^\\/(app|slow)\\//, '').replace(/\\.html$/, '') || 'index';
  const prefix = location.pathname.startsWith('/slow/') ? '/slow-data/' : '/app-data/';
  const data = await (await fetch(prefix + name + '.json')).json();
  const links = data.links.map(l => `<li><a href="${l.href}">${l.text}</a></li>`).join('');
  document.title = data.title;
  document.getElementById('app').innerHTML =
    `<main><article><h1>${data.title}</h1>${data.paragraphs.map(p => `<p>${p}</p>`).join('')}` +
    `<ul>${links}</ul></article></main>`;
})();"""

LOOP_PAGE = """<!doctype html><html><head><title>Busy</title></head><body><div id="app"></div>
<script>while (true) { }</script></body></html>"""

REACH_PAGE = """<!doctype html><html><head><title>Reach</title></head><body><div id="app"></div>
<img src="/reach/img">
<script>
(async () => {{
  const results = [];
  for (const target of {targets}) {{
    try {{ await fetch(target); results.push('reached ' + target); }}
    catch (e) {{ results.push('refused ' + target); }}
  }}
  document.getElementById('app').innerHTML = '<main><h1>Reach</h1><p>{text}</p><p id="results">' +
    results.join(' | ') + '</p></main>';
}})();
</script></body></html>"""


def app_page(name: str) -> dict:
    index = 0 if name == "index" else int(name.rsplit("-", 1)[-1])
    links = [{"href": f"/app/page-{child}.html", "text": f"Page {child}"}
             for child in (2 * index + 1, 2 * index + 2) if child < APP_PAGES]
    return {"title": f"App page {index}",
            "paragraphs": [f"Marker app:{index}. " + APP_TEXT * 2, APP_TEXT],
            "links": links}


def plain_page(index: int) -> str:
    links = "".join(f'<li><a href="/plain/page-{child}.html">Page {child}</a></li>'
                    for child in (2 * index + 1, 2 * index + 2) if child < PLAIN_PAGES)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Plain {index}</title>"
            f"<script src='/plain/site.js'></script></head><body><div id='app'><main><article>"
            f"<h1>Plain page {index}</h1><p>Marker plain:{index}. {APP_TEXT * 2}</p><p>{APP_TEXT}</p>"
            f"<ul>{links}</ul></article></main></div>"
            f"<noscript>Search needs JavaScript.</noscript></body></html>")


class RenderSites(Site):
    """The rendering sites, on the tests' one server class; `requests` counts requests per path."""

    def __init__(self, *, robots: str | None = None, slow_seconds: float = 3.0,
                 reach_targets: tuple[str, ...] = (), port: int = 0) -> None:
        self.robots = robots
        self.slow_seconds = slow_seconds
        self.reach_targets = reach_targets
        super().__init__(port)
        self.requests = self.hits
        self.user_agents = self.agents

    def start(self) -> RenderSites:
        super().start()
        return self

    def count(self, prefix: str) -> int:
        with self._lock:
            return sum(n for path, n in self.requests.items() if path.startswith(prefix))

    def answer(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        status, content_type, body = self.page(path)
        Route(status, body, {"Content-Type": content_type}).send(handler)

    def page(self, path: str) -> tuple[int, str, bytes]:
        html, js, md = "text/html; charset=utf-8", "application/javascript", "text/markdown; charset=utf-8"
        if path == "/robots.txt":
            return (200, "text/plain", self.robots.encode()) if self.robots is not None else (404, "text/plain", b"")
        if path.startswith("/docsify/"):
            relative = path[len("/docsify/"):] or "index.html"
            file = (DOCSIFY_DIR / relative).resolve()
            if file.is_relative_to(DOCSIFY_DIR) and file.is_file():
                kind = {".html": html, ".js": js, ".md": md}.get(file.suffix, "application/octet-stream")
                return 200, kind, file.read_bytes()
            return 404, "text/plain", b"not found"
        if path == "/app.js":
            return 200, js, APP_JS.encode()
        if path.startswith(("/app/", "/slow/")):
            return 200, html, SHELL.format(title="Loading").encode()
        if path.startswith(("/app-data/", "/slow-data/")):
            if path.startswith("/slow-data/"):
                time.sleep(self.slow_seconds)
            name = path.rsplit("/", 1)[-1].removesuffix(".json")
            try:
                return 200, "application/json", json.dumps(app_page(name)).encode()
            except ValueError:
                return 404, "application/json", b"{}"
        if path == "/plain/site.js":
            return 200, js, b"console.log('search');"
        if path.startswith("/plain/"):
            name = path[len("/plain/"):]
            index = 0 if name in ("", "index.html") else int(name.removeprefix("page-").removesuffix(".html") or 0)
            return 200, html, plain_page(index).encode()
        if path.startswith("/loop/"):
            return 200, html, LOOP_PAGE.encode()
        if path == "/reach/img":
            return 200, "image/png", b"\x89PNG\r\n\x1a\n"
        if path.startswith("/reach/"):
            return 200, html, REACH_PAGE.format(targets=json.dumps(list(self.reach_targets)),
                                                text=APP_TEXT * 2).encode()
        return 404, "text/plain", b"not found"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8002)
    args = parser.parse_args()
    sites = RenderSites(port=args.port).start()
    print(f"serving on {sites.base}/docsify/ /app/ /plain/ (Ctrl-C to stop)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sites.stop()


if __name__ == "__main__":
    main()
