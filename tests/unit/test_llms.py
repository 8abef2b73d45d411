"""llms.txt and llms-full.txt: the format's rules, every stored page once, the Optional section,
the size report, and the two download formats of the real server."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from crawler.engine.config import parse_crawl_config
from crawler.engine.controller import CrawlController
from crawler.engine.cpu import CpuPool, analyze_page
from crawler.engine.events import RecordingSink
from crawler.engine.extract import page_document
from crawler.folder.reader import iter_manifest
from crawler.folder.writer import CrawlStore, write_json
from crawler.outputs.llms import (
    LLMS_FULL_TXT,
    LLMS_REPORT,
    LLMS_TXT,
    build_index,
    current_file,
    estimate_tokens,
    first_sentence,
    is_optional,
    iter_llms_full_text,
    render_llms_txt,
    size_report,
    write_llms_files,
)
from tests.support.llms import check_llms_txt
from tests.support.site import (
    HISTORY_PAGES,
    SITE_NAME,
    DocSite,
    SiteOptions,
    page_description,
    render_page,
)

# ---- a checker of the llms.txt format (llmstxt.org) --------------------------------------------





def all_links(parsed: dict[str, Any]) -> list[str]:
    return [item["url"] for items in parsed["sections"].values() for item in items]


VALID = """# Site

> What the site is.

Some notes.

## Guide

