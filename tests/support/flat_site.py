"""A documentation site with flat URLs (every page at the root, as Meson's or many wikis are) and a
navigation sidebar that groups them, for the tests of sections in search, MCP and llms.txt.

Every page carries the same sidebar (`<nav class="sidebar">`: captions, then lists of links) and
`og:site_name`; some pages give the site's name as their meta description (boilerplate an index
must not repeat), the rest give none. The reference page is long, with headings that carry ids
(`#add_global_arguments`) and prose linking to other pages, so a search hit can fall on a link.

Run by hand: ``python -m tests.flat_site --port 8002``.
"""

from __future__ import annotations

import argparse
from http.server import BaseHTTPRequestHandler

from tests.support.site import Route, Site

SITE_NAME = "Flat Docs"

# The sidebar: (caption, [(file, title)]) in the site's order.
NAVIGATION = [
    ("Getting started", [("Getting-meson.html", "Getting Meson"), ("Quick-guide.html", "Quick guide")]),
    ("Reference", [("Reference-manual_functions.html", "Functions"), ("Builtin-options.html", "Built-in options")]),
    ("Release notes", [("Release-notes-for-1.1.0.html", "Release 1.1.0"),
                       ("Release-notes-for-1.0.0.html", "Release 1.0.0")]),
]
PAGES = {file: title for _, group in NAVIGATION for file, title in group}
SECTION_OF = {file: caption for caption, group in NAVIGATION for file, _ in group}
# What the site publishes for models itself: its llms.txt (linked from the home page's footer),
# the Quick guide's Markdown (named by that page's <link rel="alternate">, and linked from the
# footer), and two answers that are not what they claim: an llms-full.txt and a Getting-meson.md
# that are HTML pages (a site answering any path with a page).
SITE_MARKDOWN_WORD = "handwrittenmd"  # only in the Quick guide's own Markdown version
PUBLISHED = {"llms.txt": ("text/plain", f"# {SITE_NAME}\n\n> Its own index.\n\n- [Quick guide](Quick-guide.md)\n"),
             "Quick-guide.md": ("text/markdown", f"# Quick guide\n\nA first project, {SITE_MARKDOWN_WORD}.\n\n"
                                                 "## Cross builds\n\nSee the cross file.\n"),
             "llms-full.txt": ("text/html", "<!doctype html><html><body><h1>Flat Docs</h1></body></html>"),
             "Getting-meson.md": ("text/plain", "<!DOCTYPE html><html><body><p>Not Markdown</p></body></html>")}
SPECIAL_WORD = "zanzibarquux"  # only on the reference page's add_global_arguments section
ENVIRONMENT_WORD = "plumtreevar"  # only in Built-in options › Configuration › Environment variables


def _sidebar() -> str:
    parts = ['<nav class="sidebar" aria-label="Main navigation"><ul>']
    for caption, group in NAVIGATION:
        parts.append(f'<li class="group"><span class="caption">{caption}</span><ul>')
        parts.extend(f'<li><a href="{file}">{title}</a></li>' for file, title in group)
        parts.append("</ul></li>")
    parts.append("</ul></nav>")
    return "".join(parts)


def _prose(topic: str, count: int) -> str:
    return "".join(
        f"<p>This part of the {topic} explains paragraph {n} in plain words: how the build system reads "
        "the project file, which defaults apply and what a developer should check before a release.</p>"
        for n in range(count))


def _body(file: str) -> str:
    title = PAGES.get(file, "Flat Docs")
    if file == "Reference-manual_functions.html":
        return (f"<h1>{title}</h1><p>Every function the build definition language offers, one section each.</p>"
                + "".join(f"<h2 id='fn_{n}'>function_{n}()</h2>{_prose(f'function {n} reference', 6)}"
                          for n in range(12))
                + "<h2 id='add_global_arguments'>add_global_arguments()</h2>"
                  f"<p>Adds global arguments to the compiler command line. The {SPECIAL_WORD} flag is one example."
                  "</p><pre><code>add_global_arguments('-DFOO', language : 'c')</code></pre>"
                + "".join(f"<h2 id='late_{n}'>late_{n}()</h2>{_prose(f'late function {n}', 6)}" for n in range(8)))
    if file == "Builtin-options.html":
        return (f"<h1>{title}</h1><p>Options every project has, set on the command line or in the project.</p>"
                "<h2 id='configuration'>Configuration</h2><p>How options are configured.</p>"
                f"<h3 id='environment-variables'>Environment variables</h3><p>The {ENVIRONMENT_WORD} variable "
                "overrides the option of the same name. Set it before configuring.</p>"
                "<h3 id='machine-files'>Machine files</h3><p>Machine files name the compilers.</p>")
    if file == "Quick-guide.html":
        return (f"<h1>{title}</h1><p>A first project, from an empty folder to a built program, in five "
                "minutes.</p><h2>Cross builds</h2><p>See <a href=\"http://example.invalid/Cross-compilation.html\">"
                "cross compilation</a> for building on one machine for another; cross compilation needs a "
                "cross file.</p>")
    if file.startswith("Release-notes"):
        return f"<h1>{title}</h1><p>The changes that came with {title.lower()}, listed by area.</p>{_prose('release', 2)}"
    if file == "Getting-meson.html":  # links its .md name, which answers an HTML page
        return (f"<h1>{title}</h1><p>How to install the build system with pip or your package manager.</p>"
                '<p><a href="Getting-meson.md">This page as Markdown</a></p>')
    return ("<h1>Flat Docs</h1><p>The documentation of a build system whose pages all live at the root of "
            "the site.</p>" + "".join(f'<p><a href="{f}">{t}</a></p>' for f, t in PAGES.items())
            + '<footer><a href="/llms.txt">llms.txt</a> <a href="Quick-guide.md">Quick guide as Markdown</a></footer>')


# Each page's own Markdown version as its head names it: the Quick guide's is served; the
# Built-in options' is on another host (never fetched).
ALTERNATES = {"Quick-guide.html": "Quick-guide.md", "Builtin-options.html": "http://example.invalid/Builtin-options.md"}


def page_html(file: str) -> str:
    title = PAGES.get(file, SITE_NAME)
    boilerplate = file in ("", "index.html", "Quick-guide.html", "Release-notes-for-1.0.0.html")
    description = f'<meta name="description" content="{SITE_NAME}">' if boilerplate else ""
    if file in ALTERNATES:
        description += f'<link rel="alternate" type="text/markdown" href="{ALTERNATES[file]}">'
    return (f"<!doctype html><html><head><title>{title} | {SITE_NAME}</title>"
            f'<meta property="og:site_name" content="{SITE_NAME}">{description}</head><body>'
            f"{_sidebar()}<main><article>{_body(file)}</article></main></body></html>")


class FlatSite(Site):
    """The flat site on the tests' one local server: its pages, what it publishes for models, and
    404 for anything else."""

    def answer(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        file = path.lstrip("/")
        if file in PUBLISHED:
            kind, text = PUBLISHED[file]
            Route(200, text, {"Content-Type": kind}).send(handler)
        elif file not in PAGES and file not in ("", "index.html"):
            Route(404, b"<h1>Not found</h1>").send(handler)
        else:
            Route(200, page_html(file)).send(handler)

    def start(self) -> FlatSite:
        super().start()
        return self

    def url(self, file: str = "") -> str:
        return f"{self.base}/{file}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8002)
    site = FlatSite(parser.parse_args().port)
    print(site.url())
    site.server.serve_forever()
