"""HTML → Markdown built for fidelity: the main content of a documentation page as its author wrote it.

trafilatura is good at deciding what a page's main content is, but it is not a faithful converter:
a <pre> with links inside spills out of its fence, a code block inside a list item is flattened
into a line of text, the language class is dropped, tabs keep only what is visible, admonitions
lose their label and link lists vanish. This module:

* finds the content (a `content_selector`, else the container a documentation generator puts
  its content in: Sphinx, MkDocs, Material, Docusaurus, Read the Docs, Hugo/Jekyll `main` or
  `article`...), after removing `exclude_selectors` and the page's chrome;
* converts that subtree itself (:func:`convert`): every <pre> one fenced block with its language,
  tabs with their labels, admonitions as labelled blockquotes, API `dl` signatures, lists, tables,
  images, math;
* on a page with no such container, lets trafilatura choose the content, with every code block
  protected first (:func:`protect_code` / :func:`restore_code`): the block is replaced by a
  placeholder word before trafilatura runs and by its fenced block after.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lxml.html
from lxml import etree
from lxml.cssselect import CSSSelector  # needs cssselect (requirements.txt)

# ---- code blocks ---------------------------------------------------------------------------

# Elements of a code block that are not its text: line-number gutters, copy buttons, prompts
# that highlighters mark as not selectable.
GUTTER_CLASSES = {"linenos", "linenodiv", "lineno", "listing_lines", "gutter", "line-numbers-rows",
                  "hljs-ln-numbers", "ln-num", "line-number", "linenumber", "rouge-gutter", "code-line-number"}
# Classes that sit beside a language class and are not languages.
NOT_LANGUAGES = {"highlight", "notranslate", "hljs", "prism-code", "sourcecode", "source", "code", "default",
                 "nohighlight", "no-highlight", "plain", "none", "doctest", "literal-block", "programlisting",
                 "screen", "chroma", "codehilite", "syntax", "thin-scrollbar", "line-numbers"}
LINE_TAGS = {"tr", "div", "p", "li"}
_LANG_PREFIXES = ("language-", "lang-", "highlight-", "sourcecode-")
_BRUSH = re.compile(r"brush\s*:\s*([\w+#.-]+)", re.I)
_LANG_NAME = re.compile(r"^[A-Za-z0-9][\w+#.-]{0,30}$")


def _classes(element: etree._Element) -> list[str]:
    return (element.get("class") or "").split()


def _is_gutter(element: etree._Element) -> bool:
    return bool(GUTTER_CLASSES.intersection(_classes(element)))


# Inside a <pre>, what code_text must look at element by element: tags it skips or reads as a
# line break, comments, and classes of line-number gutters (matched as substrings of the class
# attribute: a false alarm takes the slow path, nothing is missed). Found in the block's markup,
# serialized by libxml2: a block with none of them (most highlighted code: spans only) is its text.
_CODE_SPECIAL = re.compile(r"<(?:button|script|style|br|tr|div|p|li)[\s/>]|<!--|<\?|class=\"[^\"]*(?:"
                           + "|".join(map(re.escape, sorted(GUTTER_CLASSES))) + ")")


def code_text(pre: etree._Element) -> str:
    """The code of a <pre> as a reader sees it: highlighter spans and links give their text,
    <br> is a line break, Prism's token lines are lines, line-number gutters and buttons are
    left out; one trailing newline dropped."""
    if not _is_gutter(pre) and not _CODE_SPECIAL.search(etree.tostring(pre, encoding=str, with_tail=False), 4):
        return _tidy_code(etree.tostring(pre, method="text", encoding=str, with_tail=False))
    parts: list[str] = []
    _walk_code(pre, pre, parts)
    return _tidy_code("".join(parts))


def _walk_code(element: etree._Element, pre: etree._Element, parts: list[str]) -> None:
    """code_text's reading of one element. (A function of the module, not a closure: a recursive
    closure is a reference cycle, which would keep the page's whole tree alive until the garbage
    collector's next full pass.)"""
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag in ("button", "script", "style") or _is_gutter(element):
        pass
    elif tag == "br":
        parts.append("\n")
    else:
        if element.text:
            parts.append(element.text)
        for child in element:
            _walk_code(child, pre, parts)
        # a row or a block per line (highlight.js line-number tables, div-per-line
        # highlighters) is a line even with no newline in the markup
        if tag in LINE_TAGS and element is not pre and parts and not parts[-1].endswith("\n") \
                and not (element.tail or "").startswith("\n"):
            parts.append("\n")
    if element is not pre and element.tail:
        parts.append(element.tail)


