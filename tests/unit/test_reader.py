"""The reader: GET /api/crawls/<id>/tree and /page on the real server, over a real crawl of a
local site with a hostile page, and the Markdown renderer on its own."""

from __future__ import annotations

from pathlib import Path

from crawler.folder.writer import CrawlStore
from crawler.outputs.browse import render_markdown, saved_pages
from tests.support.markup import assert_inert

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
