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
from crawler.folder.writer import CrawlStore
from crawler.outputs.llms import LLMS_TXT, write_llms_files
from crawler.outputs.search import SearchIndex, open_search
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
