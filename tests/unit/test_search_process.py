"""The search index's writer in a child process: it indexes, is woken across the process
boundary, runs below the crawl's priority, rebuilds a damaged file, and leaves with its server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from crawler.engine.priority import INDEXER_NICENESS
from crawler.outputs.search import IndexUnavailable
from crawler.outputs.search_process import open_search_process
from crawler.service.config import ServerConfig
from tests.support.search import store_pages
from tests.support.server import PROJECT_ROOT, wait_until

A = "20261127-100000-aaaaaa"
B = "20261127-100000-bbbbbb"
SLOW = 60.0  # seconds between passes: only a wake makes one sooner


def store_a(data_dir: Path) -> None:
    store_pages(data_dir, A, {
        "https://a.org/install": ("Installing the tool", "Run the installer, then configure the proxy settings."),
        "https://a.org/config": ("Configuration", "The configuration loader resolves settings in order."),
    }).close()


def store_b(data_dir: Path) -> None:
    store_pages(data_dir, B, {
        "https://b.org/secret": ("Secret page", "Only crawl B knows the word zanzibar."),
    }).close()


def found(index, word: str, crawl_ids: list[str]) -> int:
    try:
        return index.search(word, crawl_ids).total
    except IndexUnavailable:  # being rebuilt: not yet
        return -1


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_the_child_indexes_and_is_woken_across_the_process_boundary(tmp_path, start_method):
    store_a(tmp_path)
    index, indexer = open_search_process(tmp_path, interval=SLOW, start_method=start_method)
    try:
        wait_until(lambda: found(index, "configuration", [A]) == 2, timeout=30, message="the first pass")
        child = psutil.Process(indexer.pid)
        assert child.pid != os.getpid() and child.nice() == psutil.Process().nice() + INDEXER_NICENESS
        assert not {"flask", "flask_socketio", "socketio"} & set(loaded_modules(child))

        store_b(tmp_path)  # a pass a minute: found this soon only because the wake reached the child
        indexer.wake()
        wait_until(lambda: found(index, "zanzibar", [B]) == 1, timeout=10, message="a pass on waking")
        shutil.rmtree(tmp_path / B)
        indexer.wake()
        wait_until(lambda: found(index, "zanzibar", [B]) == 0, timeout=10, message="the deleted crawl dropped")
        assert found(index, "configuration", [A]) == 2
    finally:
        indexer.stop()
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def loaded_modules(child: psutil.Process) -> list[str]:
    """The Python packages whose files the child has mapped or open (a C extension each)."""
    paths = [m.path for m in child.memory_maps()] + [f.path for f in child.open_files()]
    return [Path(path).parent.name for path in paths if "site-packages" in path]


def test_a_damaged_file_found_by_a_reader_is_rebuilt_by_the_child(tmp_path):
    store_a(tmp_path)
    index, indexer = open_search_process(tmp_path, interval=SLOW, start_method="forkserver")
    try:
        wait_until(lambda: found(index, "configuration", [A]) == 2, timeout=30, message="the first pass")
        index.path.write_bytes(b"this is not a database " * 4096)
        # The failed read tells the child (on_suspect), which checks the file and rebuilds it.
        wait_until(lambda: found(index, "configuration", [A]) == 2, timeout=10,
                   message="the index rebuilt from the crawl folders")
        assert index.path.read_bytes()[:16] == b"SQLite format 3\x00"
    finally:
        indexer.stop()


def test_stop_is_prompt_and_a_dead_child_is_replaced(tmp_path):
    store_a(tmp_path)
    index, indexer = open_search_process(tmp_path, start_method="forkserver")
    try:
        wait_until(lambda: found(index, "configuration", [A]) == 2, timeout=30, message="the first pass")
        first = psutil.Process(indexer.pid)
        first.kill()
        wait_until(lambda: indexer.pid not in (None, first.pid) and psutil.pid_exists(indexer.pid), timeout=10,
                   message="a new indexer process")
        store_b(tmp_path)
        wait_until(lambda: found(index, "zanzibar", [B]) == 1, timeout=10, message="the new process indexing")
        second = psutil.Process(indexer.pid)
    finally:
        started = time.monotonic()
        indexer.stop()
    assert time.monotonic() - started < 3
    assert not second.is_running() or second.status() == psutil.STATUS_ZOMBIE


SERVER = """
import sys, time
from pathlib import Path
from crawler.outputs.search_process import open_search_process
index, indexer = open_search_process(Path(sys.argv[1]), start_method=sys.argv[2])
print(indexer.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_the_child_leaves_when_its_server_is_killed(tmp_path, start_method):
    store_a(tmp_path)
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp_path), start_method], cwd=PROJECT_ROOT,
                              stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    try:
        child = psutil.Process(int(server.stdout.readline()))
        assert child.is_running()
    finally:
        server.kill()  # no clean-up of its own: the kernel closes its end of the pipe
        server.wait(10)
    wait_until(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, timeout=10,
               message="the indexer gone with its server")


def test_the_server_option_defaults_to_the_child_process():
    assert ServerConfig().search_indexer == "process"
    assert ServerConfig.from_env({"CRAWLER_SEARCH_INDEXER": "thread"}).search_indexer == "thread"
    assert ServerConfig.from_env({}).search_indexer == "process"
    with pytest.raises(ValueError, match="search_indexer must be one of process, thread, got 'fork'"):
        ServerConfig(search_indexer="fork")
