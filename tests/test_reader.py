"""The reader: GET /api/crawls/<id>/tree and /page on the real server, over a real crawl of a
local site with a hostile page, and the Markdown renderer on its own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from crawler.folder.writer import CrawlStore
from crawler.outputs.browse import MAX_PAGE_CHARS, render_markdown, saved_pages
from tests import contract
from tests.conftest import Client, ServerProcess, crawl_over_rest, wait_until

PROSE = "The reader shows this page as the crawler saved it, rendered from its Markdown. " * 6
# What a hostile page does when any of it runs: the browser tests look for these.
PWNED_TITLE = "pwned"
HOSTILE_BODY = f"""<h1>Hostile page</h1>
<p>{PROSE}</p>
<p>Literal markup: &lt;script&gt;window.__pwned = 1; document.title = "{PWNED_TITLE}"&lt;/script&gt; and
&lt;img src=x onerror="window.__pwned = 2"&gt; in prose.</p>
<p><a href="javascript:window.__pwned=3;document.title='{PWNED_TITLE}'">a javascript link</a>,
<a href="/docs/guide/intro.html">the introduction</a> and <a href="https://example.com/elsewhere">a page elsewhere</a>.</p>
<p><img src="/docs/logo.png" alt="the logo" onerror="window.__pwned=4"></p>
<p>Markdown written out: [click me](javascript:window.__pwned=5) and ![pic](javascript:window.__pwned=6).</p>
<pre><code>&lt;script&gt;window.__pwned = 7&lt;/script&gt;</code></pre>
<p>{PROSE}</p>"""

PAGES = {
    "/docs/": ("Reader home", """<h1>Reader home</h1><p>{prose}</p><ul>
<li><a href="/docs/guide/intro.html">Introduction</a></li><li><a href="/docs/guide/hostile.html">Hostile</a></li>
<li><a href="/docs/api/client.html">Client API</a></li><li><a href="/docs/big.html">A long page</a></li>
""" + "".join(f'<li><a href="/docs/notes/note-{n}.html">Note {n}</a></li>' for n in range(1, 13)) + """
<li><a href="https://example.com/elsewhere">Elsewhere</a></li></ul>"""),
    "/docs/guide/intro.html": ("Introduction", """<h1>Introduction</h1><p>{prose}</p>
<p>The word quokkaconfig appears only here. Next, read the <a href="/docs/api/client.html">client API</a>.</p>
<p>{prose}</p>"""),
    "/docs/guide/hostile.html": ("Hostile page", HOSTILE_BODY),
    "/docs/api/client.html": ("Client API", """<h1>Client API</h1><p>{prose}</p>
<table><thead><tr><th>Option</th><th>Meaning</th></tr></thead><tbody><tr><td>timeout</td><td>seconds to wait</td></tr>
<tr><td>retries</td><td>tries after a failure</td></tr></tbody></table>
<pre><code>client.connect(timeout=5)</code></pre><p>Back to the <a href="/docs/">home page</a>.</p>"""),
    # Enough pages with one word in common for the search box to page through its results.
    **{f"/docs/notes/note-{n}.html": (f"Note {n}", f"<h1>Note {n}</h1><p>{{prose}}</p><p>This wombatnote is number {n}.</p>")
       for n in range(1, 13)},
    # Longer than one answer carries: the reader pages through it.
    "/docs/big.html": ("A long page", "<h1>A long page</h1>" + "".join(
        f"<p>Paragraph {n}. {PROSE}</p>" for n in range(MAX_PAGE_CHARS // len(PROSE) + 40))),
}


class ReaderSiteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path not in PAGES:
            self._send(404, b"not here", "text/plain")
            return
        title, body = PAGES[path]
        html = (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
                f"<script>window.__pwned = 'head'; document.title = '{PWNED_TITLE}';</script></head>"
                f"<body><main><article>{body.replace('{prose}', PROSE)}</article></main></body></html>")
        self._send(200, html.encode(), "text/html; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def reader_site() -> Iterator[str]:
    """The site's base URL; its start page is `<base>/docs/`."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ReaderSiteHandler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def crawl(server: ServerProcess, http: requests.Session, url: str) -> str:
    return crawl_over_rest(server.base, http, url, max_pages=20)