def _tidy_code(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\u200b", "")
    if text.startswith("\n"):  # a newline right after <pre> is not displayed (HTML parsing rule)
        text = text[1:]
    return text[:-1] if text.endswith("\n") else text


def _language_of(element: etree._Element) -> str | None:
    for attribute in ("data-lang", "data-language"):
        value = (element.get(attribute) or "").strip().lower()
        if value and _LANG_NAME.match(value):
            return value
    class_attr = element.get("class") or ""
    brush = _BRUSH.search(class_attr)
    if brush:
        return brush.group(1).lower()
    names = class_attr.split()
    for name in names:
        lowered = name.lower()
        for prefix in _LANG_PREFIXES:
            if lowered.startswith(prefix) and len(lowered) > len(prefix):
                language = lowered[len(prefix):]
                if language not in NOT_LANGUAGES and _LANG_NAME.match(language):
                    return language
    if "hljs" in names or "sourceCode" in names:  # highlight.js `hljs python`, pandoc `sourceCode python`
        for name in names:
            lowered = name.lower()
            if lowered not in NOT_LANGUAGES and lowered != "sourcecode" and _LANG_NAME.match(lowered) \
                    and not lowered.startswith(("hljs-", "language-")):
                return lowered
    return None


def code_language(pre: etree._Element) -> str | None:
    """The block's language from the usual classes on the <pre>, its <code> or the wrappers a
    highlighter puts around it (Sphinx `div.highlight-python`, Docusaurus `div.language-js`)."""
    code = pre.find("code")
    candidates = [pre] + ([code] if code is not None else [])
    parent = pre.getparent()
    depth = 0
    while parent is not None and depth < 4:
        candidates.append(parent)
        parent = parent.getparent()
        depth += 1
    for element in candidates:
        language = _language_of(element)
        if language:
            return language
        if "doctest" in _classes(element):
            return "pycon"
        if any(c in ("highlight-default", "highlight-python3") for c in _classes(element)):
            return "python"
    first = code_text(pre).lstrip()[:4]
    return "pycon" if first == ">>> " else None


def fence(code: str, language: str | None) -> str:
    """A fenced block longer than any run of backticks inside the code."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language or ''}\n{code}\n{ticks}"


# ---- preparing the tree --------------------------------------------------------------------

# The page chrome inside a content container that no reader takes away.
CHROME = ("nav, footer, form, button:not([role='tab']), input:not([type='checkbox']), select, textarea, template, noscript, iframe, "
          "script:not([type^='math/tex']), style, "
          "a.headerlink, a.hash-link, a.anchorjs-link, a.md-content__button, .md-source-file, "
          ".theme-doc-breadcrumbs, .theme-doc-toc-mobile, .theme-doc-footer, .pagination-nav, "
          ".theme-edit-this-page, .theme-doc-version-badge, [role='navigation'], .sphinxsidebar, .related, "
          ".rst-footer-buttons, .md-feedback, .copybtn, .toc, .breadcrumbs, .edit-this-page")
# Where documentation generators put a page's content, most specific first.
CONTENT_CONTAINERS = (
    "article.md-content__inner",  # MkDocs-Material
    ".theme-doc-markdown",  # Docusaurus
    "article.markdown-section",  # Docsify (its <main> also holds the sidebar)
    "article.bd-article",  # pydata-sphinx-theme, sphinx-book-theme
    ".td-content",  # Hugo Docsy
    "[itemprop='articleBody']",  # Sphinx Read the Docs theme
    "div.body[role='main']", "div[role='main']", "[role='main']",  # Sphinx (alabaster, classic...)
    "main article", "main", "article",
)
_compiled: dict[str, object] = {}


def selector(css: str):  # -> CSSSelector or _SimpleSelectors, called with an element
    """A compiled CSS selector, cached (a crawl uses the same few on every page)."""
    found = _compiled.get(css)
    if found is None:
        found = (_one_pass(css) if css.count(",") + 1 >= ONE_PASS_FROM else None) or CSSSelector(css, translator="html")
        if len(_compiled) < 256:
            _compiled[css] = found
    return found


# From this many selectors in one list, one walk in Python (_SimpleSelectors) beats libxml2's
# walk per selector (measured on Django's pages: 0.5 ms a walk, 2.4 ms for the chrome list's 30).
ONE_PASS_FROM = 6


def _one_pass(css: str) -> _SimpleSelectors | None:
    """`css` as a _SimpleSelectors when every selector in it is simple; None otherwise."""
    from cssselect import parse

    try:
        parsed = parse(css)
    except Exception:  # noqa: BLE001 - what cssselect cannot parse: CSSSelector says why
        return None
    if not parsed or any(one.pseudo_element is not None for one in parsed):
        return None
    tests = [_simple_test(one.parsed_tree) for one in parsed]
    return _SimpleSelectors([test for test in tests if test is not None]) if None not in tests else None


# A condition on one element: ("class", name), ("attr", name, operator, value), or
# ("not", tag or None, conditions); a test is (tag or None for any tag, its conditions).
_Condition = tuple[Any, ...]
_Test = tuple[str | None, tuple[_Condition, ...]]
_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "=": lambda have, want: have == want,
    "^=": lambda have, want: bool(want) and have.startswith(want),
    "$=": lambda have, want: bool(want) and have.endswith(want),
    "*=": lambda have, want: bool(want) and want in have,
    "~=": lambda have, want: want in have.split(),
    "|=": lambda have, want: have == want or have.startswith(want + "-"),
}


def _simple_test(tree: Any) -> _Test | None:
    """(tag, conditions) of a selector without combinators (`a.headerlink`, `[role='navigation']`,
    `button:not([role='tab'])`); None for anything else."""
    kind = type(tree).__name__
    if kind == "Element":
        return (tree.element.lower() if tree.element not in (None, "*") else None), ()
    inner = _simple_test(tree.selector)
    if inner is None:
        return None
    condition: _Condition | None = None
    if kind == "Class":
        condition = ("class", tree.class_name)
    elif kind == "Hash":
        condition = ("attr", "id", "=", tree.id)
    elif kind == "Attrib" and tree.namespace is None:
        value = getattr(tree.value, "value", tree.value)
        if tree.operator == "exists" or (tree.operator in _OPERATORS and value is not None):
            condition = ("attr", tree.attrib.lower(), tree.operator, value)
    elif kind == "Negation":
        negated = _simple_test(tree.subselector)
        condition = None if negated is None else ("not", *negated)
    return None if condition is None else (inner[0], (*inner[1], condition))


def _holds(element: etree._Element, condition: _Condition) -> bool:
    kind = condition[0]
    if kind == "class":
        return condition[1] in (element.get("class") or "").split()
    if kind == "attr":
        have = element.get(condition[1])
        return have is not None and (condition[2] == "exists" or _OPERATORS[condition[2]](have, condition[3]))
    tag, conditions = condition[1], condition[2]
    return not ((tag is None or element.tag == tag) and all(_holds(element, one) for one in conditions))


class _SimpleSelectors:
    """A list of simple selectors (`nav, a.headerlink, [role='navigation'], ...`: no combinator)
    matched in one walk of the tree. lxml's CSSSelector makes one XPath path per selector, one
    walk of the tree each, and one XPath testing them all is slower still (libxml2 builds a node
    set for every test): for the chrome list (30 selectors) the walks were a third of a page's
    conversion. Here a tag alone, a class alone and an attribute value alone are set lookups;
    the rest is tested one by one. Same elements, in document order, the root included, as
    CSSSelector finds."""

    def __init__(self, tests: list[_Test]) -> None:
        self.tags: set[str] = set()  # `nav`
        self.classes: set[str] = set()  # `.toc`
        self.values: dict[str, set[str]] = {}  # `[role='navigation']`
        self.any_tag: list[tuple[_Condition, ...]] = []
        self.by_tag: dict[str, list[tuple[_Condition, ...]]] = {}
        self.everything = False
        for tag, conditions in tests:
            only = conditions[0] if len(conditions) == 1 else None
            if tag is not None and not conditions:
                self.tags.add(tag)
            elif tag is None and not conditions:
                self.everything = True
            elif tag is None and only is not None and only[0] == "class":
                self.classes.add(only[1])
            elif tag is None and only is not None and only[0] == "attr" and only[2] == "=":
                self.values.setdefault(only[1], set()).add(only[3])
            else:
                (self.any_tag if tag is None else self.by_tag.setdefault(tag, [])).append(conditions)

    def matches(self, element: etree._Element) -> bool:
        tag = element.tag
        if self.everything or tag in self.tags:
            return True
        if self.classes:
            names = element.get("class")
            if names and not self.classes.isdisjoint(names.split()):
                return True
        for name, values in self.values.items():
            if element.get(name) in values:
                return True
        for tests in (self.by_tag.get(tag), self.any_tag):
            for conditions in tests or ():
                if all(_holds(element, condition) for condition in conditions):
                    return True
        return False

    def __call__(self, root: etree._Element) -> list[etree._Element]:
        return [element for element in root.iter(etree.Element) if self.matches(element)]


def check_selector(css: str) -> None:
    """Raises ValueError with the parser's reason when `css` is not a CSS selector lxml can use."""
    from cssselect import SelectorError

    try:
        selector(css)
    except SelectorError as exc:
        raise ValueError(str(exc) or "invalid selector") from None
    except Exception as exc:  # noqa: BLE001 - cssselect raises ExpressionError (and others) for what it cannot translate
        raise ValueError(str(exc) or type(exc).__name__) from None


def remove(element: etree._Element) -> None:
    """Remove an element, keeping its tail text in place."""
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail
    if tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)


