"""llms.txt a reader would write: sections from the site's own navigation (a flat-URL site with a
sidebar), release notes in Optional, descriptions that say something (never the site's name)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from crawler.engine.config import parse_crawl_config
from crawler.engine.controller import CrawlController
from crawler.engine.cpu import CpuPool
from crawler.engine.events import RecordingSink
from crawler.engine.parse import find_nav_path, parse_document
from crawler.folder.reader import iter_manifest
from crawler.folder.writer import CrawlStore
from crawler.outputs.llms import LLMS_TXT, first_sentence, is_optional, published_by_site, write_llms_files
from tests.support.flat_site import NAVIGATION, PAGES, PUBLISHED, SECTION_OF, SITE_NAME, FlatSite
from tests.support.llms import check_llms_txt


@pytest.fixture(scope="module")
def flat_crawl(tmp_path_factory: pytest.TempPathFactory, cpu: CpuPool) -> tuple[Path, FlatSite]:
    crawl_dir = tmp_path_factory.mktemp("flat") / "20261202-120000-abcdef"
    site = FlatSite().start()
    try:
        config = parse_crawl_config({"url": site.url(), "concurrency": 2, "render": "never"})
        controller = CrawlController("c1", config, CrawlStore(crawl_dir), RecordingSink(), threading.Event(), cpu)
        assert controller.run()["state"] == "completed"
    finally:
        site.stop()
    write_llms_files(crawl_dir)
    return crawl_dir, site


def test_a_flat_site_gets_its_sections_from_its_sidebar(flat_crawl):
    crawl_dir, site = flat_crawl
    parsed = check_llms_txt((crawl_dir / LLMS_TXT).read_text(encoding="utf-8"))
    assert parsed["title"] == SITE_NAME
    # The sidebar's groups, in the site's order; the release notes group is Optional, last.
    assert list(parsed["sections"]) == ["Overview", "Getting started", "Reference", "Optional"]
    for section, items in parsed["sections"].items():
        for item in items:
            file = item["url"].rsplit("/", 1)[-1]
            if file in SECTION_OF and section != "Optional":
                assert SECTION_OF[file] == section, item
    optional = {item["url"].rsplit("/", 1)[-1] for item in parsed["sections"]["Optional"]}
    assert optional == {file for file, _ in NAVIGATION[2][1]}
    # The manifest recorded each page's place in the sidebar.
    navs = {entry["url"].rsplit("/", 1)[-1]: entry.get("nav") for entry in iter_manifest(crawl_dir)
            if entry["status"] == "ok"}
    assert navs["Quick-guide.html"] == ["Getting started"] and navs["Builtin-options.html"] == ["Reference"]
    assert navs[""] is None  # the start page is not in the sidebar
    assert len(navs) == len(PAGES) + 1


def test_no_description_repeats_the_site_name(flat_crawl):
    crawl_dir, _ = flat_crawl
    parsed = check_llms_txt((crawl_dir / LLMS_TXT).read_text(encoding="utf-8"))
    assert parsed["summary"] != SITE_NAME and len(parsed["summary"].split()) >= 5
    items = [item for items in parsed["sections"].values() for item in items]
    assert len(items) == len(PAGES) + 1
    for item in items:
        assert item["description"] and item["description"].strip(". ") != SITE_NAME, item
        assert len(item["description"]) >= 20 and "Getting started" not in item["description"], item
    quick = next(item for item in items if item["url"].endswith("Quick-guide.html"))
    assert quick["description"].startswith("A first project, from an empty folder")


def test_navigation_from_breadcrumbs_sidebar_captions_and_nested_lists():
    html = b"""<html><body>
    <nav aria-label="Breadcrumb"><ol><li><a href="/">Home</a></li><li><a href="/guide/">Guide</a></li>
    <li>Install</li></ol></nav>
    <div class="sphinxsidebar"><p class="caption">User guide</p><ul><li class="toctree-l1">
    <a href="/a.html">Topic A</a><ul><li><a href="/x.html">X</a></li></ul></li>
    <li><a href="/b.html?utm_source=nav#top">B</a></li></ul></div></body></html>"""
    tree = parse_document(html)
    assert find_nav_path(tree, "https://h.org/guide/install.html") == ["Guide"]
    plain = parse_document(html.replace(b'aria-label="Breadcrumb"', b""))
    assert find_nav_path(plain, "https://h.org/x.html") == ["User guide", "Topic A"]
    assert find_nav_path(plain, "https://h.org/a.html") == ["User guide"]
    assert find_nav_path(plain, "https://h.org/b.html") == ["User guide"]  # the link's canonical form
    assert find_nav_path(plain, "https://h.org/elsewhere.html") is None
    assert find_nav_path(parse_document(b"<html><body><p>no nav</p></body></html>"), "https://h.org/") is None


def test_a_sphinx_toctree_marks_the_page_itself_with_a_current_link_to_nowhere():
    """Sphinx (sphinx13 and alabaster alike) links the page being read as `href="#"` with the class
    `current`; the breadcrumb-like "related" bar links it as `href=""` without it."""
    html = b"""<html><body>
    <div class="related" role="navigation" aria-label="Related"><ul><li><a href="../index.html">Documentation</a></li>
    <li class="nav-item nav-item-this"><a href="">Getting started</a></li></ul></div>
    <div class="sphinxsidebar" role="navigation"><div class="contents"><h3>On this page</h3><ul>
    <li><a class="reference internal" href="#">Getting started</a></li></ul></div>
    <div class="pages"><p class="caption" role="heading"><span class="caption-text">The Basics</span></p>
    <ul class="current"><li class="toctree-l1"><a class="reference internal" href="installation.html">Installing</a></li>
    <li class="toctree-l1 current"><a class="current reference internal" href="#">Getting started</a></li></ul>
    <p class="caption"><span class="caption-text">Reference</span></p><ul><li class="toctree-l1 current">
    <a class="reference internal current" href="extensions/index.html">Extensions</a><ul class="current">
    <li class="toctree-l2"><a class="reference internal" href="extensions/autodoc.html">autodoc</a></li></ul></li></ul>
    </div></div></body></html>"""
    tree = parse_document(html)
    assert find_nav_path(tree, "https://h.org/usage/quickstart.html") == ["The Basics"]
    # A page deeper in the toctree: its groups, outermost first.
    deeper = (html.replace(b'class="current reference internal" href="#"', b'class="reference internal" href="quickstart.html"')
              .replace(b'class="reference internal" href="extensions/autodoc.html"', b'class="current reference internal" href="#"'))
    assert find_nav_path(parse_document(deeper), "https://h.org/usage/extensions/autodoc.html") == ["Reference", "Extensions"]
    assert find_nav_path(parse_document(html.replace(b'class="current reference internal" ', b"")),
                         "https://h.org/usage/quickstart.html") is None


@pytest.mark.parametrize(("url", "title", "expected"), [
    ("https://h.org/Release-notes-for-1.1.0.html", "Release 1.1.0", True),
    ("https://h.org/changelog-2024.html", "2024", True),
    ("https://h.org/docs/blog/2024/launch.html", "Launch", True),
    ("https://h.org/docs/news/", "News", True),
    ("https://h.org/version-history.html", "Versions", True),
    ("https://h.org/docs/archive-format.html", "Archive format", False),
    ("https://h.org/docs/releasing-your-project.html", "Releasing", False),
    ("https://h.org/docs/history-api.html", "History API", False),
])
def test_optional_pages_by_flat_names(url, title, expected):
    assert is_optional(url, title, "/") is expected


def test_a_menu_the_extraction_kept_is_not_a_description():
    markdown = "Getting started\nGetting Meson\nQuick guide\nReference\nHow to install it with pip, or your package manager."
    assert first_sentence(markdown) == "How to install it with pip, or your package manager."


def test_what_the_site_publishes_for_models_is_noted_and_its_llms_txt_kept(flat_crawl, tmp_path):
    crawl_dir, site = flat_crawl
    published = published_by_site(crawl_dir)
    assert published.llms_txt == [site.url("llms.txt")] and published.kept == ["llms.txt"]
    assert published.markdown_pages == 2
    assert published.markdown_examples == [site.url("Quick-guide.md"), site.url("Getting-meson.md")]
    assert published.note().startswith(f"The site publishes its own <{site.url('llms.txt')}> (the crawl kept "
                                        "llms.txt as published)")
    # Kept as fetched; its llms-full.txt, an HTML page served for that path, is not the file.
    assert (crawl_dir / "site" / "llms.txt").read_bytes() == PUBLISHED["llms.txt"][1].encode()
    assert not (crawl_dir / "site" / "llms-full.txt").exists()
    # Links to another host's files are not the site's.
    (tmp_path / "config.json").write_text('{"url": "https://a.org/docs/"}')
    (tmp_path / "links.jsonl").write_text('{"url": "https://a.org/docs/", "links": ["https://b.org/llms.txt", '
                                          '"https://b.org/x.md", "https://a.org/llms-full.txt"]}\n')
    other = published_by_site(tmp_path)
    assert other.llms_txt == ["https://a.org/llms-full.txt"] and other.markdown_pages == 0
    assert published_by_site(tmp_path / "missing").note() == ""