- [Intro](https://x.org/intro): How to start.
- [Install](https://x.org/install)

## Optional

- [Changelog](https://x.org/changelog)
"""


def test_the_checker_accepts_a_valid_file():
    parsed = check_llms_txt(VALID)
    assert parsed["title"] == "Site" and parsed["summary"] == "What the site is." and parsed["info"] == "Some notes."
    assert list(parsed["sections"]) == ["Guide", "Optional"]
    assert parsed["sections"]["Guide"][0] == {"title": "Intro", "url": "https://x.org/intro",
                                              "description": "How to start."}


@pytest.mark.parametrize("broken", [
    "\n" + VALID,  # H1 not first
    VALID.replace("## Guide", "# Guide"),  # a second H1
    VALID.replace("> What the site is.\n", ""),  # no blockquote
    VALID.replace("Some notes.", "> A second quote."),  # a blockquote later
    VALID.replace("## Optional\n\n- [Changelog](https://x.org/changelog)\n", "")
         + "## Optional\n\n- [C](https://x.org/c)\n\n## After\n\n- [A](https://x.org/a)\n",  # Optional not last
    VALID.replace("- [Install](https://x.org/install)", "Install it from https://x.org/install"),  # not an item
    VALID.replace("- [Install](https://x.org/install)", "- [Install](https://x.org/a b)"),  # space in the URL
    VALID.replace("- [Install](https://x.org/install)", "- [Install [x]](https://x.org/install)"),  # brackets
    VALID.replace("## Guide", "### Guide"),  # not an H2
    VALID + "\n## Guide\n\n- [Again](https://x.org/again)\n",  # a section twice
])
def test_the_checker_rejects_each_broken_rule(broken):
    with pytest.raises(AssertionError):
        check_llms_txt(broken)


# ---- a real crawl of the local doc site, through the engine -----------------------------------


def crawl(crawl_dir: Path, cpu: CpuPool, **options: Any) -> DocSite:
    site = DocSite(SiteOptions(**options)).start()
    try:
        config = parse_crawl_config({"url": site.url(0), "concurrency": 4})
        controller = CrawlController("c1", config, CrawlStore(crawl_dir), RecordingSink(), threading.Event(), cpu)
        summary = controller.run()
        assert summary["state"] == "completed", summary
    finally:
        site.stop()
    return site


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory, cpu: CpuPool) -> tuple[Path, DocSite, dict[str, Any]]:
    """A crawl with a changelog, release notes and a blog post, print copies declaring a
    canonical URL, a PDF, a broken link and a link out of scope; then its llms files. Page 1 is
    slow, so it is saved after pages found later: the manifest's order is not discovery order."""
    folder = tmp_path_factory.mktemp("llms-crawl")
    site = crawl(folder, cpu, pages=25, history_pages=True, canonical_copies=2, slow_pages={1: 0.5})
    totals = write_llms_files(folder)
    report = json.loads((folder / LLMS_REPORT).read_text())
    assert totals == {key: value for key, value in report.items() if key != "pages"}, "all but the pages' list"
    return folder, site, report


def stored(folder: Path) -> list[dict[str, Any]]:
    return [e for e in iter_manifest(folder) if e["status"] == "ok"]


def listed_url(entry: dict[str, Any]) -> str:
    return entry.get("canonical") or entry["url"]


def test_llms_txt_of_a_real_crawl_follows_the_format_and_lists_every_page_once(crawled):
    folder, site, _ = crawled
    parsed = check_llms_txt((folder / LLMS_TXT).read_text(encoding="utf-8"))
    pages = stored(folder)
    assert len(pages) == 25 + len(HISTORY_PAGES)
    links = all_links(parsed)
    assert sorted(links) == sorted(listed_url(e) for e in pages), "every stored page once, nothing else"
    assert parsed["title"] == SITE_NAME, "the suffix every page title shares"
    # The start page has no meta description here: its first sentence is the summary.
    assert parsed["summary"].startswith("This section explains how the configuration loader")
    assert parsed["summary"].endswith("precedence.")
    items = {item["url"]: item for items in parsed["sections"].values() for item in items}
    assert items[site.url(3)]["title"] == "Page 3", "the page's own title, the site name dropped"
    assert all(item["description"] for item in items.values()), "every page has a description"


def test_sections_follow_the_sites_folders_in_discovery_order(crawled):
    folder, site, _ = crawled
    parsed = check_llms_txt((folder / LLMS_TXT).read_text(encoding="utf-8"))
    sections = [name for name in parsed["sections"] if name != "Optional"]
    assert sections[0] == "Docs" and parsed["sections"]["Docs"][0]["url"] == site.url(0)
    discovered = [e["url"] for e in iter_manifest(folder, "discovered.jsonl")]
    folders = []
    for url in discovered:
        parts = urlsplit(url).path.split("/")
        if len(parts) > 3 and parts[2].startswith("section-") and parts[2] not in folders:
            folders.append(parts[2])
    assert sections[1:] == [f"Section {name.split('-')[1]}" for name in folders]
    saved_order = [listed_url(e) for e in stored(folder)]
    assert saved_order.index(site.url(1)) > saved_order.index(site.url(2)), "page 1 was saved late"
    assert sections[1] == "Section 1", "yet its folder comes first: it was discovered first"
    for name in sections[1:]:
        number = name.split()[1]
        urls = [item["url"] for item in parsed["sections"][name]]
        assert urls and all(f"/docs/section-{number}/" in url for url in urls)
        assert urls == sorted(urls, key=discovered.index), "pages in the order they were discovered"


def test_changelogs_release_notes_and_blog_posts_go_last_under_optional(crawled):
    folder, site, _ = crawled
    parsed = check_llms_txt((folder / LLMS_TXT).read_text(encoding="utf-8"))
    assert list(parsed["sections"])[-1] == "Optional"
    optional = [item["url"] for item in parsed["sections"]["Optional"]]
    assert sorted(optional) == sorted(site.base + path for path in HISTORY_PAGES)
    others = [url for name, items in parsed["sections"].items() if name != "Optional" for url in
              (item["url"] for item in items)]
    assert not set(others) & set(optional)


def test_llms_full_txt_holds_every_stored_page_once_in_the_same_order(crawled):
    folder, _, _ = crawled
    full = (folder / LLMS_FULL_TXT).read_text(encoding="utf-8")
    parsed = check_llms_txt((folder / LLMS_TXT).read_text(encoding="utf-8"))
    sources = re.findall(r"^Source: <([^>\n]+)>$", full, flags=re.MULTILINE)
    assert sources == all_links(parsed), "each page once, in llms.txt's order"
    for entry in stored(folder):
        assert full.count(f"Source: <{listed_url(entry)}>") == 1
        assert full.count(f"# {entry['title'].rsplit(' | ', 1)[0]}\n\nSource: <{listed_url(entry)}>") == 1
    for index in range(25):
        assert f"Paragraph 0 of page {index}." in full, "the page's own text is there"
    assert "Footer text that is not content" not in full


def test_size_report_counts_bytes_and_tokens_per_page_and_in_total(crawled):
    folder, _, report = crawled
    full = (folder / LLMS_FULL_TXT).read_bytes()
    assert json.loads((folder / LLMS_REPORT).read_text()) == report
    assert report["llms_full_txt"]["bytes"] == len(full) == sum(p["bytes"] for p in report["pages"])
    assert report["llms_full_txt"]["tokens"] == sum(p["tokens"] for p in report["pages"])
    assert abs(report["llms_full_txt"]["tokens"] - estimate_tokens(full.decode())) <= len(report["pages"])
    assert report["llms_txt"]["bytes"] == (folder / LLMS_TXT).stat().st_size
    assert report["llms_txt"]["links"] == report["llms_full_txt"]["pages"] == len(stored(folder))
    assert all(p["tokens"] > 0 and p["bytes"] > 0 for p in report["pages"])
    assert {p["url"] for p in report["pages"] if p["optional"]} == {
        p["url"] for p in report["pages"] if urlsplit(p["url"]).path in HISTORY_PAGES}
    again = size_report(folder)  # computed from the folder without writing: the same numbers
    assert {k: v for k, v in again.items() if k != "generated_at"} == {
        k: v for k, v in report.items() if k != "generated_at"}
    assert "".join(iter_llms_full_text(folder)).encode() == full


def test_writing_replaces_the_files_and_leaves_no_temporary_file(crawled):
    folder, _, _ = crawled
    before = (folder / LLMS_FULL_TXT).read_bytes()
    (folder / LLMS_TXT).write_text("stale")
    write_llms_files(folder)
    assert (folder / LLMS_FULL_TXT).read_bytes() == before
    check_llms_txt((folder / LLMS_TXT).read_text(encoding="utf-8"))
    assert not list(folder.glob(".tmp-*"))


def test_estimated_tokens():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd" * 10) == 10
    assert estimate_tokens("ab") == 1  # rounded up
    assert estimate_tokens("日本語の") == 2  # outside ASCII: half a token a character
    assert estimate_tokens("a" * 4 + "é" * 2) == 2


# ---- site name and descriptions the pages declare ----------------------------------------------


def test_pages_declare_site_name_and_description_and_the_store_keeps_them(tmp_path: Path):
    html = render_page(3, SiteOptions(site_meta=True)).encode()
    analysis = analyze_page(html, "utf-8", "http://127.0.0.1/docs/section-3/page-3.html")
    assert (analysis.site_name, analysis.description) == (SITE_NAME, page_description(3))
    plain = analyze_page(render_page(3, SiteOptions()).encode(), "utf-8", "http://127.0.0.1/x")
    assert (plain.site_name, plain.description) == (None, None)

    store = CrawlStore(tmp_path)
    store.open()
    store.save_page(url="http://a/docs/", document="# A\n", title="A", depth=0, http_status=200, words=1,
                    fetched_at="t", site_name=analysis.site_name, description=analysis.description)
    store.save_page(url="http://a/docs/b", document="# B\n", title="B", depth=1, http_status=200, words=1,
                    fetched_at="t")
    store.close()
    first, second = iter_manifest(tmp_path)
    assert (first["site_name"], first["description"]) == (SITE_NAME, page_description(3))
    assert "site_name" not in second and "description" not in second, "absent, not null, when not declared"


def save(store: CrawlStore, url: str, title: str | None, markdown: str, **meta: Any) -> None:
    store.record_discovered(url, "start" if url.endswith("/docs/") else "link", 1)
    store.save_page(url=url, document=page_document(title, url, markdown), title=title, depth=1,
                    http_status=200, words=len(markdown.split()), fetched_at="t",
                    source="start" if url.endswith("/docs/") else "link", **meta)


def test_declared_site_name_and_descriptions_win_over_titles_and_first_sentences(tmp_path: Path):
    store = CrawlStore(tmp_path)
    store.open()
    write_json(tmp_path / "config.json", {"url": "https://x.org/docs/"})
    save(store, "https://x.org/docs/", "Home | Other Name", "Welcome to the home page of it all.",
         site_name="Acme Handbook", description="The handbook of Acme, for everyone.")
    save(store, "https://x.org/docs/guide/", "The Guide | Other Name", "Read this guide first of all.",
         site_name="Acme Handbook", description="How to use Acme.")
    save(store, "https://x.org/docs/guide/install.html", "Install | Other Name", "Install it with pip, then run.")
    save(store, "https://x.org/docs/release-notes.html", "Release notes | Other Name", "Fixed many bugs today.")
    store.close()
    write_llms_files(tmp_path)
    parsed = check_llms_txt((tmp_path / LLMS_TXT).read_text(encoding="utf-8"))
    assert parsed["title"] == "Acme Handbook", "og:site_name of the start page"
    assert parsed["summary"] == "The handbook of Acme, for everyone."
    assert list(parsed["sections"]) == ["Docs", "The Guide", "Optional"], "a folder named by its index page"
    guide = parsed["sections"]["The Guide"]
    assert [(i["title"], i["description"]) for i in guide] == [
        ("The Guide", "How to use Acme."), ("Install", "Install it with pip, then run.")]
    assert parsed["sections"]["Optional"][0]["url"] == "https://x.org/docs/release-notes.html"


def test_an_old_folder_without_metadata_titles_or_discovery_list_still_gives_valid_files(tmp_path: Path):
    store = CrawlStore(tmp_path)
    store.open()
    for url, title in (("https://x.org/", None), ("https://x.org/a/b c(1).html", "Weird [title]"),
                       ("https://x.org/changelog", None)):
        store.save_page(url=url, document=page_document(title, url, "```\ncode only\n```\n## Heading\n\nText here "
                                                                   "that says what the page is"), title=title, depth=0,
                        http_status=200, words=3, fetched_at="t")
    store.close()
    (tmp_path / "discovered.jsonl").unlink()
    report = write_llms_files(tmp_path)
    parsed = check_llms_txt((tmp_path / LLMS_TXT).read_text(encoding="utf-8"))
    assert parsed["title"] == "x.org" and parsed["summary"] == "Text here that says what the page is"
    items = {i["url"]: i for items in parsed["sections"].values() for i in items}
    assert set(items) == {"https://x.org/", "https://x.org/a/b%20c%281%29.html", "https://x.org/changelog"}
    assert items["https://x.org/a/b%20c%281%29.html"]["title"] == "Weird (title)"
    assert [i["url"] for i in parsed["sections"]["Optional"]] == ["https://x.org/changelog"]
    assert report["llms_full_txt"]["pages"] == 3


@pytest.mark.parametrize(("path", "title", "optional"), [
    ("/docs/changelog/", "Anything", True),
    ("/docs/CHANGELOG.md", "Anything", True),
    ("/docs/release_notes/2.0.html", "Anything", True),
    ("/docs/blog/2024/post.html", "Anything", True),
    ("/docs/news/", "Anything", True),
    ("/docs/history.html", "Anything", True),
    ("/docs/x.html", "Release notes for 2.0", True),
    ("/docs/x.html", "What's new in 3.1", True),
    ("/docs/guide/archives.html", "Anything", True),
    ("/docs/guide/archive-format.html", "Archive format", False),
    ("/docs/api/changes-api.html", "The changes API", False),
    ("/docs/guide/", "Getting started", False),
])
def test_which_pages_are_optional(path, title, optional):
    assert is_optional("https://x.org" + path, title, "/docs/") is optional


def test_first_sentence_skips_headings_code_and_markup():
    markdown = ("# Title\n\n```\nprint('x. Y')\n```\n\n| a | b |\n|---|---|\n\n![logo](l.png)\n\n"
                "Use **the** [client](https://x.org/c) with `retry`. Then more.")
    assert first_sentence(markdown) == "Use the client with retry."
    assert first_sentence("Version 2.0 of e.g. the tool is out now. More.") == "Version 2.0 of e.g. the tool is out now."
    assert len(first_sentence("word " * 200)) <= 240
    assert first_sentence("## Only a heading") == ""


def test_generated_files_are_current_until_the_manifest_changes(tmp_path: Path):
    (tmp_path / "manifest.jsonl").write_text("")
    assert current_file(tmp_path, LLMS_TXT) is None
    (tmp_path / LLMS_TXT).write_text("x")
    os.utime(tmp_path / "manifest.jsonl", ns=(1, 1))
    assert current_file(tmp_path, LLMS_TXT) == tmp_path / LLMS_TXT
    later = (tmp_path / LLMS_TXT).stat().st_mtime_ns + 10**9
    os.utime(tmp_path / "manifest.jsonl", ns=(later, later))
    assert current_file(tmp_path, LLMS_TXT) is None, "a crawl that went on makes it stale"


def test_the_index_reads_only_a_page_head(tmp_path: Path):
    store = CrawlStore(tmp_path)
    store.open()
    save(store, "https://x.org/docs/", "Home", "First words of the home page. " + "More text. " * 100_000)
    store.close()
    index = build_index(tmp_path)
    assert index.summary == "First words of the home page."
    assert render_llms_txt(index).count("\n- [") == 1


# ---- the exact output, pinned ------------------------------------------------------------------

PINNED_LLMS_TXT = """# Acme Docs

> The Acme documentation.

9 pages from <https://x.org/docs/>, grouped by the site's own sections; the full text of every page is in llms-full.txt.

## Docs

- [Home](https://x.org/docs/): The Acme documentation.

## Guide

- [Guide](https://x.org/docs/guide/): The guide walks through every feature in order.
- [Install](https://x.org/docs/guide/install.html): Install Acme with pip before anything else.

## Guide (2)

- [Install (print)](https://x.org/docs/guide/install-print.html): A print copy of the install page for paper.

## Reference

- [API](https://x.org/docs/api/): Every function of the API, one by one here.
- [Client](https://x.org/docs/api/client.html): How the client connects and retries.

## other.org Guide

- [Elsewhere](https://other.org/guide/x.html): A page on another host that the crawl kept anyway.

## Optional (2)

- [Late page](https://x.org/docs/late.html): This page was saved but never discovered here.

## Optional

- [Changelog](https://x.org/docs/changelog.html): Version 2 fixed many bugs in the client.
"""

SHARED = "Shared words about Acme here."
PINNED_PAGES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("https://x.org/docs/", "Home | Acme Docs", "Welcome to Acme, the tool that does everything well.",
     {"description": "The Acme documentation."}),
    ("https://x.org/docs/guide/", "Guide | Acme Docs", "The guide walks through every feature in order.", {"nav": ["Guide"]}),
    ("https://x.org/docs/guide/install.html", "Install | Acme Docs", "Install Acme with pip before anything else.",
     {"nav": ["Guide", "Setup"], "description": SHARED}),
    ("https://x.org/docs/guide/print.html", "Install (print) | Acme Docs", "A print copy of the install page for paper.",
     {"canonical": "https://x.org/docs/guide/install-print.html", "description": SHARED}),
    ("https://x.org/docs/api/", "API | Acme Docs", "Every function of the API, one by one here.",
     {"nav": ["Reference"], "description": SHARED}),
    ("https://x.org/docs/api/client.html", "Client | Acme Docs", "The client talks to the server over HTTP.",
     {"nav": ["Reference"], "description": "How the client connects and retries."}),
    ("https://x.org/docs/changelog.html", "Changelog | Acme Docs", "Version 2 fixed many bugs in the client.",
     {"nav": ["Reference"]}),
    ("https://x.org/docs/late.html", "Late page | Acme Docs", "This page was saved but never discovered here.",
     {"nav": ["Optional"]}),
    ("https://other.org/guide/x.html", "Elsewhere", "A page on another host that the crawl kept anyway.", {}),
]


def test_a_small_folder_gives_exactly_the_pinned_files(tmp_path: Path):
    """Every rule at once, output pinned byte for byte: navigation groups name the sections (most
    pages are placed) and a page outside them falls back to its folder, named by its index page
    and numbered as a duplicate; a meta description three pages share is dropped for the first
    sentence; a print copy is listed under its canonical URL; a page never discovered comes after
    the others; a group named like the Optional section is numbered; the start page saved last
    comes first; another host's page is its own section; the titles' shared suffix names the site."""
    store = CrawlStore(tmp_path)
    store.open()
    write_json(tmp_path / "config.json", {"url": "https://x.org/docs/"})
    for url, *_ in PINNED_PAGES:
        if "late" not in url:
            store.record_discovered(url, "start" if url.endswith("/docs/") else "link", 1)
    for url, title, text, meta in PINNED_PAGES[1:] + PINNED_PAGES[:1]:
        store.save_page(url=url, document=page_document(title, url, text), title=title, depth=1, http_status=200,
                        words=len(text.split()), fetched_at="t", source="start" if url.endswith("/docs/") else "link",
                        **meta)
    store.close()
    totals = write_llms_files(tmp_path)
    assert (tmp_path / LLMS_TXT).read_text(encoding="utf-8") == PINNED_LLMS_TXT
    full = (tmp_path / LLMS_FULL_TXT).read_text(encoding="utf-8")
    assert full.startswith("# Home\n\nSource: <https://x.org/docs/>\n\nWelcome to Acme, the tool that does "
                           "everything well.\n\n# Guide\n\nSource: <https://x.org/docs/guide/>\n\n")
    assert full.endswith("# Changelog\n\nSource: <https://x.org/docs/changelog.html>\n\n"
                         "Version 2 fixed many bugs in the client.\n\n")
    text = (tmp_path / LLMS_REPORT).read_text(encoding="utf-8")
    report = json.loads(text)
    assert text == json.dumps(report, indent=2, ensure_ascii=False) + "\n", "the streamed list, as json writes a list"
    assert {key: value for key, value in report.items() if key not in ("generated_at", "pages")} == {
        "site_name": "Acme Docs", "token_estimate": "ceil(ASCII characters / 4 + other characters / 2)",
        "llms_txt": {"bytes": 1056, "tokens": 264, "links": 9, "sections": 7},
        "llms_full_txt": {"bytes": 906, "tokens": 230, "pages": 9, "optional_tokens": 25}}
    assert totals == {key: value for key, value in report.items() if key != "pages"}
    assert [(p["title"], p["section"], p["optional"], p["bytes"], p["tokens"]) for p in report["pages"]] == [
        ("Home", "Docs", False, 93, 24), ("Guide", "Guide", False, 95, 24), ("Install", "Guide", False, 105, 27),
        ("Install (print)", "Guide (2)", False, 119, 30), ("API", "Reference", False, 87, 22),
        ("Client", "Reference", False, 99, 25), ("Elsewhere", "other.org Guide", False, 107, 27),
        ("Late page", "Optional (2)", False, 101, 26), ("Changelog", "Optional", True, 100, 25)]
    assert report["pages"][3]["path"] == "pages/docs/guide/install-print.md"


def test_a_folder_without_pages_gives_an_empty_list_and_report(tmp_path: Path):
    write_json(tmp_path / "config.json", {"url": "https://x.org/docs/"})
    (tmp_path / "manifest.jsonl").write_text("")
    write_llms_files(tmp_path)
    assert (tmp_path / LLMS_TXT).read_text() == (
        "# x.org\n\n> Documentation pages from x.org.\n\n0 pages from <https://x.org/docs/>, grouped by the site's "
        "own sections; the full text of every page is in llms-full.txt.\n")
    assert (tmp_path / LLMS_FULL_TXT).read_bytes() == b""
    text = (tmp_path / LLMS_REPORT).read_text()
    assert '"pages": []\n}\n' in text and json.loads(text)["llms_full_txt"]["pages"] == 0


def test_the_index_store_is_closed_after_use(tmp_path: Path):
    write_json(tmp_path / "config.json", {"url": "https://x.org/docs/"})
    (tmp_path / "manifest.jsonl").write_text("")
    with build_index(tmp_path) as index:
        assert list(index.pages) == []
    with pytest.raises(sqlite3.ProgrammingError):  # its store is gone with it
        list(index.pages)