def remove_matching(root: etree._Element, css_list: tuple[str, ...] | list[str]) -> None:
    for css in css_list:
        for element in selector(css)(root):
            remove(element)


def unwrap_code_tables(root: etree._Element) -> None:
    """A code table (Pygments `table.highlighttable`, gtk-doc `table.listing_frame`, a line-number
    column beside the code) becomes its code <pre>, with its file name (if any) before it."""
    for table in list(root.iter("table")):
        cells = table.xpath(".//td")
        if not any(_is_gutter(cell) or cell.xpath(".//*[contains(@class,'linenodiv')]") for cell in cells):
            continue
        code_pres = [pre for pre in table.iter("pre")
                     if not any(_is_gutter(a) for a in pre.iterancestors()) and not _is_gutter(pre)]
        if len(code_pres) != 1 or table.getparent() is None:
            continue
        pre = code_pres[0]
        title = " ".join(" ".join("".join(th.itertext()).split()) for th in table.xpath(".//th[contains(@class,'filename')]"))
        replacement = lxml.html.Element("div")
        if title:
            caption = lxml.html.Element("p")
            em = lxml.html.Element("em")
            em.text = title
            caption.append(em)
            replacement.append(caption)
        # the language stays findable: the <pre> keeps its classes, the table's wrappers stay
        pre.tail = None
        replacement.append(pre)
        replacement.tail = table.tail
        table.getparent().replace(table, replacement)


