"""The search index keeps each page's sections (heading path, anchor, offsets, plain text): a hit
names the page's best section, snippets are plain text whose marks never fall in a link target,
a crawl removed from the index leaves nothing behind, and a site crawled several times counts once."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from crawler.engine.cpu import analyze_page
from crawler.engine.extract import page_document
from crawler.engine.parse import find_heading_ids, parse_document
from crawler.folder.writer import CrawlStore
from crawler.outputs.search import SearchIndex, SearchIndexer, current_crawls, open_search, site_key
from crawler.outputs.sections import cut, find_section, plain_text, split_sections, use_site_anchors
from tests.support.search import store_pages

A = "20261127-100000-aaaaaa"
B = "20261127-110000-bbbbbb"

GUIDE = """Intro paragraph about the tool.

## Configuration

How settings are read. See [cross compilation](https://x.org/Cross-compilation.html) for **cross** builds.

### Environment variables

The `FOO_HOME` variable sets the home. | a | b |

## Machine files

Machine files name the compilers and the quokka linker.
"""


@pytest.fixture
def index(tmp_path: Path) -> tuple[SearchIndex, SearchIndexer, Path]:
    store_pages(tmp_path, A, {
        "https://x.org/guide.html": ("Guide", GUIDE),
        "https://x.org/other.html": ("Other", "Nothing about that here, only gardens and quokka food."),
    }).close()
    index, indexer = open_search(tmp_path, start=False)
    indexer.catch_up()
    yield index, indexer, tmp_path
    indexer.stop()


def test_a_hit_names_its_best_section_with_plain_text(index):
    search, _, _ = index
    found = search.search("variable", [A], html_snippets=False)
    assert found.total == 1
    hit = found.hits[0]
    assert hit.section == "Configuration › Environment variables" and hit.anchor == "environment-variables"
    assert "FOO_HOME" in hit.text and "Machine files" not in hit.text and "`" not in hit.text
    assert hit.page_chars > len(hit.text) and hit.section_chars == len(hit.text)
    # Link targets are not text: the link's words are marked, its URL is nowhere.
    cross = search.search('"cross compilation"', [A]).hits[0]
    assert "<mark>cross compilation</mark>" in cross.snippet and "x.org" not in cross.snippet
    assert "](" not in cross.snippet and "**" not in cross.snippet
    assert cross.section == "Configuration"
    plain = search.search('"cross compilation"', [A], html_snippets=False).hits[0]
    assert "**cross compilation**" in plain.snippet and "https://" not in plain.snippet


def test_words_spread_over_sections_still_find_the_page(index):
    search, _, _ = index
    found = search.search("settings quokka", [A], html_snippets=False)
    assert [hit.url for hit in found.hits] == ["https://x.org/guide.html"]
    assert found.hits[0].section in ("Configuration", "Machine files")
    # A title-only match gives the page's first section.
    assert search.search("guide", [A]).hits[0].url == "https://x.org/guide.html"


def test_removing_a_crawl_leaves_a_sound_index(index):
    search, indexer, data_dir = index
    store_pages(data_dir, B, {"https://x.org/guide.html": ("Guide", GUIDE)}).close()
    indexer.catch_up()
    assert search.search("quokka", [A, B]).total == 3
    shutil.rmtree(data_dir / B)
    indexer.catch_up()
    assert search.search("quokka", [A, B]).total == 2
    connection = sqlite3.connect(search.path)
    try:
        connection.execute("INSERT INTO docs (docs) VALUES ('integrity-check')")
        connection.execute("INSERT INTO section_docs (section_docs) VALUES ('integrity-check')")
        assert connection.execute("SELECT count(*) FROM sections WHERE crawl_id = ?", (B,)).fetchone()[0] == 0
    finally:
        connection.close()


def test_pages_are_found_by_any_spelling_of_their_url(index):
    search, _, _ = index
    for spelling in ("https://x.org/guide.html", "https://x.org/guide.html#machine-files",
                     "HTTPS://X.ORG/guide.html?utm_source=mail", "https://x.org:443/./guide.html"):
        row = search.lookup_page(spelling, [A])
        assert row is not None and row.url == "https://x.org/guide.html", spelling
    assert search.lookup_page("https://x.org/guid.html", [A]) is None
    assert search.nearest_pages("https://x.org/guid.html", [A])[0] == "https://x.org/guide.html"
    assert search.lookup_page("https://x.org/guide.html", []) is None
    sections = search.page_sections(search.lookup_page("https://x.org/guide.html", [A]).page_id)
    assert [s.anchor for s in sections] == ["", "configuration", "environment-variables", "machine-files"]


def test_each_site_is_searched_in_its_newest_completed_crawl():
    crawls = [("20261201-100000-aaaaaa", "https://x.org/docs/", "completed", "2026-12-01T10:00:00Z"),
              ("20261201-100000-ffffff", "https://x.org/docs", "completed", "2026-12-01T10:00:05Z"),
              ("20261201-100000-000000", "https://x.org/docs/index.html", "completed", "2026-12-01T10:00:09Z"),
              ("20261201-120000-bbbbbb", "https://x.org/docs/", "running", "2026-12-01T12:00:00Z"),
              ("20261201-090000-cccccc", "https://x.org/blog/", "failed", "2026-12-01T09:00:00Z"),
              ("20261201-090000-dddddd", "https://x.org:8080/docs/", "completed", "2026-12-01T09:00:00Z")]
    assert current_crawls(crawls) == ["20261201-100000-000000", "20261201-090000-cccccc", "20261201-090000-dddddd"] \
        or current_crawls(crawls) == ["20261201-100000-000000", "20261201-090000-dddddd", "20261201-090000-cccccc"]
    assert site_key("https://X.org/docs/index.html?utm_source=a") == site_key("https://x.org/docs") == "x.org/docs"


def test_sections_split_and_cut_on_boundaries():
    sections = split_sections(GUIDE)
    assert [s.heading_path for s in sections] == ["", "Configuration", "Configuration › Environment variables",
                                                  "Machine files"]
    assert "".join(GUIDE[s.start:s.end] for s in sections) == GUIDE
    assert find_section(sections, "Configuration › Environment variables") is sections[2]
    assert find_section(sections, "configuration/environment_variables") is sections[2]
    assert find_section(sections, "#machine-files") is sections[3]
    assert find_section(sections, "../../etc/passwd") is None and find_section(sections, "") is None
    assert "```" not in plain_text("```python\nx = 1\n```") and "x = 1" in plain_text("```python\nx = 1\n```")
    text = "word " * 50
    end = cut(text, 0, 42)
    assert end <= 42 and text[end - 1] == " "
    assert cut("a" * 100, 0, 10) == 10  # one word longer than the slice: cut it
    assert cut("short", 0, 100) == 5


SPHINX_LIKE = """<!doctype html><html><head><title>Meson functions</title></head><body><div class="body">
<section id="reference-functions"><h1>Functions<a class="headerlink" href="#reference-functions">¶</a></h1>
<p>Every function the language offers.</p>
<section id="add-global-arguments-func"><span id="add_global_arguments"></span>
<h2><code>add_global_arguments()</code><a class="headerlink" href="#add-global-arguments-func">¶</a></h2>
<p>Adds global arguments; the quokkaflag is one.</p></section>
<section><h2 id="two words">Spaces are no fragment</h2><p>An id with a space is left out.</p></section>
<h2 id="fn_3">function_3()</h2><p>The third function, wombatcall.</p>
<h3><a name="old-style"></a>Old style</h3><p>Anchors by name.</p>
<h3 id="%s">Too long</h3><p>An id of 500 characters is left out.</p>
</section></div></body></html>""" % ("x" * 500)


def test_the_sites_own_heading_ids_name_the_sections(tmp_path: Path):
    """The crawl records the ids the page's HTML gives its headings; the index uses them as the
    sections' anchors, so a link copied from the site (`…#fn_3`) names the section."""
    tree = parse_document(SPHINX_LIKE.encode())
    pairs = find_heading_ids(tree)
    # Sphinx's section id (which its permalink names) wins over a label span inside the section.
    assert pairs == [["Functions", "reference-functions"], ["add_global_arguments()", "add-global-arguments-func"],
                     ["function_3()", "fn_3"], ["Old style", "old-style"]]
    # What the engine stores: the analysis of the page carries them to the manifest.
    url = "https://docs.example.org/Reference-manual_functions.html"
    analysis = analyze_page(SPHINX_LIKE.encode(), "utf-8", url)
    assert analysis.heading_ids == pairs
    store = CrawlStore(tmp_path / A)
    store.open()
    entry = store.save_page(url=url, document=page_document(analysis.title, url, analysis.markdown),
                            title=analysis.title, depth=0, http_status=200, words=analysis.words,
                            fetched_at="2026-11-27T10:00:00.000Z", heading_ids=analysis.heading_ids + [[1, None], "x"])
    store.close()
    assert entry.as_record()["heading_ids"] == pairs  # anything but [text, id] strings is dropped
    index, indexer = open_search(tmp_path, start=False)
    try:
        indexer.catch_up()
        hit = index.search("wombatcall", [A]).hits[0]
        assert (hit.anchor, hit.section_url) == ("fn_3", url + "#fn_3")
        hit = index.search("quokkaflag", [A]).hits[0]
        assert hit.anchor == "add-global-arguments-func" and hit.section.endswith("add_global_arguments()")
        page = index.lookup_page(url + "#fn_3", [A])
        anchors = [row.anchor for row in index.page_sections(page.page_id)]
        assert {"reference-functions", "fn_3", "old-style", "add-global-arguments-func"} <= set(anchors)
        assert "spaces-are-no-fragment" in anchors and "too-long" in anchors  # slugs where the site's id is unusable
    finally:
        indexer.stop()


def test_site_anchors_pair_headings_in_order_and_skip_what_extraction_dropped():
    markdown = "# Title\n\ntext\n\n## Install\n\na\n\n## Usage\n\nb\n\n## Install\n\nc\n"
    sections = split_sections(markdown)
    use_site_anchors(sections, [["Sidebar heading", "side"], ["Install", "install-1"], ["Usage ¶", "usage"],
                                ["Install", "install-2"], ["Extra", "extra"]])
    assert [s.anchor for s in sections] == ["title", "install-1", "usage", "install-2"]
    # Hostile or malformed pairs change nothing.
    sections = split_sections(markdown)
    use_site_anchors(sections, [["Install", "a b"], ["Install", "x#y"], ["Install", "\x00"], "Usage", ["Usage"],
                                [None, "n"]])
    assert [s.anchor for s in sections] == ["title", "install", "usage", "install"]
    use_site_anchors(sections, {"Install": "i"})
    assert [s.anchor for s in sections] == ["title", "install", "usage", "install"]
