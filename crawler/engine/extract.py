"""Extraction stage: the main content of a page as Markdown, through trafilatura."""

from __future__ import annotations

import lxml.html
import trafilatura

try:  # present in trafilatura >= 1.7; keeps long-lived worker processes from growing
    from trafilatura.meta import reset_caches
except ImportError:  # pragma: no cover
    def reset_caches() -> None:
        return None


def extract_markdown(tree: lxml.html.HtmlElement, url: str) -> str:
    """Main content as Markdown (headings, lists, tables, code, links kept); '' when none found.

    Links are made absolute first, against the page's URL (or its <base href>): trafilatura
    resolves a relative link against the site's root, so `intro.html` on /docs/guide/x.html
    would otherwise be stored as /intro.html."""
    try:
        tree.make_links_absolute(url, resolve_base_href=True, handle_failures="discard")
    except ValueError:  # a URL lxml cannot join with: leave the links as they are
        pass
    _fence_plain_preformatted(tree)
    _unlink_heading_anchors(tree, url)
    markdown = trafilatura.extract(
        tree,
        url=url,
        output_format="markdown",
        include_formatting=True,
        include_links=True,
        include_tables=True,
        include_comments=False,
        favor_recall=True,
    )
    return (markdown or "").strip()


HEADINGS = "//h1//a | //h2//a | //h3//a | //h4//a | //h5//a | //h6//a"


def _unlink_heading_anchors(tree: lxml.html.HtmlElement, url: str) -> None:
    """A link inside a heading to the page itself (a permalink: Docsify, MkDocs and Sphinx put
    one on every heading) is dropped and its text kept, so headings are not stored as links."""
    page = url.split("#", 1)[0]
    for link in tree.xpath(HEADINGS):
        href = (link.get("href") or "").split("#", 1)[0]
        if href in ("", page):
            link.drop_tag()


def _fence_plain_preformatted(tree: lxml.html.HtmlElement) -> None:
    """A <pre> of plain text (no element inside) gets a <code> around its text: trafilatura keeps
    such a block as loose lines, where <pre><code> becomes a fenced code block."""
    for pre in tree.iter("pre"):
        if len(pre) == 0 and pre.text and pre.text.strip():
            code = lxml.html.Element("code")
            code.text, pre.text = pre.text, None
            pre.append(code)


def page_document(title: str | None, url: str, markdown: str) -> str:
    """The stored file: a title heading and the source URL above the content."""
    heading = f"# {title}\n\n" if title else ""
    return f"{heading}Source: <{url}>\n\n{markdown}\n"


def count_words(markdown: str) -> int:
    return len(markdown.split())
