"""A stored page's Markdown as sections (by its headings) and as plain text, and cutting text on
paragraph, line or word boundaries: what search indexes and what the MCP tools hand out.

A section runs from one heading to the next heading of any level (the text before the first
heading is a section with an empty heading). Each carries its heading path ("Configuration ›
Environment variables": the headings it sits under, then its own), an anchor (the heading's own id
on the site when the page's HTML gave it one, recorded by the crawl in the manifest's
`heading_ids`; else its heading as a URL fragment: `Environment variables` →
`environment-variables`) and where it starts and ends in the page's Markdown, so a section can be
read back from the page by offsets.

Plain text is what the index stores and what snippets are made of: link targets, image
references, heading marks, emphasis, code fences and table pipes are gone, so a highlighted word
can never land in a URL or in Markdown syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PATH_SEPARATOR = " › "
MAX_SECTIONS = 400  # more headings than this in one page: the rest stay in the last section
MAX_HEADING_CHARS = 200

_PERMALINK_MARKS = " ¶§🔗"  # what a heading's permalink leaves at its end when the extraction keeps it
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_MAY_OPEN = (" ", "#", "`", "~")  # the first character of a line that may be a heading or a fence


@dataclass
class Section:
    heading: str  # '' for the text before the first heading
    path: tuple[str, ...]  # the headings it sits under, then its own
    anchor: str
    start: int  # offsets in the page's Markdown: [start, end)
    end: int

    @property
    def heading_path(self) -> str:
        return PATH_SEPARATOR.join(self.path)


_IMAGE = re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)")
_LINK = re.compile(r"\[([^\]\n]*)\]\((?:[^()\n]|\([^()\n]*\))*\)")
_REF_LINK = re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_EMPHASIS = re.compile(r"(\*\*|__|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])|`+|~~)")
_EMPHASIS_CHARS = re.compile(r"[*_`~]")
_RULE_START = frozenset("-*_=|:")  # a rule's or a table rule's first character
_LIST_START = frozenset("-*+")
_LIST_MARK = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+")
_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_RULE = re.compile(r"^\s*(?:[-*_=]\s*){3,}$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


def inline_plain(text: str) -> str:
    """One line of Markdown without its syntax: links become their text, images their alt text."""
    if "[" in text:  # (each pattern is tried only where its first character is: most lines have none)
        if "![" in text:
            text = _IMAGE.sub(r"\1", text)
        text = _LINK.sub(r"\1", text)
        text = _REF_LINK.sub(r"\1", text)
    if "<" in text:
        text = _AUTOLINK.sub(r"\1", text)
    if _EMPHASIS_CHARS.search(text):
        text = _EMPHASIS.sub("", text)
    return text.replace("\\", "") if "\\" in text else text


def anchor_of(heading: str) -> str:
    """A heading as the fragment most generators give it: lower case, words joined by '-'."""
    words = re.findall(r"[\w.]+", inline_plain(heading).lower())
    return "-".join(word.strip(".") for word in words if word.strip("."))[:MAX_HEADING_CHARS]


def _loose(value: str) -> str:
    """For comparing anchors and headings: letters and digits only (`add_global_arguments()`,
    `add-global-arguments`, `Add global arguments` all compare equal)."""
    return re.sub(r"[\W_]+", "", value.lower())


def split_sections(markdown: str) -> list[Section]:
    """The page's sections in order; together they cover the whole text."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    in_fence = False
    position = 0
    current = Section("", (), "", 0, 0)
    for line in markdown.splitlines(keepends=True):
        if line[:1] not in _MAY_OPEN:  # neither a fence nor a heading can start otherwise
            position += len(line)
            continue
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and len(sections) < MAX_SECTIONS:
            match = _HEADING.match(line.rstrip("\r\n"))
            if match:
                level = len(match.group(1))
                heading = " ".join(inline_plain(match.group(2)).split()).rstrip(_PERMALINK_MARKS)[:MAX_HEADING_CHARS]
                if heading:
                    current.end = position
                    if current.end > current.start or current.heading:
                        sections.append(current)
                    while stack and stack[-1][0] >= level:
                        stack.pop()
                    stack.append((level, heading))
                    current = Section(heading, tuple(name for _, name in stack), anchor_of(heading), position, 0)
        position += len(line)
    current.end = len(markdown)
    if current.end > current.start or current.heading or not sections:
        sections.append(current)
    return sections


def use_site_anchors(sections: list[Section], heading_ids: object) -> None:
    """Give each section whose heading the page's HTML gave an id (the manifest's `heading_ids`:
    [text, id] pairs in page order) that id as its anchor, so a link copied from the site
    (`…#add_global_arguments`, Sphinx's `#install`) names it. Headings are paired in order by their
    words (letters and digits), skipping those the extraction dropped; the rest keep their slug."""
    if not isinstance(heading_ids, list) or not heading_ids:
        return
    pairs = [(_loose(pair[0]), pair[1]) for pair in heading_ids
             if isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)
             and pair[1].isprintable() and "#" not in pair[1] and not any(c.isspace() for c in pair[1])]
    position = 0
    for section in sections:
        if not section.heading or position >= len(pairs):
            continue
        key = _loose(section.heading)
        for number in range(position, len(pairs)):
            if pairs[number][0] == key:
                section.anchor = pairs[number][1][:MAX_HEADING_CHARS]
                position = number + 1
                break


MAX_DEFINITION_SECTIONS = 1000


