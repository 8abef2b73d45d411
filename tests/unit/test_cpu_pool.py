"""The extraction workers (crawler/engine/cpu.py): each page goes to an idle worker over that
worker's own pipe, so a page that kills its worker takes no other page with it, and a stop is
seen while a worker is still busy."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from crawler.engine.cpu import CRASH_MARKER_ENV, CpuPool, WorkerCrashed
from crawler.engine.errors import StopRequested

MARKER = "KILL-THIS-WORKER"
PAGE = b"<html><head><title>T</title></head><body><main><p>" + b"words " * 200 + b"</p></main></body></html>"


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> Iterator[CpuPool]:
    """Two spawned workers (they read the crash marker from the environment they start with)."""
    monkeypatch.setenv(CRASH_MARKER_ENV, MARKER)
    pool = CpuPool(2, start_method="spawn")
    pool.warm_up()
    yield pool
    pool.shutdown()


def test_a_page_that_kills_its_worker_fails_alone_and_the_others_are_untouched(spawned: CpuPool):
    stop = threading.Event()
    killer = PAGE.replace(b"words", MARKER.encode(), 1)
    with ThreadPoolExecutor(8) as threads:
        crash = threads.submit(spawned.analyze, killer, "utf-8", "http://x.org/killer", stop=stop)
        others = [threads.submit(spawned.analyze, PAGE, "utf-8", f"http://x.org/{n}", stop=stop) for n in range(12)]
        assert [future.result(timeout=120).title for future in others] == ["T"] * 12
        with pytest.raises(WorkerCrashed, match="crashed its worker process"):
            crash.result(timeout=120)
    assert spawned.analyze(PAGE, "utf-8", "http://x.org/after", stop=stop).title == "T"
    assert 1 <= len(spawned_workers()) <= 2  # the dead ones are gone; replacements start as pages need them


def spawned_workers() -> list[psutil.Process]:
    """The spawned workers alive (one that ended is a zombie until the pool's next start reaps it)."""
    alive = []
    for child in psutil.Process().children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "multiprocessing.spawn" in " ".join(child.cmdline()):
                alive.append(child)
        except psutil.Error:
            continue
    return alive


def test_a_stop_is_seen_while_a_worker_is_busy_and_the_worker_serves_again(spawned: CpuPool):
    stop = threading.Event()
    paragraph = b"<p>Some words and <a href='/a'>a link</a>, <code>code</code> and <em>more</em>.</p>"
    big = b"<html><body><main>" + paragraph * 50_000 + b"</main></body></html>"  # seconds of extraction
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    with pytest.raises(StopRequested):
        spawned.analyze(big, "utf-8", "http://x.org/big", stop=stop)
    assert time.monotonic() - started < 2.0  # the page alone takes seconds
    again = threading.Event()
    results = [spawned.analyze(PAGE, "utf-8", f"http://x.org/{n}", stop=again).title for n in range(4)]
    assert results == ["T"] * 4


def test_a_worker_grown_past_its_limit_answers_then_leaves_for_a_fresh_one():
    pool = CpuPool(1, start_method="spawn", leave_after_growth=-1)  # every worker has grown "too much"
    stop = threading.Event()
    try:
        served_by = []
        for n in range(3):
            assert pool.analyze(PAGE, "utf-8", f"http://x.org/{n}", stop=stop).title == "T"
            served_by.append(next(iter(pool._live)).process.pid if pool._live else None)
        # Each page was answered, and its worker then left: none is kept, the next page starts one.
        assert served_by == [None, None, None]
        assert wait_for(lambda: not spawned_workers(), 10)
    finally:
        pool.shutdown()
    kept = CpuPool(1, start_method="spawn")  # the default limit: a small page keeps its worker
    try:
        kept.analyze(PAGE, "utf-8", "http://x.org/a", stop=stop)
        [worker] = kept._live
        kept.analyze(PAGE, "utf-8", "http://x.org/b", stop=stop)
        assert kept._live == {worker} and worker.process.is_alive()
    finally:
        kept.shutdown()


def wait_for(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()
