"""Reads the field names docs/events.md documents, section by section, so tests can compare them
with what the engine and the server really send: both ways, field by field."""

from __future__ import annotations

import json
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def text() -> str:
    return DOC.read_text(encoding="utf-8")


def event_section(event: str) -> str:
    """The text under the '### `event`' heading, up to the next heading."""
    match = re.search(rf"^### `{re.escape(event)}`\n(.*?)(?=^#{{2,3}} )", text(), re.S | re.M)
    assert match, f"docs/events.md has no section for {event}"
    return match.group(1)


def table_fields(section: str) -> set[str]:
    """Names in the first column of the section's table (a row may name several: `ok`, `failed`)."""
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return names


def json_examples(section: str) -> list[dict]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.S)]


def rest_fields(route: str) -> set[str]:
    """The quoted names of the first {...} in the REST table row of `route` (e.g. GET /api/crawls/<id>)."""
    row = next(line for line in text().splitlines() if line.startswith(f"| `{route}` |"))
    braces = re.search(r"\{([^{}]*)\}", row)
    assert braces, f"the row of {route} lists no fields"
    return set(re.findall(r'"([a-z_]+)"', braces.group(1)))


def list_row_fields() -> set[str]:
    paragraph = re.search(r"^A summary row \(list\) holds (.*?)\n\n", text(), re.S | re.M)
    assert paragraph, "docs/events.md does not describe a list row"
    return set(re.findall(r"`([a-z_]+)`", paragraph.group(1))) - {"crawl", "discovery", "null"}


def _top_level_keys(source: str) -> set[str]:
    """The keys of the first {...} in `source` at its own level (nested objects skipped)."""
    start = source.index("{")
    depth, keys, i = 0, set(), start
    while i < len(source):
        char = source[i]
        if char == '"':
            end = source.index('"', i + 1)
            if depth == 1 and source[end + 1:].lstrip().startswith(":"):
                keys.add(source[i + 1:end])
            i = end + 1
            continue
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return keys
        i += 1
    raise AssertionError("an object in docs/events.md is not closed")


def rest_answer_fields(route: str) -> set[str]:
    """The top-level keys of the answer documented in the REST table row of `route`."""
    row = next(line for line in text().splitlines() if line.startswith(f"| `{route}` |"))
    return _top_level_keys(row.split("|")[2])


def socket_ack_fields(event: str) -> set[str]:
    """The top-level keys of the acknowledgement documented for a client event (its third column)."""
    row = next(line for line in text().splitlines() if line.startswith(f"| `{event}` |"))
    return _top_level_keys(row.split("|")[3])


def example_fields(first_line: str) -> tuple[set[str], str]:
    """The top-level keys of the documented example that starts with `first_line`, and its text."""
    at = text().index(first_line)
    block = text()[at:text().index("```", at)]
    return _top_level_keys(block), block
