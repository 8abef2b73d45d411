"""A stored page's Markdown as sections (by its headings) and as plain text, and cutting text on
paragraph, line or word boundaries: what search indexes and what the MCP tools hand out.

A section runs from one heading to the next heading of any level (the text before the first
heading is a section with an empty heading). Each carries its heading path ("Configuration ›
Environment variables": the headings it sits under, then its own), an anchor (its heading as a
URL fragment: `Environment variables` → `environment-variables`) and where it starts and ends in
the page's Markdown, so a section can be read back from the page by offsets.

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
                heading = " ".join(inline_plain(match.group(2)).split())[:MAX_HEADING_CHARS]
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