def select_content(tree: etree._Element, content_selector: str) -> etree._Element | None:
    """What `content_selector` matches (several matches: all of them, in order, in one
    container); None when it matches nothing."""
    matches = selector(content_selector)(tree)
    if not matches:
        return None
    if len(matches) == 1:
        return matches[0]
    holder = lxml.html.Element("div")
    for match in matches:
        if not any(m in matches for m in match.iterancestors()):
            holder.append(match)
    return holder


def find_content(tree: etree._Element) -> etree._Element | None:
    """The content container of a known generator (or the page's one `main` or `article`), else
    the section its title heads; None to let trafilatura decide."""
    for css in CONTENT_CONTAINERS:
        matches = selector(css)(tree)
        # exactly one: several `article`s are a list of teasers, not one page's content
        if len(matches) == 1 and _text_length(matches[0]) >= 1:
            return matches[0]
    return title_section(tree)


def _is_section(element: etree._Element) -> bool:
    return element.tag == "section" or (element.tag == "div" and "section" in (element.get("class") or "").split())


def title_section(tree: etree._Element) -> etree._Element | None:
    """The section the page's title heads, as docutils (Sphinx, whatever its theme) and other
    generators write a document: `<section>` or `<div class="section">` holding the `<h1>` and,
    nested, every section below it. The title is the first `<h1>` that is not only a link (a
    site name or logo in the header is). The outermost such section is the document, or, when a
    page has several top-level sections (two `<h1>`s: Django's `django.urls` page), the element
    holding them, if nearly all its text is theirs. None when the title is not in a section, or
    the section holds nothing but its heading."""
    body = tree.find("body")
    for heading in (body if body is not None else tree).iter("h1"):
        text = _text_length(heading)
        linked = sum(len("".join(link.itertext()).strip()) for link in heading.iter("a"))
        if not text or linked >= text:
            continue
        document = None
        for ancestor in heading.iterancestors():
            if _is_section(ancestor):
                document = ancestor
        if document is None:
            return _title_block(heading, body if body is not None else tree)
        if _text_length(document) <= text:
            return None
        return _with_sibling_sections(document)
    return None


TITLE_BLOCK_SHARE = 0.9


def _title_block(heading: etree._Element, body: etree._Element) -> etree._Element | None:
    """A title in no section (Sphinx's highlighted module sources: the `<h1>` and one code block):
    the element holding the title and nearly all the page's text, its navigation aside."""
    block = heading.getparent()
    if block is None or block.tag in ("body", "html") or len(block) < 2:
        return None
    page = _text_length(body) - sum(_text_length(chrome) for chrome in _outermost(selector(CHROME)(body)))
    held = _text_length(block)
    return block if held > _text_length(heading) and held >= TITLE_BLOCK_SHARE * page else None


def _outermost(elements: list[etree._Element]) -> list[etree._Element]:
    chosen = set(elements)
    return [element for element in elements if not any(a in chosen for a in element.iterancestors())]


SIBLING_SECTIONS_SHARE = 0.9


def _with_sibling_sections(document: etree._Element) -> etree._Element:
    """The parent of `document` when it holds more top-level sections beside it and little else."""
    parent = document.getparent()
    if parent is None or parent.tag == "html":
        return document
    sections = [child for child in parent if _is_section(child)]
    if len(sections) < 2:
        return document
    in_sections = sum(_text_length(section) for section in sections)
    return parent if in_sections >= SIBLING_SECTIONS_SHARE * _text_length(parent) else document


def _text_length(element: etree._Element) -> int:
    return len(etree.tostring(element, method="text", encoding=str, with_tail=False).strip())


# ---- conversion ----------------------------------------------------------------------------

BLOCK_TAGS = {"address", "article", "aside", "blockquote", "center", "dd", "details", "dialog", "div", "dl", "dt",
              "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
              "hgroup", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody",
              "td", "tfoot", "th", "thead", "tr", "ul", "caption", "body", "html", "menu", "picture", "video"}
SKIP_TAGS = {"script", "style", "noscript", "template", "button", "svg", "input", "select", "textarea", "head",
             "iframe", "object", "canvas", "map", "meta", "link", "title"}
ADMONITION_TYPES = ("note", "warning", "tip", "hint", "important", "caution", "danger", "error", "attention",
                    "info", "seealso", "todo", "abstract", "summary", "tldr", "success", "check", "done",
                    "question", "help", "faq", "failure", "fail", "missing", "bug", "example", "quote", "cite",
                    "versionadded", "versionchanged", "deprecated", "versionremoved", "secondary")