class Markup(HTMLParser):
    """Every element and attribute of a piece of HTML."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def links(self) -> list[dict[str, str]]:
        return [attrs for tag, attrs in self.elements if tag == "a"]


SAFE_TAGS = {"p", "a", "span", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "pre", "code", "em",
             "strong", "s", "blockquote", "hr", "br", "table", "thead", "tbody", "tr", "th", "td"}
SAFE_ATTRIBUTES = {"href", "title", "class", "target", "rel", "data-reader-url", "start"}


def assert_inert(html: str) -> Markup:
    """Only harmless elements and attributes; every link target http(s) or mailto."""
    markup = Markup(html)
    for tag, attrs in markup.elements:
        assert tag in SAFE_TAGS, f"<{tag}> in the rendered page"
        assert set(attrs) <= SAFE_ATTRIBUTES, f"<{tag} {attrs}> in the rendered page"
        if "href" in attrs:
            assert attrs["href"].split(":", 1)[0] in ("http", "https", "mailto"), attrs
    return markup


# ---- the renderer on its own ----------------------------------------------------------------------


def test_rendering_runs_nothing_and_loads_nothing(tmp_path: Path) -> None:
    store = CrawlStore(tmp_path)
    store.open()
    for url in ("https://docs.example.org/guide/intro.html", "https://docs.example.org/api/"):
        store.save_page(url=url, document="# x\n\nSource: <x>\n\ntext\n", title="x", depth=0, http_status=200,
                        words=1, fetched_at="2026-11-27T10:00:00.000Z")
    store.close()
    markdown = """# Title <script>window.__pwned = 1</script>

<img src=x onerror="window.__pwned = 2"> <a href="javascript:alert(1)">raw link</a>

