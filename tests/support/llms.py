"""What every llms.txt must be: the format llmstxt.org describes, checked line by line."""

from __future__ import annotations

import re
from typing import Any

LINK_ITEM = re.compile(r"^- \[(?P<title>[^\[\]\n]+)\]\((?P<url>[^()\s]+)\)(?:: (?P<description>\S.*))?$")


def check_llms_txt(text: str) -> dict[str, Any]:
    """Parse `text` strictly by the format's rules; AssertionError naming the first rule broken.

    An H1 first and no other; one blockquote right after it (blank lines aside) and none later;
    then optional text with no headings; then H2 sections whose every non-blank line is a
    `- [title](url)` or `- [title](url): description` item; `## Optional`, if present, last.
    """
    lines = text.split("\n")
    assert lines and lines[0].startswith("# ") and lines[0][2:].strip(), "the first line must be the H1"
    h1s = [line for line in lines if line.startswith("# ")]
    assert len(h1s) == 1, f"exactly one H1, found {len(h1s)}"
    position = 1
    while position < len(lines) and not lines[position].strip():
        position += 1
    quote: list[str] = []
    while position < len(lines) and lines[position].startswith(">"):
        quote.append(lines[position].lstrip(">").strip())
        position += 1
    assert quote and all(quote), "a blockquote summary must follow the H1"
    rest = lines[position:]
    assert not any(line.startswith(">") for line in rest), "only one blockquote, right after the H1"
    info: list[str] = []
    sections: dict[str, list[dict[str, str | None]]] = {}
    current: str | None = None
    for line in rest:
        if line.startswith("#"):
            assert line.startswith("## ") and line[3:].strip(), f"only H2 headings after the H1: {line!r}"
            name = line[3:].strip()
            assert name not in sections, f"section {name!r} twice"
            assert "Optional" not in sections, "## Optional must be the last section"
            sections[name] = []
            current = name
        elif current is None:
            info.append(line)
        elif line.strip():
            match = LINK_ITEM.match(line)
            assert match, f"not a '- [title](url): description' item in section {current!r}: {line!r}"
            sections[current].append(match.groupdict())
    assert all(sections.values()), "a section without links"
    return {"title": lines[0][2:].strip(), "summary": " ".join(quote), "info": "\n".join(info).strip(),
            "sections": sections}
