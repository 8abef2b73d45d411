"""Parsing stage: bytes → one lxml tree, then the page's title and its links.

The tree is built once and handed on to extraction, so a page is never parsed twice.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree
from lxml.html import defs as html_defs

from crawler.engine.urls import canonical_url

SKIPPED_LINK_SCHEMES = ("mailto:", "javascript:", "tel:", "data:", "ftp:")


def parse_document(body: bytes, encoding: str | None = None) -> lxml.html.HtmlElement:
    """Parse HTML leniently; the HTTP charset wins over <meta charset> when the server sent one.

    Never raises on what a server sends: an unknown charset name falls back to the page's own
    declaration (or lxml's guess), undecodable bytes become U+FFFD, and a document lxml finds
    empty (only a comment, only whitespace) is an empty page rather than an error.
    """
    if encoding:
        try:
            text: str | None = body.decode(encoding, errors="replace")
        except (LookupError, ValueError):  # unknown or non-text codec name (charset=foo-bar, base64)
            text = None
        if text is not None:
            # lxml refuses str input that still declares an encoding: drop the XML declaration.
            if text.lstrip().startswith("<?xml"):
                text = text.split("?>", 1)[-1]
            return _parse_or_empty(text)
    else:
        # No charset from the server: bytes that are valid UTF-8 are UTF-8 (text in a legacy
        # 8-bit encoding almost never is), which lxml would otherwise read as Latin-1.
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and not text.lstrip().startswith("<?xml"):
            return _parse_or_empty(text)
    return _parse_or_empty(body)


def _parse_or_empty(source: str | bytes) -> lxml.html.HtmlElement:
    if source.strip():
        try:
            return lxml.html.document_fromstring(source)
        except (etree.ParserError, ValueError):
            pass
    return lxml.html.document_fromstring("<html></html>")


# The attributes that hold a URL (lxml's list: href, src, action, cite, ...), found by libxml2.
_LINK_ATTRIBUTES = etree.XPath("|".join(f"//@*[name()='{name}']" if ":" in name else f"//@{name}"
                                        for name in sorted(html_defs.link_attrs)))
_BASES = etree.XPath("//base[@href]|//x:base[@href]", namespaces={"x": "http://www.w3.org/1999/xhtml"})


def join_url(base: str, href: str) -> str:
    """urljoin(base, href). A root-relative href (`/docs/x.html`, most links of a docs site)
    depends only on the base's scheme and host: those joins are remembered across pages."""
    if href.startswith("/") and not href.startswith("//"):
        origin = _origin(base)
        if origin is not None:
            return _join_rooted(origin, href)
    return urljoin(base, href)


@lru_cache(maxsize=256)
def _origin(base: str) -> str | None:
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


@lru_cache(maxsize=8192)
def _join_rooted(origin: str, href: str) -> str:
    return urljoin(origin, href)


def make_links_absolute(tree: lxml.html.HtmlElement, page_url: str) -> None:
    """Every URL attribute made absolute against the page's URL, after its <base href> (which is
    removed): what lxml's `make_links_absolute(page_url, resolve_base_href=True,
    handle_failures="discard")` does to attributes, without visiting every element of the page in
    Python (the elements with a URL attribute are found by libxml2). URLs inside `style` and
    `<meta http-equiv=refresh>` are left as they are: nothing made of the page keeps them.
    ValueError when the <base href> cannot be joined with (as lxml)."""
    base_href = None
    for base in _BASES(tree):
        base_href = base.get("href")
        base.drop_tree()
    if base_href:
        _rewrite_links(tree, base_href, discard=False)
    _rewrite_links(tree, page_url, discard=True)


def _rewrite_links(tree: lxml.html.HtmlElement, base_url: str, discard: bool) -> None:
    joined: dict[str, str | None] = {}
    for link in _LINK_ATTRIBUTES(tree):
        key = link.strip()
        new = joined.get(key, "")
        if new == "":
            try:
                new = join_url(base_url, key)
            except ValueError:
                if not discard:
                    raise
                new = None
            joined[key] = new
        if new is None:
            del link.getparent().attrib[link.attrname]
        elif new != link:
            link.getparent().set(link.attrname, new)


def find_base_url(tree: lxml.html.HtmlElement, page_url: str) -> str:
    base = tree.find(".//base[@href]")
    return urljoin(page_url, base.get("href").strip()) if base is not None else page_url


def _is_route(fragment: str) -> bool:
    return fragment.startswith(("/", "!/"))


def find_links(tree: lxml.html.HtmlElement, page_url: str, keep_routes: bool = False) -> list[str]:
    """Absolute URLs of <a href> links, in document order, without duplicates or nofollow.

    Fragments are dropped, except hash routes (`#/path`, `#!/path`) with `keep_routes` (a page of
    a hash-routed site, where they name pages)."""
    base = find_base_url(tree, page_url)
    links: list[str] = []
    seen: set[str] = set()
    for anchor in tree.iter("a"):
        href = (anchor.get("href") or "").strip()
        if not href or href.lower().startswith(SKIPPED_LINK_SCHEMES):
            continue
        if href.startswith("#") and not (keep_routes and _is_route(href[1:])):
            continue
        if "nofollow" in (anchor.get("rel") or "").lower():
            continue
        absolute, _, fragment = join_url(base, href).partition("#")
        if keep_routes and _is_route(fragment):
            absolute += "#" + fragment
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


def _meta_content(tree: lxml.html.HtmlElement, attribute: str, names: tuple[str, ...], limit: int) -> str | None:
    for meta in tree.iterfind(".//meta[@content]"):
        if (meta.get(attribute) or "").strip().lower() in names:
            text = " ".join((meta.get("content") or "").split())
            if text:
                return text[:limit]
    return None


def find_site_meta(tree: lxml.html.HtmlElement) -> tuple[str | None, str | None]:
    """(site name, description) the page declares: `og:site_name` (else `application-name`) and
    `<meta name="description">` (else `og:description`); whitespace collapsed, None when absent."""
    site_name = (_meta_content(tree, "property", ("og:site_name",), 200)
                 or _meta_content(tree, "name", ("og:site_name", "application-name"), 200))
    description = (_meta_content(tree, "name", ("description",), 500)
                   or _meta_content(tree, "property", ("og:description",), 500))
    return site_name, description


# ---- the page's place in the site's navigation (for llms.txt's sections) ----------------------

MAX_NAV_DEPTH = 6
MAX_NAV_LABEL = 80
# (Each test is guarded by its attribute's presence, and `contains(@class, 'sidebar')` covers the
# class word `sidebar`: the same elements, found in half the time.)
_NAV_CONTAINERS = etree.XPath(
    ".//nav | .//aside | .//*[@role='navigation'] | "
    ".//*[(@class and (contains(@class, 'toctree') or contains(@class, 'sidebar') or contains(@class, 'md-nav') or "
    "contains(@class, 'menu'))) or (@id and (contains(@id, 'sidebar') or contains(@id, 'toc')))]")
_BREADCRUMBS = etree.XPath(
    ".//*[(@aria-label and contains(translate(@aria-label, 'BREADCRUMB', 'breadcrumb'), 'breadcrumb')) or "
    "(@class and contains(@class, 'breadcrumb'))]")


def _label(element: lxml.html.HtmlElement) -> str:
    text = " ".join(element.text_content().split())
    return text if 0 < len(text) <= MAX_NAV_LABEL else ""


def _same_page(href: str | None, base: str, page: str, tail: str = "") -> bool:
    if not href or href.startswith(("#", "javascript:", "mailto:")) or (tail and tail not in href):
        return False  # (a link to the page names its last path segment: most links are skipped unparsed)
    return canonical_url(urljoin(base, href.strip())) == page


def _breadcrumb_path(tree: lxml.html.HtmlElement, base: str, page: str) -> list[str] | None:
    for trail in _BREADCRUMBS(tree)[:3]:
        items = [item for item in trail.iter("li")] or list(trail.iter("a"))
        labels: list[str] = []
        for number, item in enumerate(items):
            link = item if item.tag == "a" else item.find(".//a")
            href = link.get("href") if link is not None else None
            if href is None and number == len(items) - 1:
                break  # the trail's last item, unlinked: the page itself
            if href is not None and _same_page(href, base, page):
                break
            if href is not None and urlsplit(urljoin(base, href)).path in ("", "/"):
                continue  # the site's home: every page is under it
            label = _label(item)
            if label:
                labels.append(label)
        if items:
            return labels[-MAX_NAV_DEPTH:]
    return None


def _marks_this_page(link: lxml.html.HtmlElement) -> bool:
    """A navigation entry for the page being read that links nowhere: Sphinx's toctree gives the
    current page `<a class="current reference internal" href="#">`, others `aria-current="page"`."""
    return (link.get("href") or "").strip() in ("", "#") and (
        "current" in (link.get("class") or "").split() or link.get("aria-current") == "page")


_LINKS_HOLDING = etree.XPath(
    "descendant-or-self::a[contains(@href, $tail) or normalize-space(@href)='#' or normalize-space(@href)=''"
    " or @aria-current='page']")


def _sidebar_path(tree: lxml.html.HtmlElement, base: str, page: str) -> list[str] | None:
    tail = urlsplit(page).path.rstrip("/").rsplit("/", 1)[-1]
    for container in _NAV_CONTAINERS(tree)[:20]:
        # Only links whose href holds the page's last path segment, or that mark the page being
        # read, can name it (libxml2 picks them); a link of a container seen before fails again.
        for link in (_LINKS_HOLDING(container, tail=tail) if tail else container.iter("a")):
            if not _same_page(link.get("href"), base, page, tail) and not _marks_this_page(link):
                continue
            labels: list[str] = []
            own_item = next((a for a in link.iterancestors("li")), None)
            for ancestor in link.iterancestors():
                if ancestor is container or len(labels) >= MAX_NAV_DEPTH:
                    break
                if ancestor.tag in ("ul", "ol"):
                    caption = ancestor.getprevious()
                    if caption is not None and caption.tag not in ("ul", "ol", "li", "a") and _label(caption):
                        labels.append(_label(caption))
                elif ancestor.tag == "li" and ancestor is not own_item:
                    head = next((child for child in ancestor if child.tag not in ("ul", "ol")), None)
                    label = _label(head) if head is not None else ""
                    if label and (not labels or labels[-1] != label):
                        labels.append(label)
            return labels[::-1]
    return None


def find_nav_path(tree: lxml.html.HtmlElement, page_url: str) -> list[str] | None:
    """Where the page sits in the site's own navigation: the labels of the groups above it,
    outermost first, from its breadcrumbs, else from a sidebar or table of contents that links to
    it ([] when it is listed at the top level); None when no navigation names the page."""
    page = canonical_url(page_url)
    if page is None:
        return None
    try:
        base = find_base_url(tree, page_url)
        found = _breadcrumb_path(tree, base, page)
        if not found:
            sidebar = _sidebar_path(tree, base, page)
            found = sidebar if sidebar is not None else found
        return found
    except Exception:  # noqa: BLE001 - an odd page's navigation never costs the page itself
        return None


# ---- the site's own heading anchors (so links copied from the site reach a section) -------------

MAX_HEADING_IDS = 200
MAX_HEADING_ID = 120
_HEADINGS = ".//h1 | .//h2 | .//h3 | .//h4 | .//h5 | .//h6"
_SECTION_TAGS = ("section", "div", "article")


def _heading_id(heading: lxml.html.HtmlElement) -> str | None:
    """The fragment the site links the heading by: its own id, else an anchor inside it (an empty
    `<a id>` or `<a name>`), else the id of the section it opens (Sphinx: `<section id="install">
    <h2>Install`, perhaps after empty label spans), else its permalink (`<a href="#install">¶</a>`)."""
    own = heading.get("id")
    if own:
        return own
    permalink = None
    for anchor in heading.iter("a"):
        name = anchor.get("id") or anchor.get("name")
        if name:
            return name
        href = anchor.get("href") or ""
        if permalink is None and href.startswith("#") and len(href) > 1:
            permalink = href[1:]
    parent = heading.getparent()
    if parent is not None and parent.tag in _SECTION_TAGS and parent.get("id"):
        before = heading.getprevious()
        while before is not None and not before.text_content().strip():
            before = before.getprevious()
        if before is None and not (parent.text or "").strip():
            return parent.get("id")
    return permalink


def _heading_text(heading: lxml.html.HtmlElement) -> str:
    """The heading's words without the permalink marks sites put around them (¶, #, §, 🔗)."""
    return " ".join(heading.text_content().split()).strip(" ¶#§🔗\u200b")


def _anchored(elements: list[Any], anchor_of: Callable[[Any], str | None], limit: int) -> list[list[str]] | None:
    """[text, id] pairs of the elements that carry an anchor of the site's own, in page order (at
    most `limit`, each part at most 120 characters, ids without spaces); None when none does."""
    found: list[list[str]] = []
    try:
        for element in elements:
            if len(found) >= limit:
                break
            anchor = anchor_of(element)
            if not anchor or len(anchor) > MAX_HEADING_ID or any(c.isspace() for c in anchor):
                continue
            text = _heading_text(element)[:MAX_HEADING_ID]
            if text:
                found.append([text, anchor])
    except Exception:  # noqa: BLE001 - an odd page's anchors never cost the page itself
        return None
    return found or None


def find_heading_ids(tree: lxml.html.HtmlElement) -> list[list[str]] | None:
    """The page's headings that carry an anchor of the site's own, in page order, as [text, id]
    pairs (at most 200, each part at most 120 characters); None when none does."""
    return _anchored(tree.xpath(_HEADINGS), _heading_id, MAX_HEADING_IDS)


MAX_DEFINITION_IDS = 1000
_DEFINITIONS = ".//dt[@id]"


def find_definition_ids(tree: lxml.html.HtmlElement) -> list[list[str]] | None:
    """The page's definition terms that carry an id (`<dt id="confval-html_css_files">` of a
    Sphinx config value, `<dt id="sphinx.application.Sphinx.add_js_file">` of a function, an
    mkdocstrings entry's), in page order, as [term text, id] pairs (at most 1000, each part at
    most 120 characters); None when there is none. One XPath over `dt[@id]` only: a page without
    definition lists costs one lookup."""
    return _anchored(tree.xpath(_DEFINITIONS), lambda term: term.get("id"), MAX_DEFINITION_IDS)


# ---- the page's own Markdown version (llmstxt.org: the same URL with .md) ----------------------

MARKDOWN_TYPES = ("text/markdown", "text/x-markdown")


def markdown_names(page_url: str) -> set[str]:
    """The URLs a site gives a page's Markdown version under, by llmstxt.org's convention:
    `guide.html` → `guide.md` (and `guide.html.md`), `guide/` → `guide/index.md` and `guide.md`,
    `guide` → `guide.md`; query and fragment dropped."""
    parts = urlsplit(page_url)
    path = parts.path or "/"
    origin = f"{parts.scheme}://{parts.netloc}"
    stem, _, last = path.rpartition("/")
    if path.endswith("/"):
        paths = {path + "index.md", path.rstrip("/") + ".md"} if path != "/" else {"/index.md"}
    elif "." in last:
        base = last.rsplit(".", 1)[0]
        paths = {f"{stem}/{base}.md", path + ".md"} if last.rsplit(".", 1)[1].lower() in ("html", "htm") else set()
    else:
        paths = {path + ".md"}
    return {origin + candidate for candidate in paths}


def find_markdown_alternate(tree: lxml.html.HtmlElement, page_url: str, links: list[str]) -> str | None:
    """The page's own Markdown version on its host: `<link rel="alternate" type="text/markdown">`,
    else a link on the page to one of its `.md` names (`markdown_names`); None when it has none."""
    try:
        host = urlsplit(page_url).netloc.lower()
        for link in tree.iterfind(".//link[@href]"):
            rel = (link.get("rel") or "").lower().split()
            if "alternate" in rel and (link.get("type") or "").split(";")[0].strip().lower() in MARKDOWN_TYPES:
                target = urljoin(find_base_url(tree, page_url), link.get("href").strip()).split("#", 1)[0]
                if urlsplit(target).scheme in ("http", "https") and urlsplit(target).netloc.lower() == host:
                    return target
        names = markdown_names(page_url)
        return next((link for link in links if link.split("?", 1)[0] in names), None)
    except Exception:  # noqa: BLE001 - an odd page's head never costs the page itself
        return None