_LABEL_SELECTORS = (".admonition-title", "[class*='admonitionHeading']", ".admonition-heading", "summary",
                    "span.versionmodified", ".callout-title", ".alert-title")
# A run of whitespace, except a lone space: replacing these by one space collapses whitespace
# without a replacement for every gap between two words.
_SPACES = re.compile(r"[\t\r\n\f\v][ \t\r\n\f\v]*| [ \t\r\n\f\v]+")
_ESCAPE = re.compile(r"([\\`*\[\]])")
_ESCAPABLE = re.compile(r"[\\`*\[\]_<]")
_LONE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")
_LINE_START = re.compile(r"^(\s*)([#>+\-=|]|\d+[.)])(?=\s|$)")
_MATH_INLINE = re.compile(r"^\\\((.*)\\\)$", re.S)
_MATH_DISPLAY = re.compile(r"^\\\[(.*)\\\]$", re.S)


@dataclass
class _Context:
    page_url: str


def _tag(element: etree._Element) -> str:
    return element.tag.lower() if isinstance(element.tag, str) else ""


def _escape(text: str) -> str:
    if not _ESCAPABLE.search(text):  # most text: nothing to escape
        return text
    text = _ESCAPE.sub(r"\\\1", text)
    text = _LONE_UNDERSCORE.sub(r"\_", text)
    return _TAG_OPEN.sub(r"\<", text)


def _inline_code(text: str) -> str:
    text = _SPACES.sub(" ", text)
    if not text.strip():
        return text
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _math(element: etree._Element) -> str | None:
    """TeX of a math element: MathJax's script type math/tex, KaTeX's annotation, or the raw
    `\\(...\\)` / `\\[...\\]` Sphinx and pymdownx.arithmatex leave for MathJax."""
    tag, classes = _tag(element), _classes(element)
    if tag == "script" and (element.get("type") or "").startswith("math/tex"):
        tex = (element.text or "").strip()
        display = "mode=display" in (element.get("type") or "")
        return f"$${tex}$$" if display else f"${tex}$"
    if "katex" in classes or "katex-display" in classes:
        annotation = element.xpath(".//annotation[@encoding='application/x-tex']")
        if annotation:
            tex = (annotation[0].text or "").strip()
            display = "katex-display" in classes or any("katex-display" in _classes(a) for a in element.iterancestors())
            return f"$${tex}$$" if display else f"${tex}$"
    if "math" in classes or "arithmatex" in classes:
        text = "".join(element.itertext()).strip()
        inline = _MATH_INLINE.match(text)
        if inline:
            return f"${inline.group(1).strip()}$"
        block = _MATH_DISPLAY.match(text)
        if block:
            return f"$${block.group(1).strip()}$$"
        if text.startswith("$"):
            return text
    return None


