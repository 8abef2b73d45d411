"""Checking rendered HTML: every element and attribute of a piece of it, and that it is inert."""

from __future__ import annotations

from html.parser import HTMLParser


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