[js](javascript:alert(1)) [upper](JaVaScRiPt:alert(1)) [entity](jav&#x61;script:alert(1)) [vb](vbscript:x)
[data](data:text/html,<script>alert(1)</script>) [file](file:///etc/passwd)

[inside](../api/) [inside too](/guide/intro.html#part) [outside](https://example.com/x) [mail](mailto:a@b.org)
[not saved](other.html)

![the logo](/logo.png "Logo") ![bad](javascript:alert(1)) [![nested](n.png) a linked image](../api/)

| left | right |
|:-----|------:|
| `<script>` | **bold** |

```html
<script>alert(1)</script>
```
"""
    html = render_markdown(markdown, "https://docs.example.org/guide/intro.html", saved_pages(tmp_path))
    markup = assert_inert(html)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html  # shown, as text
    assert "[js](javascript:alert(1))" in html  # a refused target leaves the text as it was, unlinked
    links = {attrs["href"]: attrs for attrs in markup.links()}
    # Relative links are resolved against the page; those the crawl saved open in the reader.
    assert links["https://docs.example.org/api/"]["data-reader-url"] == "https://docs.example.org/api/"
    assert links["https://docs.example.org/guide/intro.html#part"]["data-reader-url"] == \
        "https://docs.example.org/guide/intro.html"
    for outside in ("https://example.com/x", "https://docs.example.org/guide/other.html"):
        assert links[outside]["target"] == "_blank" and links[outside]["rel"] == "noopener noreferrer"
        assert "data-reader-url" not in links[outside]
    assert links["mailto:a@b.org"] == {"href": "mailto:a@b.org"}
    # An image is a link to it, labelled with its alt text, never an <img>.
    image = links["https://docs.example.org/logo.png"]
    assert image["class"] == "reader-image" and image["target"] == "_blank"
    assert "[image: the logo]" in "".join(markup.text)
    assert "[image: nested]" in "".join(markup.text)  # inside a link: text, as links cannot nest
    assert '<th class="align-left">' in html and '<td class="align-right">' in html  # no style attribute


def test_saved_pages_follow_a_growing_manifest(tmp_path: Path) -> None:
    """A running crawl appends to its manifest: each read takes up where the last one ended, a
    torn last line waits for its end, and a manifest written anew is read from the start."""
    store = CrawlStore(tmp_path)
    store.open()

    def save(url: str, canonical: str | None = None) -> None:
        store.save_page(url=url, document=f"# t\n\nSource: <{url}>\n\nBody of {url}.\n", title=f"Title {url[-1]}",
                        depth=0, http_status=200, words=3, fetched_at="2026-11-27T10:00:00.000Z", canonical=canonical)

    save("https://x.org/docs/a")
    store.record(url="https://x.org/docs/failed", status="failed", error="HTTP 500", depth=1, http_status=500,
                 fetched_at="2026-11-27T10:00:00.000Z")
    pages = saved_pages(tmp_path)
    assert [p.url for p in pages.pages] == ["https://x.org/docs/a"]  # failed pages have no file: not listed
    save("https://x.org/docs/print/b", canonical="https://x.org/docs/b")
    with open(tmp_path / "manifest.jsonl", "a", encoding="utf-8") as manifest:
        manifest.write('{"url": "https://x.org/docs/torn", "status": "ok", "pa')  # being written
    assert saved_pages(tmp_path) is pages
    assert [p.url for p in pages.pages] == ["https://x.org/docs/a", "https://x.org/docs/print/b"]
    assert pages.find("https://x.org/docs/b").url == "https://x.org/docs/print/b"  # by its canonical URL
    assert pages.find("HTTPS://X.org:443/docs/./a#part").url == "https://x.org/docs/a"  # another spelling
    assert pages.find("https://x.org/docs/torn") is None and pages.find("https://x.org/docs/failed") is None
    store.close()
    (tmp_path / "manifest.jsonl").write_text(
        '{"url": "https://x.org/docs/c", "status": "ok", "path": "pages/docs/c.md", "title": "C"}\n')
    assert [(p.url, p.title) for p in saved_pages(tmp_path).pages] == [("https://x.org/docs/c", "C")]


# ---- the routes, on the real server ------------------------------------------------------------


def test_reader_routes_tree_page_rendering_ownership_and_bad_input(server: ServerProcess, reader_site: str) -> None:
    alice, bob = Client(server.base, connect=False), Client(server.base, connect=False)
    try:
        start = reader_site + "/docs/"
        crawl_id = crawl(server, alice.http, start)
        base = f"{server.base}/api/crawls/{crawl_id}"

        tree = alice.http.get(base + "/tree").json()
        assert set(tree) == {"crawl_id", "state", "total", "offset", "next_offset", "pages"}
        assert (tree["crawl_id"], tree["state"], tree["total"], tree["offset"], tree["next_offset"]) == \
            (crawl_id, "completed", len(PAGES), 0, None)
        assert contract.rest_fields("GET /api/crawls/<id>/tree?offset=N&limit=M") == set(tree["pages"][0])
        by_url = {page["url"]: page for page in tree["pages"]}
        assert set(by_url) == {reader_site + path for path in PAGES}  # saved pages only: no external link
        assert by_url[reader_site + "/docs/guide/intro.html"] == {
            "url": reader_site + "/docs/guide/intro.html", "title": "Introduction",
            "path": "pages/docs/guide/intro.md"}
        paged = alice.http.get(base + "/tree", params={"offset": 1, "limit": 2}).json()
        assert [p["url"] for p in paged["pages"]] == [p["url"] for p in tree["pages"][1:3]]
        assert paged["next_offset"] == 3

        hostile = alice.http.get(base + "/page", params={"url": reader_site + "/docs/guide/hostile.html"})
        assert hostile.status_code == 200 and hostile.headers["Content-Type"].startswith("application/json")
        page = hostile.json()
        assert contract.rest_fields("GET /api/crawls/<id>/page?url=<url>&offset=N") == set(page)
        assert (page["crawl_id"], page["title"], page["offset"], page["next_offset"]) == \
            (crawl_id, "Hostile page", 0, None)
        assert page["total_chars"] == len(page["markdown"])
        # The crawled text does carry the hostile markup and link (the test means something)…
        assert "window.\\_\\_pwned = 1" in page["markdown"] and "javascript:window.__pwned=3" in page["markdown"]
        # … and none of it survives as markup.
        markup = assert_inert(page["html"])
        assert "<script" not in page["html"] and "<img" not in page["html"]
        links = {attrs["href"]: attrs for attrs in markup.links()}
        intro = reader_site + "/docs/guide/intro.html"
        assert links[intro]["data-reader-url"] == intro and "target" not in links[intro]
        assert links["https://example.com/elsewhere"]["rel"] == "noopener noreferrer"

        # A page longer than one answer comes in slices that add up to the whole.
        big_url = reader_site + "/docs/big.html"
        first = alice.http.get(base + "/page", params={"url": big_url}).json()
        assert first["total_chars"] > MAX_PAGE_CHARS and 0 < first["next_offset"] <= MAX_PAGE_CHARS
        rest = alice.http.get(base + "/page", params={"url": big_url, "offset": first["next_offset"]}).json()
        assert rest["next_offset"] is None and rest["offset"] == first["next_offset"]
        assert len(first["markdown"]) + len(rest["markdown"]) == first["total_chars"]
        assert rest["html"].startswith("<p>Paragraph")  # cut at a paragraph break

        # Another session's crawl answers exactly like a missing one.
        for path, params in (("/tree", {}), ("/page", {"url": intro})):
            refused = bob.http.get(base + path, params=params)
            assert refused.status_code == 404 and refused.json() == {"error": f"unknown crawl {crawl_id!r}"}
        assert alice.http.get(f"{server.base}/api/crawls/..%2F..%2Fetc/tree").status_code == 404

        # Bad input: a clear JSON error.
        for params, status, words in [({}, 400, "url is required"),
                                      ({"url": "  "}, 400, "url is required"),
                                      ({"url": reader_site + "/docs/nowhere.html"}, 404, "no saved page with the URL"),
                                      ({"url": "https://example.com/elsewhere"}, 404, "no saved page with the URL"),
                                      ({"url": intro, "offset": "-1"}, 400, "offset must be a whole number"),
                                      ({"url": intro, "offset": "10000000"}, 400, "past the end")]:
            answer = alice.http.get(base + "/page", params=params)
            assert answer.status_code == status and words in answer.json()["error"], (params, answer.text)
        answer = alice.http.get(base + "/tree", params={"limit": "lots"})
        assert answer.status_code == 400 and "limit must be a whole number" in answer.json()["error"]
        # A URL in another spelling of the same page (as the crawl canonicalises it) is found.
        same = alice.http.get(base + "/page", params={"url": reader_site.replace("http:", "HTTP:") + "/docs/index.html"})
        assert same.status_code == 200 and same.json()["url"] == start
    finally:
        alice.close()
        bob.close()


def test_a_running_crawl_can_be_read_as_it_grows_and_after_it_is_stopped(app_server: ServerProcess, make_site) -> None:
    site = make_site(pages=40, latency=0.15)
    client = Client(app_server.base, connect=False)
    try:
        answer = client.http.post(app_server.base + "/api/crawls",
                                  json={"url": site.url(0), "concurrency": 1, "use_sitemaps": False})
        assert answer.status_code == 202, answer.text
        base = f"{app_server.base}/api/crawls/{answer.json()['crawl_id']}"
        early = client.http.get(base + "/tree")  # whatever is saved so far, maybe nothing: never an error
        assert early.status_code == 200 and early.json()["total"] == len(early.json()["pages"])

        def saved(at_least: int) -> dict | None:
            tree = client.http.get(base + "/tree").json()
            return tree if tree["state"] == "running" and tree["total"] >= at_least else None

        first = wait_until(lambda: saved(2), timeout=30, message="two pages saved while the crawl runs")
        page = client.http.get(base + "/page", params={"url": first["pages"][-1]["url"]}).json()
        assert "Paragraph 0 of page" in page["markdown"] and "<p>" in page["html"]
        later = wait_until(lambda: saved(first["total"] + 1), timeout=30, message="the tree to grow")
        assert [p["url"] for p in later["pages"][:first["total"]]] == [p["url"] for p in first["pages"]]

        assert client.http.post(base + "/stop").status_code in (200, 202)
        wait_until(lambda: client.http.get(base).json()["state"] == "stopped", timeout=15, message="the stop")
        stopped = client.http.get(base + "/tree").json()
        assert stopped["state"] == "stopped" and stopped["total"] >= later["total"]
        last = client.http.get(base + "/page", params={"url": stopped["pages"][-1]["url"]})
        assert last.status_code == 200 and last.json()["url"] == stopped["pages"][-1]["url"]
    finally:
        client.close()