class Converter:
    """Renders one content subtree; a new instance per page."""

    def __init__(self, page_url: str) -> None:
        self.page_url = page_url.split("#", 1)[0]

    # -- inline --

    def inline(self, element: etree._Element, code: bool = False) -> str:
        """The inline Markdown of an element's content (text, its children, not its tail)."""
        out: list[str] = []
        if element.text:
            out.append(element.text if code else _escape(element.text))
        for child in element:
            out.append(self.inline_element(child, code))
            if child.tail:
                out.append(child.tail if code else _escape(child.tail))
        return "".join(out)

    def inline_element(self, element: etree._Element, code: bool = False) -> str:
        tag = _tag(element)
        if tag == "input" and (element.get("type") or "").lower() == "checkbox":  # a task list item
            return "[x] " if element.get("checked") is not None else "[ ] "
        if not tag or tag in SKIP_TAGS and not (tag == "script" and _math(element)):
            return ""
        if element.get("hidden") is not None or _is_gutter(element) or "headerlink" in _classes(element) \
                or "hash-link" in _classes(element):
            return ""
        math = _math(element)
        if math is not None:
            return math
        if tag == "br":
            return "  \n"
        if tag == "img":
            return self.image(element)
        if code:
            return self.inline(element, code=True)
        if tag in ("code", "kbd", "samp", "tt") or (tag == "span" and "pre" in _classes(element)
                                                   and _tag(element.getparent()) != "span"):
            return _inline_code("".join(element.itertext()))
        if tag == "pre":
            return _inline_code("".join(element.itertext()))
        inner = self.inline(element)
        if tag == "a":
            href = (element.get("href") or "").strip()
            text = inner.strip()
            if not text:
                return ""
            if not href:  # (a javascript: link is kept as written: the reader sanitizes what it shows)
                return inner
            if href.split("#", 1)[0] == self.page_url and "#" in href and element.getparent() is not None \
                    and _tag(element.getparent()) in ("h1", "h2", "h3", "h4", "h5", "h6"):
                return inner
            return f"[{text}]({_link_target(href)})"
        if tag in ("strong", "b"):
            return _wrap(inner, "**")
        if tag in ("em", "i", "cite", "dfn", "var"):
            return _wrap(inner, "*")
        if tag in ("del", "s", "strike"):
            return _wrap(inner, "~~")
        return inner

    def image(self, element: etree._Element) -> str:
        src = (element.get("src") or element.get("data-src") or "").strip()
        if not src or src.startswith("data:"):
            return ""
        alt = _SPACES.sub(" ", element.get("alt") or "").strip().replace("[", "").replace("]", "")
        return f"![{alt}]({_link_target(src)})"

    def paragraph(self, element: etree._Element) -> str:
        return _clean_inline(self.inline(element))

    # -- blocks --

    def blocks(self, element: etree._Element) -> list[str]:
        """The Markdown blocks of an element's content (children and loose text)."""
        out: list[str] = []
        run: list[str] = []

        def flush() -> None:
            text = _clean_inline("".join(run))
            if text:
                out.append(text)
            run.clear()

        if element.text:
            run.append(_escape(element.text))
        for child in element:
            tag = _tag(child)
            if tag and (tag in BLOCK_TAGS or self._is_block_widget(child)):
                flush()
                out.extend(self.block(child))
            else:
                run.append(self.inline_element(child))
            if child.tail:
                run.append(_escape(child.tail))
        flush()
        return out

    @staticmethod
    def _is_block_widget(element: etree._Element) -> bool:
        classes = _classes(element)
        return "math" in classes and _tag(element) == "div" or "katex-display" in classes

    def block(self, element: etree._Element) -> list[str]:
        tag = _tag(element)
        if tag in SKIP_TAGS or element.get("hidden") is not None or _is_gutter(element):
            return []
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            text = _clean_inline(self.inline(element)).replace("\n", " ")
            return [f"{'#' * int(tag[1])} {text}"] if text else []
        if tag == "pre":
            code = code_text(element)
            return [fence(code, code_language(element))] if code.strip() else []
        if tag == "p":
            text = self.paragraph(element)
            return [text] if text else []
        if tag in ("ul", "ol", "menu"):
            return self.list_block(element, ordered=tag == "ol")
        if tag == "blockquote":
            return [_quote("\n\n".join(self.blocks(element)))] if len(element) or (element.text or "").strip() else []
        if tag == "hr":
            return ["---"]
        if tag == "table":
            return self.table(element)
        if tag == "dl":
            return self.definition_list(element)
        math = _math(element)
        if math is not None:
            return [math]
        tabs = self.tabs(element)
        if tabs is not None:
            return tabs
        if self._is_admonition(element):
            return self.admonition(element)
        if tag == "details":
            return self.admonition(element)
        if tag == "img":
            image = self.image(element)
            return [image] if image else []
        return self.blocks(element)

    def list_block(self, element: etree._Element, ordered: bool) -> list[str]:
        items: list[str] = []
        number = int(element.get("start") or 1) if (element.get("start") or "1").isdigit() else 1
        for child in element:
            if _tag(child) != "li":
                if _tag(child) in ("ul", "ol"):  # a list directly inside a list (invalid, common)
                    nested = self.list_block(child, ordered=_tag(child) == "ol")
                    if nested and items:
                        items[-1] += "\n" + _indent("\n\n".join(nested), "  ")
                continue
            marker = f"{number}. " if ordered else "- "
            number += 1
            content = self.blocks(child)
            body = "\n\n".join(content) if content else ""
            tight = "\n".join(content) if all(not c.startswith(("```", "~~~")) and "\n\n" not in c for c in content) \
                and len(content) > 1 and all(b.lstrip().startswith(("- ", "1. ")) or i == 0 for i, b in enumerate(content)) \
                else body
            items.append(marker + _indent(tight, " " * len(marker), first=False))
        return ["\n".join(items)] if items else []

    def table(self, element: etree._Element) -> list[str]:
        rows = [row for row in element.iter("tr") if _nearest_table(row) is element]
        if not rows or element.xpath(".//pre") or any(t is not element for t in element.iter("table")):
            return self.blocks(element)  # a layout table: its content, block by block
        grid: list[list[str]] = []
        for row in rows:
            cells = [cell for cell in row if _tag(cell) in ("td", "th")]
            grid.append([_cell(_clean_inline(" ".join(self.blocks(cell))).replace("\n", " ")) for cell in cells])
        width = max(len(r) for r in grid)
        if width == 0:
            return []
        grid = [r + [""] * (width - len(r)) for r in grid]
        header, body = grid[0], grid[1:]
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * width) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        caption = element.find("caption")
        result = ["\n".join(lines)]
        if caption is not None:
            text = self.paragraph(caption)
            if text:
                result.insert(0, f"*{text}*")
        return result

    def definition_list(self, element: etree._Element) -> list[str]:
        out: list[str] = []
        for child in element:
            tag = _tag(child)
            if tag == "dt":
                if _is_signature(child, element):
                    text = _SPACES.sub(" ", "".join(_visible_text(child))).strip()
                    if text:
                        out.append(_inline_code(text))
                else:
                    text = _clean_inline(self.inline(child)).replace("\n", " ").strip()
                    if text:
                        out.append(f"**{text.rstrip(':')}**" if not text.startswith("**") else text)
            elif tag == "dd":
                content = self.blocks(child)
                if not content:
                    continue
                if out and not content[0].startswith(("```", "- ", "|", ">", "#")) \
                        and not out[-1].startswith("`") and not re.match(r"^\d+\. ", content[0]):
                    out[-1] += "\n: " + _indent(content.pop(0), "  ", first=False)
                out.extend(content)
            else:
                out.extend(self.block(child))
        return out

    def tabs(self, element: etree._Element) -> list[str] | None:
        """A set of tabs (MkDocs-Material, sphinx-tabs, sphinx-design, Docusaurus, ARIA): every
        panel, each under its label."""
        classes = _classes(element)
        labels: list[str] = []
        panels: list[etree._Element] = []
        if "tabbed-set" in classes:
            label_box = element.find("div[@class='tabbed-labels']")
            if label_box is None:
                label_box = next((c for c in element if "tabbed-labels" in _classes(c)), None)
            labels = [" ".join("".join(label.itertext()).split())
                      for label in (label_box if label_box is not None else element).iter("label")]
            content = next((c for c in element if "tabbed-content" in _classes(c)), None)
            if content is not None and any("tabbed-block" in _classes(c) for c in content):
                panels = [c for c in content if "tabbed-block" in _classes(c)]
            else:
                panels = [c for c in element if "tabbed-content" in _classes(c)]
        elif "sd-tab-set" in classes:
            labels = [" ".join("".join(label.itertext()).split()) for label in element
                      if "sd-tab-label" in _classes(label)]
            panels = [c for c in element if "sd-tab-content" in _classes(c)]
        else:
            tablist = None
            for child in element:
                if child.get("role") == "tablist":
                    tablist = child
                    break
            if tablist is None:
                return None
            labels = [" ".join("".join(t.itertext()).split()) for t in tablist.iter() if t.get("role") == "tab"]
            panels = [p for p in element.iter() if p.get("role") == "tabpanel" and p is not element]
            panels = [p for p in panels if not any(a in panels for a in p.iterancestors())]
        if not panels:
            return None
        out: list[str] = []
        for index, panel in enumerate(panels):
            label = labels[index] if index < len(labels) and labels[index] else f"Tab {index + 1}"
            out.append(f"**{_escape(label)}**")
            saved = panel.attrib.pop("hidden", None)
            out.extend(self.blocks(panel))
            if saved is not None:
                panel.set("hidden", saved)
        return out

    @staticmethod
    def _is_admonition(element: etree._Element) -> bool:
        classes = _classes(element)
        if "admonition" in classes or "theme-admonition" in classes or "callout" in classes:
            return True
        return _tag(element) in ("div", "aside") and any(c in ("versionadded", "versionchanged", "deprecated",
                                                                "versionremoved") for c in classes) \
            or (_tag(element) == "div" and "note" in classes and "admonition-title" in
                " ".join(c.get("class") or "" for c in element))

    def admonition(self, element: etree._Element) -> list[str]:
        label_element = None
        for css in _LABEL_SELECTORS:
            found = selector(css)(element)
            if found:
                label_element = found[0]
                break
        label = ""
        if label_element is not None:
            label = " ".join("".join(label_element.itertext()).split()).rstrip(":. ").strip()
            remove(label_element)  # the tree is converted once: the label is taken out of it
        if not label:
            kinds = [c for c in _classes(element) if c.lower() in ADMONITION_TYPES or
                     c.startswith("theme-admonition-")]
            kind = kinds[-1].replace("theme-admonition-", "") if kinds else "Note"
            label = {"seealso": "See also", "versionadded": "Added", "versionchanged": "Changed"}.get(kind, kind)
        label = label[:1].upper() + label[1:]
        text = "\n\n".join(self.blocks(element))
        head = f"**{_escape(label)}:**"
        if text and not text.startswith(("```", "~~~", "- ", "|", "#", ">")) and not re.match(r"^\d+\. ", text):
            return [_quote(f"{head} {text.lstrip()}")]
        return [_quote(f"{head}\n\n{text}".rstrip())]


