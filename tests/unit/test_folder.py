"""The crawl folder's one safety rule: a page path from a manifest never leads outside pages/."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from crawler.folder.paths import crawl_folder, is_crawl_id, page_file, site_file
from crawler.folder.reader import read_page, saved_page_files, site_files
from crawler.folder.writer import CrawlStore


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


def test_a_folder_link_inside_pages_is_followed_only_where_it_stays_inside(folder, tmp_path):
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "x.md").write_text("not ours")
    os.symlink(outside, folder / "pages" / "away")
    os.symlink(folder / "pages" / "docs", folder / "pages" / "alias")
    assert page_file(folder, "pages/away/deep/x.md") is None
    assert page_file(folder, "pages/away/new/y.md") is None  # a file still to be written, through the link
    assert page_file(folder, "pages/alias/a.md") == (folder / "pages" / "docs" / "a.md").resolve()
    assert page_file(folder, "pages/docs/not/yet/written.md") == (folder / "pages" / "docs" / "not" / "yet" /
                                                                  "written.md").resolve()
    assert page_file(folder, "pages/docs//a.md") == (folder / "pages" / "docs" / "a.md").resolve()


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


@pytest.mark.parametrize("value", ["20261123-184012-a1b2c3"])
def test_a_well_formed_crawl_id_names_its_folder(tmp_path, value):
    assert is_crawl_id(value)
    assert crawl_folder(tmp_path, value) == tmp_path / value


@pytest.mark.parametrize("value", ["../escape-crawl", "20261123-184012-a1b2c3\n", "/tmp/x", "20261123-184012-A1B2C3",
                                   "20261123-184012-a1b2c3/..", "", None, 42, ["20261123-184012-a1b2c3"]])
def test_anything_else_is_no_crawl_id_and_names_no_folder(tmp_path, value):
    assert not is_crawl_id(value)
    with pytest.raises(ValueError, match="not a crawl id"):
        crawl_folder(tmp_path, value)


def test_a_crawl_folder_that_links_out_of_the_data_directory_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    data = tmp_path / "data"
    data.mkdir()
    os.symlink(tmp_path / "elsewhere", data / "20261123-184012-a1b2c3")
    with pytest.raises(ValueError, match="outside the data directory"):
        crawl_folder(data, "20261123-184012-a1b2c3")


def test_the_sites_files_for_models_have_fixed_names_only(tmp_path: Path):
    """`site/` holds the site's llms.txt and llms-full.txt: no other name, no path, ever names a file there."""
    store = CrawlStore(tmp_path / "20261202-120000-abcdef")
    store.open()
    for name in ("../escape.txt", "/etc/passwd", "llms.txt/../../x", "", None, "robots.txt"):
        assert site_file(tmp_path, name) is None
        with pytest.raises(ValueError):
            store.save_site_file(name, b"x", url="http://x.org/", truncated=False, fetched_at="")  # type: ignore[arg-type]
    store.save_site_file("llms.txt", b"# Site\n", url="http://x.org/llms.txt", truncated=False, fetched_at="t")
    store.close()
    assert not (tmp_path / "escape.txt").exists()
    kept = site_files(tmp_path / "20261202-120000-abcdef")
    assert set(kept) == {"llms.txt"} and kept["llms.txt"]["url"] == "http://x.org/llms.txt" and kept["llms.txt"]["bytes"] == 7
