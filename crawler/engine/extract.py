"""Extraction stage: the main content of a page as Markdown, through trafilatura."""

from __future__ import annotations

import re

import lxml.html
import trafilatura

from crawler.engine import markdown as md
from crawler.engine.parse import make_links_absolute

try:  # present in trafilatura >= 1.7; keeps long-lived worker processes from growing
    from trafilatura.meta import reset_caches
except ImportError:  # pragma: no cover
    def reset_caches() -> None:
        return None


def share_stoplist() -> None:
    """Build once, before the extraction workers are forked, the stoplist trafilatura's fallback
    extractor (justext) uses when a page's language is not given: every language's words, 154,000.

    Left to them, trafilatura loads it into each worker on its first page that reaches justext (a
    tuple, 11.5 MB), and justext lower-cases it into a set again for its cache (15.5 MB, 44 ms; then
    again each time the caches are reset), hashing the whole tuple on every call: ~27 MB private to
    each worker. Here it is one set of lower-case words, made in the fork server and shared by the
    workers it forks, and justext's `define_stoplist` gives that set back as it is (its result for
    a set already lower-case) instead of copying it. Other stoplists go through justext as before."""
    import justext.core
    import justext.utils
    from trafilatura import external

    from crawler.engine.heap import trim_heap

    if getattr(justext.core.define_stoplist, "shared", None) is not None:
        return
    # The union of justext's own per-language sets (already lower-case): trafilatura's tuple is never made.
    words = frozenset().union(*(justext.utils.get_stoplist(language) for language in justext.utils.get_stoplists()))
    trim_heap()  # the per-language sets are gone: what they took goes back before anything is forked
    copying = justext.core.define_stoplist

    def define_stoplist(stoplist: object) -> object:
        return stoplist if stoplist is words else copying(stoplist)

    define_stoplist.shared = words  # type: ignore[attr-defined]
    define_stoplist.cache_clear = copying.cache_clear  # type: ignore[attr-defined]
    external.JT_STOPLIST = words  # type: ignore[assignment]  # (a tuple there; any collection of words works)
    justext.core.define_stoplist = define_stoplist


def extract_markdown(tree: lxml.html.HtmlElement, url: str, content_selector: str | None = None,
                     exclude_selectors: tuple[str, ...] = ()) -> str:
    """Main content as Markdown (headings, lists, tables, code, links kept); '' when none found.

    Links are made absolute first, against the page's URL (or its <base href>): trafilatura
    resolves a relative link against the site's root, so `intro.html` on /docs/guide/x.html
    would otherwise be stored as /intro.html.

    `exclude_selectors` are removed first; the content is what `content_selector` matches, else
    the content container of a documentation generator, or the section the page's title heads
    (docutils' structure, whatever the theme), converted by crawler/engine/markdown.py; on a
    page without any of these, trafilatura decides what the content is, with its code blocks
    protected (see crawler/engine/markdown.py)."""
    try:
        make_links_absolute(tree, url)
    except ValueError:  # a <base href> that cannot be joined with: leave the links as they are
        pass
    body = tree.find("body")
    root = body if body is not None else tree
    if exclude_selectors:
        md.remove_matching(root, exclude_selectors)
    md.unwrap_code_tables(root)
    chosen = md.select_content(tree, content_selector) if content_selector else None
    content = chosen if chosen is not None else md.find_content(tree)
    if content is not None:
        try:
            md.remove_matching(content, (md.CHROME,))
            converted = md.convert(content, url)
        except RecursionError:  # nesting deeper than the converter goes: trafilatura's way
            converted = ""
        if converted or chosen is not None:  # what the selector chose is the content, even empty
            return converted
    return _trafilatura_markdown(tree, url)


def _trafilatura_markdown(tree: lxml.html.HtmlElement, url: str) -> str:
    """trafilatura's choice of content, every <pre> kept whole as a fenced block in its language."""
    blocks = md.protect_code(tree)
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
    return md.restore_code((markdown or "").strip(), blocks).strip()


def extract_markdown_trafilatura(tree: lxml.html.HtmlElement, url: str) -> str:
    """What trafilatura alone gives (the extraction before crawler/engine/markdown.py), for comparison."""
    try:
        tree.make_links_absolute(url, resolve_base_href=True, handle_failures="discard")
    except ValueError:
        pass
    _fence_plain_preformatted(tree)
    _unlink_heading_anchors(tree, url)
    markdown = trafilatura.extract(tree, url=url, output_format="markdown", include_formatting=True,
                                   include_links=True, include_tables=True, include_comments=False,
                                   favor_recall=True)
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


_NOT_FOUND = re.compile(r"(error\s*)?404(\s*[-\u2013\u2014:|.]\s*.*)?|((the\s+)?(page|file|document)\s+)?not\s+found"
                        r"([\s!.:|\u2013\u2014-].*)?|(sorry,?\s+)?(this|the)\s+page\s+(could\s+not|couldn't|cannot|can't)"
                        r"\s+be\s+found.*|(this\s+)?page\s+(does\s+not|doesn't)\s+exist.*", re.I)
NOT_FOUND_MAX_WORDS = 150


def looks_not_found(title: str | None, markdown: str, words: int) -> bool:
    """A soft 404: a short page whose first heading (or, without one, its title) is a "not
    found" screen (`404 - Not found` of Docsify, `Page not found` of a site that answers 200)."""
    if words > NOT_FOUND_MAX_WORDS:
        return False
    heading = next((line.lstrip("#").strip() for line in markdown.splitlines() if line.startswith("# ")), None)
    for text in (heading, title if heading is None or not markdown.strip() else None):
        if text and len(text) <= 80 and _NOT_FOUND.fullmatch(text.strip()):
            return True
    return False


def count_words(markdown: str) -> int:
    return len(markdown.split())