def _nearest_table(row: etree._Element) -> etree._Element | None:
    for ancestor in row.iterancestors():
        if _tag(ancestor) == "table":
            return ancestor
    return None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").strip()


def _visible_text(element: etree._Element) -> list[str]:
    out: list[str] = []
    if element.text:
        out.append(element.text)
    for child in element:
        classes = _classes(child)
        if _tag(child) not in SKIP_TAGS and not {"headerlink", "hash-link", "viewcode-link"}.intersection(classes):
            out.extend(_visible_text(child))
        if child.tail:
            out.append(child.tail)
    return out


def _is_signature(dt: etree._Element, dl: etree._Element) -> bool:
    """An API signature: Sphinx `dt.sig`, a `dl` of a Sphinx domain object (`dl.py.function`),
    Javadoc-like `dt > code`."""
    classes = _classes(dt)
    if "sig" in classes or "sig-object" in classes:
        return True
    dl_classes = _classes(dl)
    if any(c in ("py", "c", "cpp", "js", "rst", "std", "function", "method", "class") for c in dl_classes) \
            and "field-list" not in dl_classes and "simple" not in dl_classes:
        return bool(dt.get("id"))
    return False


def _wrap(inner: str, marker: str) -> str:
    stripped = inner.strip()
    if not stripped:
        return inner
    lead = inner[: len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()):]
    return f"{lead}{marker}{stripped}{marker}{trail}"


