"""Parsing stage: bytes → one lxml tree, then the page's title and its links.

The tree is built once and handed on to extraction, so a page is never parsed twice.
"""

from __future__ import annotations

from urllib.parse import urljoin

import lxml.html
from lxml import etree

SKIPPED_LINK_SCHEMES = ("mailto:", "javascript:", "tel:", "data:", "ftp:")


def parse_document(body: bytes, encoding: str | None = None) -> lxml.html.HtmlElement:
    """Parse HTML leniently; the HTTP charset wins over <meta charset> when the server sent one."""
    if encoding:
        try:
            text = body.decode(encoding, errors="replace")
        except LookupError:
            text = None
        if text is not None:
            # lxml refuses str input that still declares an encoding: drop the XML declaration.
            if text.lstrip().startswith("<?xml"):
                text = text.split("?>", 1)[-1]
            return lxml.html.document_fromstring(text or "<html></html>")
    if not body.strip():
        return lxml.html.document_fromstring("<html></html>")
    try:
        return lxml.html.document_fromstring(body)
    except (etree.ParserError, ValueError):
        return lxml.html.document_fromstring("<html></html>")


def find_base_url(tree: lxml.html.HtmlElement, page_url: str) -> str:
    base = tree.find(".//base[@href]")
    return urljoin(page_url, base.get("href").strip()) if base is not None else page_url


def find_links(tree: lxml.html.HtmlElement, page_url: str) -> list[str]:
    """Absolute URLs of <a href> links, in document order, without duplicates or nofollow."""
    base = find_base_url(tree, page_url)
    links: list[str] = []
    seen: set[str] = set()
    for anchor in tree.iter("a"):
        href = (anchor.get("href") or "").strip()
        if not href or href.startswith("#") or href.lower().startswith(SKIPPED_LINK_SCHEMES):
            continue
        if "nofollow" in (anchor.get("rel") or "").lower():
            continue
        absolute = urljoin(base, href).split("#", 1)[0]
        if absolute and absolute not in seen:
            seen.add(absolute)
            links.append(absolute)
    return links


def find_canonical(tree: lxml.html.HtmlElement, page_url: str) -> str | None:
    """The page's <link rel="canonical" href>, absolute; None when absent."""
    for link in tree.iterfind(".//link[@href]"):
        if "canonical" in (link.get("rel") or "").lower().split():
            href = link.get("href").strip()
            return urljoin(find_base_url(tree, page_url), href) if href else None
    return None


def find_title(tree: lxml.html.HtmlElement) -> str | None:
    """<title>, else the first <h1>; whitespace collapsed."""
    for path in (".//title", ".//h1"):
        node = tree.find(path)
        if node is not None:
            text = " ".join(node.text_content().split())
            if text:
                return text[:300]
    return None
