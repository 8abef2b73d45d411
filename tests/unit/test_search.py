"""Full-text search: the index over real crawl folders, and GET /api/search on the real server."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from crawler.folder.writer import CrawlStore
from crawler.outputs.search import (
    QueryError,
    SearchIndex,
    SearchIndexer,
    open_search,
    to_fts_query,
)
from tests.support.search import store_pages
from tests.support.server import wait_until

A = "20261127-100000-aaaaaa"
B = "20261127-100000-bbbbbb"




def sample(data_dir: Path) -> None:
    store_pages(data_dir, A, {
        "https://a.org/install": ("Installing the tool", "Run the installer, then configure the <b>proxy</b> settings."),
        "https://a.org/config": ("Configuration", "The configuration loader resolves settings in order."),
        "https://a.org/loader": ("Loaders", "A loader resolves nothing about configuration by itself; it reads files."),
        "https://a.org/faq": ("Questions", "Answers about licences, support and the mailing list."),
        "https://a.org/about": ("About", "Who writes this tool, and why."),
        "https://a.org/history": ("History", "Earlier versions and what changed between them."),
        **{f"https://a.org/topic-{n}": (f"Topic {n}", f"Unrelated prose number {n} about gardens.") for n in range(10)},
    }).close()
    store_pages(data_dir, B, {
        "https://b.org/secret": ("Secret page", "Only crawl B knows the word zanzibar and the configuration loader."),
    }).close()


@pytest.fixture
def indexed(tmp_path: Path) -> tuple[SearchIndex, SearchIndexer, Path]:
    sample(tmp_path)
    index, indexer = open_search(tmp_path, start=False)
    indexer.catch_up()
    yield index, indexer, tmp_path
    indexer.stop()


@pytest.mark.parametrize("typed, expected", [
    ("configuration loader", '"configuration" "loader"'),
    ('"configuration loader"', '"configuration loader"'),
    ("config*", '"config"*'),
    ("node.js C++", '"node.js" "C++"'),
    ("proxy OR zanzibar", '"proxy" OR "zanzibar"'),
    ("loader NOT proxy", '"loader" NOT "proxy"'),
])
def test_what_people_type_becomes_fts5_syntax(typed, expected):
    assert to_fts_query(typed) == expected


@pytest.mark.parametrize("typed, words", [
    ('"configuration loader', "quotation mark is not closed"),
    ("", "empty"),
    ("OR proxy", "OR cannot begin"),
    ("proxy AND", "AND cannot end"),
    ("a OR OR b", "OR cannot follow OR"),
    ("*", "must follow the beginning of a word"),
    ("con*fig", "may only end a word"),
    ('""', "empty phrase"),
    ("x" * 501, "too long"),
])
def test_queries_that_cannot_be_read_say_why(typed, words):
    with pytest.raises(QueryError, match=words):
        to_fts_query(typed)


def test_ranks_with_bm25_highlights_and_reads_phrases_and_prefixes(indexed):
    index, _, _ = indexed
    found = index.search("configuration", [A])
    assert found.total == 3
    # The page titled "Configuration" comes first: a title match weighs more than a body match.
    assert found.hits[0].url == "https://a.org/config" and found.hits[0].score > found.hits[-1].score
    assert "<mark>configuration</mark>" in found.hits[0].snippet
    assert found.hits[0].path == "pages/config.md" and found.hits[0].crawl_id == A
    # The phrase matches only where the words are adjacent, in order.
    assert [h.url for h in index.search('"configuration loader"', [A]).hits] == ["https://a.org/config"]
    assert index.search("configuration loader", [A]).total == 2
    assert {h.url for h in index.search("install*", [A]).hits} == {"https://a.org/install"}
    # Stemming: "resolve" finds "resolves".
    assert index.search("resolve", [A]).total == 2
    # Page text is escaped; only the highlight is markup.
    proxy = index.search("proxy", [A]).hits[0].snippet
    assert "&lt;b&gt;<mark>proxy</mark>&lt;/b&gt;" in proxy and "<b>" not in proxy
    # Paging: the same order, page by page.
    every = [h.url for h in index.search("configuration", [A], limit=10).hits]
    paged = [h.url for offset in range(3) for h in index.search("configuration", [A], limit=1, offset=offset).hits]
    assert paged == every


def test_search_never_leaves_the_crawls_it_is_given(indexed):
    index, _, _ = indexed
    assert index.search("zanzibar", [A]).total == 0
    assert index.search("zanzibar", [B]).total == 1
    assert index.search("zanzibar", []).total == 0
    assert {h.crawl_id for h in index.search("configuration", [A, B]).hits} == {A, B}
    assert index.find_page("https://b.org/secret", [A]) is None
    assert index.find_page("https://b.org/secret", [B])[0] == B


def test_follows_each_manifest_from_where_it_left_off(indexed):
    index, indexer, data_dir = indexed
    assert indexer.run_pass() == 0  # nothing new: nothing read
    store = CrawlStore(data_dir / A)
    store.open()
    store.save_page(url="https://a.org/new", document="# New\n\nSource: <https://a.org/new>\n\nfreshly stored kumquat\n",
                    title="New", depth=0, http_status=200, words=3, fetched_at="t")
    store.record(url="https://a.org/gone", status="failed", error="404", depth=1, http_status=404, fetched_at="t")
    # A line the crawl is still writing (no newline yet) waits for the next pass.
    with open(data_dir / A / "manifest.jsonl", "ab") as manifest:
        manifest.write(b'{"url": "https://a.org/half", "status": "ok", "pa')
    assert indexer.run_pass() == 2
    assert index.search("kumquat", [A]).total == 1
    assert index.search("configuration", [A]).total == 3  # nothing indexed twice
    assert index.pages_per_crawl([A]) == {A: 17}


def test_two_writers_on_one_file_never_index_a_page_twice(indexed):
    index, indexer, data_dir = indexed
    other = SearchIndexer(SearchIndex(index.path), data_dir)
    other.run_pass()
    indexer.run_pass()
    assert index.search("configuration", [A, B]).total == 4
    other.index.close()


def test_a_deleted_crawl_leaves_the_index(indexed):
    index, indexer, data_dir = indexed
    shutil.rmtree(data_dir / B)
    indexer.run_pass()
    with sqlite3.connect(index.path) as connection:
        assert connection.execute("SELECT count(*) FROM pages WHERE crawl_id = ?", (B,)).fetchone()[0] == 0
        assert connection.execute("SELECT count(*) FROM crawls WHERE crawl_id = ?", (B,)).fetchone()[0] == 0
        assert connection.execute("SELECT count(*) FROM docs WHERE docs MATCH 'zanzibar'").fetchone()[0] == 0


@pytest.mark.parametrize("damage", ["delete", "garbage"])
def test_a_missing_or_damaged_index_is_rebuilt_from_the_folders(tmp_path, damage):
    sample(tmp_path)
    index, indexer = open_search(tmp_path, start=False)
    indexer.interval = 0.05
    indexer.start()
    try:
        wait_until(lambda: index.search("configuration", [A, B]).total == 4, message="the first indexing")
        if damage == "delete":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{index.path}{suffix}").unlink(missing_ok=True)
            assert not index.path.exists()
        else:
            index.path.write_bytes(b"this is not a database " * 4096)

        def healthy() -> bool:
            try:
                sound = index.path.read_bytes()[:16] == b"SQLite format 3\x00"
                return sound and index.search("configuration", [A, B]).total == 4
            except Exception:  # noqa: BLE001 - any failure while the index is rebuilt means: not yet
                return False

        wait_until(healthy, timeout=10, message="the index rebuilt from the crawl folders")
        assert index.search("zanzibar", [B]).total == 1
        # Rebuilt once, then left alone: a few passes later it is still the same file.
        identity, passes = index.path.stat().st_ino, indexer.passes
        wait_until(lambda: indexer.passes >= passes + 5, message="five more passes")
        assert index.path.stat().st_ino == identity and index.search("configuration", [A, B]).total == 4
    finally:
        indexer.stop()