def _link_target(href: str) -> str:
    href = href.replace(" ", "%20")
    return f"<{href}>" if "(" in href or ")" in href else href


def _collapsed(line: str) -> str:
    """`_SPACES.sub(" ", line).strip()`, three times faster where it is the same: str.split()
    splits on ASCII's whitespace and also on \\x1c-\\x1f and non-ASCII spaces (a no-break space
    stays as it is in Markdown), so those lines take the pattern."""
    if line.isascii() and "\x1c" not in line and "\x1d" not in line and "\x1e" not in line and "\x1f" not in line:
        return " ".join(line.split())
    return _SPACES.sub(" ", line).strip()


def _clean_inline(text: str) -> str:
    """Whitespace collapsed line by line (hard breaks kept), a line that would read as a block
    marker escaped."""
    lines = []
    for line in text.split("  \n"):
        collapsed = _collapsed(line)
        if collapsed:
            start = _LINE_START.match(collapsed)
            if start:
                collapsed = start.group(1) + "\\" + collapsed[start.start(2):]
            lines.append(collapsed)
    return "  \n".join(lines)


def _indent(text: str, prefix: str, first: bool = True) -> str:
    lines = text.split("\n")
    return "\n".join((prefix + line if line and (i > 0 or first) else line) for i, line in enumerate(lines))


def _quote(text: str) -> str:
    return "\n".join(("> " + line) if line else ">" for line in text.strip().split("\n"))


def convert(element: etree._Element, page_url: str) -> str:
    """Markdown of a content subtree."""
    blocks = Converter(page_url).blocks(element)
    return "\n\n".join(b for b in blocks if b.strip()).strip()


# ---- protecting code blocks for trafilatura ------------------------------------------------

PLACEHOLDER = "cdxblk{}qz"
_PLACEHOLDER = re.compile(r"cdxblk(\d+)qz")


def protect_code(root: etree._Element) -> list[str]:
    """Replace every <pre> with a paragraph holding a placeholder word; the fenced blocks, in order."""
    blocks: list[str] = []
    for pre in list(root.iter("pre")):
        if pre.getparent() is None or any(_tag(a) == "pre" for a in pre.iterancestors()):
            continue
        if any(_tag(a) in ("nav", "header", "footer", "aside") for a in pre.iterancestors()):
            continue
        if _is_gutter(pre) or any(_is_gutter(a) for a in pre.iterancestors()):
            remove(pre)
            continue
        code = code_text(pre)
        if not code.strip():
            continue
        marker = lxml.html.Element("p")
        marker.text = PLACEHOLDER.format(len(blocks))
        blocks.append(fence(code, code_language(pre)))
        marker.tail = pre.tail
        pre.getparent().replace(pre, marker)
    return blocks


def restore_code(markdown: str, blocks: list[str]) -> str:
    """Each placeholder back as its fenced block, on lines of its own (a placeholder trafilatura
    put inside a line of text or a list item splits it)."""
    if not blocks:
        return markdown
    # A block whose placeholder trafilatura dropped with its surroundings (it judges some
    # wrappers, e.g. gtk-doc's div.informalexample, to be boilerplate) goes just before the next
    # block that survived (or at the end), so no code of the page is lost and the order is kept.
    # (Code in nav, header, footer and aside was not protected: it is not the page's content.)
    present = [int(n) for n in _PLACEHOLDER.findall(markdown) if int(n) < len(blocks)]
    if present and len(set(present)) < len(blocks):
        seen = set(present)
        pending: list[int] = []
        carried: dict[int, list[int]] = {}
        for number in range(len(blocks)):
            if number in seen:
                carried[number] = pending
                pending = []
            else:
                pending.append(number)
        trailing = pending
    else:  # all there, or none (trafilatura dropped every one: the page's code still goes in)
        carried, trailing = {}, ([] if present else list(range(len(blocks))))
    out: list[str] = []
    for line in markdown.split("\n"):
        if not _PLACEHOLDER.search(line):
            out.append(line)
            continue
        pieces = _PLACEHOLDER.split(line)
        for index, piece in enumerate(pieces):
            if index % 2 == 0:
                text = piece.strip()
                if text and text not in ("-", "*", ">", "|") and not re.fullmatch(r"\d+\.", text):
                    out.append(piece.rstrip() if index == 0 else text)
            else:
                number = int(piece)
                if number < len(blocks):
                    for earlier in carried.pop(number, []):
                        out.extend(["", blocks[earlier], ""])
                    out.extend(["", blocks[number], ""])
    for number in trailing:
        out.extend(["", blocks[number], ""])
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out))
