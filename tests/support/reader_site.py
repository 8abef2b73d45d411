"""The reader's test site: a few pages of prose, one page with a hostile body (scripts, handlers,
frames, javascript: links, a title-changing script) and one longer than one reader answer. The
reader must show them as text and run nothing."""

from __future__ import annotations

from crawler.outputs.browse import MAX_PAGE_CHARS
from tests.support.site import Site

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


def page_html(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<script>window.__pwned = 'head'; document.title = '{PWNED_TITLE}';</script></head>"
            f"<body><main><article>{body.replace('{prose}', PROSE)}</article></main></body></html>")


def reader_site() -> Site:
    """PAGES as routes on the tests' server (not started); any other path is a 404."""
    site = Site().route("/", "not here", status=404, headers={"Content-Type": "text/plain"}, prefix=True)
    for path, (title, body) in PAGES.items():
        site.route(path, page_html(title, body))
    return site
