"""The crawl folder's one safety rule: a page path from a manifest never leads outside pages/."""

from __future__ import annotations

import json
import os

import pytest

from crawler.folder.reader import page_file, read_page, saved_page_files


@pytest.fixture
def folder(tmp_path):
    crawl = tmp_path / "20260101-000000-abcdef"
    (crawl / "pages" / "docs").mkdir(parents=True)
    (crawl / "pages" / "docs" / "a.md").write_text("# A\n\nSource: <http://x/a>\n\nbody of a\n")
    (tmp_path / "secret.md").write_text("outside")
    os.symlink(tmp_path / "secret.md", crawl / "pages" / "link.md")
    return crawl


@pytest.mark.parametrize("relative", ["../secret.md", "pages/../../secret.md", "/etc/passwd", "pages",
                                      "pages/", "pages/link.md", "", None, 7, "config.json"])
def test_a_path_that_leaves_pages_is_refused(folder, relative):
    assert page_file(folder, relative) is None
    assert read_page(folder, relative) is None


def test_a_path_inside_pages_is_read_without_its_stored_header(folder):
    assert page_file(folder, "pages/docs/a.md") == (folder / "pages" / "docs" / "a.md").resolve()
    assert read_page(folder, "pages/docs/a.md") == "body of a"
    assert read_page(folder, "pages/docs/a.md", body=False).startswith("# A\n\nSource: <http://x/a>")


def test_saved_page_files_skip_escapes_repeats_and_missing_files(folder):
    lines = [{"url": "http://x/a", "status": "ok", "path": "pages/docs/a.md"},
             {"url": "http://x/a2", "status": "ok", "path": "pages/docs/a.md"},
             {"url": "http://x/s", "status": "ok", "path": "../secret.md"},
             {"url": "http://x/l", "status": "ok", "path": "pages/link.md"},
             {"url": "http://x/gone", "status": "ok", "path": "pages/gone.md"},
             {"url": "http://x/f", "status": "failed"}]
    (folder / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert [entry["url"] for entry, _ in saved_page_files(folder)] == ["http://x/a"]
