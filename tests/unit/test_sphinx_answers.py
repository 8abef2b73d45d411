"""Answers from a real Sphinx site (tests/sites/generators/sphinx, built by Sphinx 9.0.4) crawled
for real: the page that defines a setting ranks above the changelog and the general index that
mention it, and llms.txt descriptions are the page's first real sentence, not a version note."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from crawler.engine.config import parse_crawl_config
from crawler.engine.controller import CrawlController
from crawler.engine.cpu import CpuPool
from crawler.engine.events import RecordingSink
from crawler.engine.parse import MAX_DEFINITION_IDS, find_definition_ids, parse_document
from crawler.folder.reader import iter_manifest
from crawler.folder.writer import CrawlStore, write_json
from crawler.outputs.llms import LLMS_TXT, first_sentence, write_llms_files
from crawler.outputs.mcp.library import DocsLibrary, FolderSites
from crawler.outputs.search import SearchIndex, is_generated_index, open_search
from tests.support.llms import check_llms_txt
from tests.support.site import QuietServer

SPHINX_HTML = Path(__file__).resolve().parents[1] / "sites" / "generators" / "sphinx" / "html"
CRAWL_ID = "20261202-200000-5f1a2b"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def sphinx_crawl(tmp_path_factory: pytest.TempPathFactory, cpu: CpuPool):
    data_dir = tmp_path_factory.mktemp("sphinx-data")
    server = QuietServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(SPHINX_HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        config = parse_crawl_config({"url": base + "index.html", "concurrency": 2, "render": "never"})
        controller = CrawlController(CRAWL_ID, config, CrawlStore(data_dir / CRAWL_ID), RecordingSink(),
                                     threading.Event(), cpu)
        assert controller.run()["state"] == "completed"
    finally:
        server.shutdown()
        server.server_close()
    write_llms_files(data_dir / CRAWL_ID)
    # What the service writes beside a crawl's pages (the controller alone writes none of it).
    write_json(data_dir / CRAWL_ID / "crawl.json", {"state": "completed", "created_at": "2026-12-02T20:00:00Z"})
    write_json(data_dir / CRAWL_ID / "config.json", {"url": base + "index.html"})
    index, indexer = open_search(data_dir, start=False)
    indexer.catch_up()
    yield data_dir, base, index
    indexer.stop()


def _ranked(index: SearchIndex, query: str) -> list[str]:
    return [hit.url.rsplit("/", 1)[-1] for hit in index.search(query, [CRAWL_ID], limit=20).hits]


def test_the_page_that_defines_a_setting_ranks_first(sphinx_crawl):
    _, _, index = sphinx_crawl
    ranked = _ranked(index, "widget_css_files")
    # The configuration page defines it (a `.. confval::` entry); the changelog mentions it twice in
    # a short page, the general index lists it: both would win on body mentions alone.
    assert ranked[0] == "configuration.html", ranked
    assert "changes.html" in ranked and ranked.index("changes.html") > ranked.index("configuration.html")


def test_generated_index_pages_are_not_content(sphinx_crawl):
    _, _, index = sphinx_crawl
    for query in ("widget_css_files", "widget_colours", "load", "Widget"):
        assert "genindex.html" not in _ranked(index, query), query


def test_a_release_note_ranks_below_a_reference_page_for_an_equal_match(sphinx_crawl):
    _, _, index = sphinx_crawl
    ranked = _ranked(index, "strict")  # the API page and the changelog both say it once or twice
    assert "changes.html" in ranked and ranked[-1] == "changes.html", ranked


def test_descriptions_are_the_first_real_sentence_not_a_version_note(sphinx_crawl):
    data_dir, base, _ = sphinx_crawl
    parsed = check_llms_txt((data_dir / CRAWL_ID / LLMS_TXT).read_text(encoding="utf-8"))
    descriptions = {item["url"].rsplit("/", 1)[-1]: item.get("description") or ""
                    for items in parsed["sections"].values() for item in items}
    # configuration.html opens with `.. versionadded:: 1.0`, then its first real sentence.
    assert descriptions["configuration.html"].startswith("The configuration file conf.py holds"), descriptions
    for page, description in descriptions.items():
        assert not description.lower().startswith(("added in version", "changed in version",
                                                  "deprecated since version", "new in version")), page


def _library(data_dir: Path, index: SearchIndex) -> DocsLibrary:
    return DocsLibrary(data_dir, index, FolderSites(data_dir))


@pytest.mark.parametrize("address", ["url", "section"])
def test_a_definition_id_names_its_own_slice(sphinx_crawl, address):
    data_dir, base, index = sphinx_crawl
    library = _library(data_dir, index)
    page = base + "configuration.html"
    answer = (library.get_page(page + "#confval-widget_css_files") if address == "url"
              else library.get_page(page, section="confval-widget_css_files"))
    section_line = next(line for line in answer.splitlines() if line.startswith("Section:"))
    assert "Options for HTML output › widget_css_files" in section_line, answer[:600]
    text = answer.split("]\n", 1)[1] if "]\n" in answer else answer
    body = text.strip()
    # The slice starts at the definition and ends before the next one (widget_shadows), whole lines.
    assert body.startswith("`widget_css_files`"), body[:200]
    assert "A list of CSS files to add to every page that shows a widget." in body
    assert "widget_shadows" not in body and "widget_fonts" not in body
    assert "Added in version 1.2" in body


def test_a_function_id_names_its_entry_and_search_points_at_it(sphinx_crawl):
    data_dir, base, index = sphinx_crawl
    answer = _library(data_dir, index).get_page(base + "api.html#load")
    assert "Load widget settings from a file." in answer and "A widget." not in answer.split("Section:", 1)[1]
    hit = index.search("widget_css_files", [CRAWL_ID], limit=1).hits[0]
    assert hit.anchor == "confval-widget_css_files", (hit.section, hit.anchor)


def test_definition_ids_are_recorded_bounded(sphinx_crawl):
    data_dir, _, _ = sphinx_crawl
    entries = {entry["url"].rsplit("/", 1)[-1]: entry for entry in iter_manifest(data_dir / CRAWL_ID)
               if entry.get("status") == "ok"}
    pairs = entries["configuration.html"]["definition_ids"]
    assert ["widget_css_files", "confval-widget_css_files"] in pairs
    assert all(len(text) <= 120 and len(anchor) <= 120 for text, anchor in pairs)
    assert "definition_ids" not in entries["tutorial.html"]  # a page without <dt id> records none


def test_a_hostile_page_of_definition_terms_stays_bounded():
    terms = "".join(f'<dt id="t{n}{"x" * (n % 300)}">{"term " * 50}{n}</dt><dd>d</dd>' for n in range(5000))
    pairs = find_definition_ids(parse_document(f"<html><body><dl>{terms}</dl></body></html>".encode(), "utf-8"))
    assert pairs is not None and len(pairs) == MAX_DEFINITION_IDS
    assert all(len(text) <= 120 and len(anchor) <= 120 and " " not in anchor for text, anchor in pairs)


@pytest.mark.parametrize("url, generated", [
    ("https://d.org/genindex.html", True), ("https://d.org/genindex-A.html", True),
    ("https://d.org/py-modindex.html", True), ("https://d.org/en/latest/search.html", True),
    ("https://d.org/search", True), ("https://d.org/research.html", False),
    ("https://d.org/search-engines.html", False), ("https://d.org/usage/searching.html", False),
    ("https://d.org/genindex/guide.html", False), ("https://d.org/", False),
])
def test_generated_index_pages_are_named_by_their_file(url, generated):
    assert is_generated_index(url) is generated


@pytest.mark.parametrize("markdown, expected", [
    ("> **Changed in version 2.0:** It moved.\n\nThe loader reads every file of the project.",
     "The loader reads every file of the project."),
    ("> **Note:**\n\n> Be careful.\n\nWidgets are drawn in the order they are added.",
     "Widgets are drawn in the order they are added."),
    ("Home › Guide › Install\n\nInstall the package with pip, then run it once.",
     "Install the package with pip, then run it once."),
    ("Table of contents\n\n- Install\n- Use\n\nThis guide walks through a first project.",
     "This guide walks through a first project."),
    ("Deprecated since version 3.1\n\nNew in version 2.4.\n\nShort bit here.\n\nThe cache keeps pages for a day.",
     "The cache keeps pages for a day."),
])
def test_a_description_skips_what_is_not_the_pages_own_prose(markdown, expected):
    assert first_sentence(markdown) == expected