def _same_term(term: str, line: str) -> bool:
    """Whether a line (letters and digits only) reads as a definition term: the same words, or the
    same first 60 (a long signature the manifest cut at 120 characters), or one the other with a
    few more at its end (a `[source]` link the extraction dropped)."""
    if term == line or (len(term) >= 60 and term[:60] == line[:60]):
        return True
    short, long = sorted((term, line), key=len)
    return long.startswith(short) and len(short) >= 0.75 * len(long)


def split_definitions(markdown: str, sections: list[Section], definition_ids: object) -> list[Section]:
    """The sections with each definition term the page's HTML gave an id (the manifest's
    `definition_ids`: [term text, id] pairs of `<dt id=…>`, in page order) starting a section of
    its own: from the line that reads as the term to the next term or heading, under the heading
    it sits in (`Options for HTML output › html_css_files`), its anchor the site's id
    (`confval-html_css_files`). Terms are paired in order by their words, skipping those the
    extraction dropped; a page without such terms keeps its sections as they are."""
    if not isinstance(definition_ids, list) or not definition_ids:
        return sections
    pairs = [(_loose(pair[0]), pair[0], pair[1]) for pair in definition_ids[:MAX_DEFINITION_SECTIONS]
             if isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)
             and pair[1].isprintable() and "#" not in pair[1] and not any(c.isspace() for c in pair[1])]
    pairs = [pair for pair in pairs if pair[0]]
    if not pairs:
        return sections
    starts: list[tuple[int, str, str]] = []  # (offset, term, id)
    number = 0
    in_fence = False
    position = 0
    for line in markdown.splitlines(keepends=True):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and number < len(pairs) and line.strip() and not _HEADING.match(line):
            key = _loose(inline_plain(line))
            if key:
                for candidate in range(number, min(number + 20, len(pairs))):
                    if _same_term(pairs[candidate][0], key):
                        starts.append((position, pairs[candidate][1], pairs[candidate][2]))
                        number = candidate + 1
                        break
        position += len(line)
    if not starts:
        return sections
    result: list[Section] = []
    queue = list(starts)
    for section in sections:
        current = section
        while queue and queue[0][0] < current.start:
            queue.pop(0)  # a term the heading split already passed
        while queue and current.start <= queue[0][0] < section.end:
            offset, term, anchor = queue.pop(0)
            name = " ".join(term.split()).rstrip(_PERMALINK_MARKS)[:MAX_HEADING_CHARS]
            if offset > current.start:
                result.append(Section(current.heading, current.path, current.anchor, current.start, offset))
            current = Section(name, (*section.path, name), anchor[:MAX_HEADING_CHARS], offset, section.end)
        result.append(Section(current.heading, current.path, current.anchor, current.start, section.end))
    return result


def find_section(sections: list[Section], wanted: str) -> Section | None:
    """The section a caller named: its anchor, its heading, or its heading path (or the end of
    one: `Environment variables`, `Configuration › Environment variables`, `configuration/environment-variables`)."""
    wanted = (wanted or "").strip().lstrip("#")
    if not wanted:
        return None
    key = _loose(wanted)
    if not key:
        return None
    for section in sections:  # exact anchor or heading first
        if section.anchor and (section.anchor == wanted or _loose(section.anchor) == key):
            return section
    for section in sections:
        if section.path and _loose("".join(section.path)).endswith(key):
            parts = [_loose(part) for part in re.split(r"\s*(?:›|>|/)\s*", wanted) if _loose(part)]
            if parts and [_loose(p) for p in section.path[-len(parts):]] == parts:
                return section
    for section in sections:
        if section.heading and _loose(section.heading) == key:
            return section
    return None


def plain_text(markdown: str) -> str:
    """The page's text without Markdown syntax (raw HTML stays as text, as the reader shows it), paragraphs kept apart by blank lines."""
    out: list[str] = []
    in_fence = False
    for line in markdown.splitlines():
        if line[:1].isalpha():  # a line of prose: no block syntax starts with a letter
            out.append(line.rstrip() if in_fence else inline_plain(line).rstrip())
            continue
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            out.append(line.rstrip())
            continue
        first = line.lstrip()[:1]  # (each pattern below is tried only where its first character is)
        if first in _RULE_START and (_RULE.match(line) or _TABLE_RULE.match(line)):
            out.append("")
            continue
        heading = _HEADING.match(line) if first == "#" else None
        if heading:
            out.append(inline_plain(heading.group(2)).strip())
            continue
        if first == ">":
            quote = _QUOTE.match(line)
            if quote:
                line = line[quote.end():]
            first = line.lstrip()[:1]
        if first in _LIST_START or first.isdigit():
            mark = _LIST_MARK.match(line)
            if mark:
                line = mark.group(1) + line[mark.end():]
        if "|" in line and line.strip().startswith("|"):
            line = " ".join(cell.strip() for cell in line.strip().strip("|").split("|"))
        out.append(inline_plain(line).rstrip())
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def cut(text: str, start: int, limit: int) -> int:
    """Where a piece of `text` that starts at `start` and holds at most `limit` characters should
    end: at the last paragraph break, else line break, else space in its second half; mid-word
    only when a single word is longer than that."""
    end = start + limit
    if end >= len(text):
        return len(text)
    floor = start + limit // 2
    for separator in ("\n\n", "\n", " "):
        at = text.rfind(separator, floor, end)
        if at > start:
            return at + len(separator)
    return end
