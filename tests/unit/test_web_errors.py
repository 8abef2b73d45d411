"""What the server answers when it refuses: every error on /api/* and /mcp is `{"error": ...}`
JSON (docs/events.md "REST"), GET /mcp answers at once, and a download's file name can hold any
host name without breaking its Content-Disposition header. Real server, real requests."""

from __future__ import annotations

import pytest
from werkzeug.http import parse_options_header

from crawler.web.routes import attachment

ODD_NAMES = ['a"b;c.invalid-20000101-000000-abcdef.zip', "bücher.example-1.md", "x\r\nSet-Cookie: a=b.jsonl",
             "back\\slash.zip", "semi;colon.md"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_the_attachment_header_carries_any_name_safely(name):
    value = attachment(name)["Content-Disposition"]
    assert all(32 <= ord(c) < 127 for c in value), value
    kind, options = parse_options_header(value)
    assert kind == "attachment"
    fallback = value.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback and all(c.isalnum() or c in "._-" for c in fallback), value
    expected = name.replace("\r", "_").replace("\n", "_").replace("\\", "_")
    assert options["filename"] == expected  # werkzeug prefers filename* (RFC 5987), decoded
    assert attachment("127.0.0.1-x.zip")["Content-Disposition"] == 'attachment; filename="127.0.0.1-x.zip"'
