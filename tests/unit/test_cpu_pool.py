"""The extraction workers (crawler/engine/cpu.py): each page goes to a worker over that worker's
own pipe (a small one may wait there behind the page the worker is on), so a page that kills its
worker fails no other page, and a stop is seen while a worker is still busy."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psutil
import pytest

from crawler.engine.cpu import CRASH_MARKER_ENV, CpuPool, WorkerCrashed
from crawler.engine.errors import StopRequested
from crawler.engine.priority import WORKER_NICENESS

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


BIG = (b"<html><body><main>" + b"<p>Some words and <a href='/a'>a link</a>, <code>code</code>.</p>" * 30_000
       + b"</main></body></html>")  # a second or more of extraction


@pytest.fixture
def one() -> Iterator[tuple[CpuPool, Any]]:
    """A pool of one spawned worker, started: the pool and its worker."""
    pool = CpuPool(1, start_method="spawn")
    pool.warm_up()
    [worker] = pool._live
    yield pool, worker
    pool.shutdown()


def on_a_large_page(pool: CpuPool, worker: Any, threads: ThreadPoolExecutor, stop: threading.Event) -> Future:
    """Gives the worker BIG (a second or more of work) and returns its future once it holds it."""
    future = threads.submit(pool.analyze, BIG, "utf-8", "http://x.org/big", stop=stop)
    assert wait_for(lambda: worker.held == 1, 10)
    return future


def test_a_busy_worker_holds_the_next_small_page_in_its_pipe_and_answers_in_order(one):
    pool, worker = one
    stop = threading.Event()
    with ThreadPoolExecutor(4) as threads:
        slow = on_a_large_page(pool, worker, threads, stop)
        big_too = threads.submit(pool.analyze, BIG, "utf-8", "http://x.org/big2", stop=stop)
        time.sleep(0.2)
        assert worker.held == 1, "a large page never queues behind another: it waits for an idle worker"
        assert slow.result(timeout=60).links
        assert wait_for(lambda: worker.held == 1, 10)  # the second large page
        small = threads.submit(pool.analyze, PAGE, "utf-8", "http://x.org/small", stop=stop)
        assert wait_for(lambda: worker.held == 2, 10), "the small page waits in the busy worker's pipe"
        assert small.result(timeout=60).title == "T" and big_too.result(timeout=60).links
    assert pool._live == {worker} and worker.held == 0


def test_a_page_queued_behind_a_crash_is_not_blamed_for_it(one):
    pool, worker = one
    pool.CRASH_ATTEMPTS = 1  # the first crash fails the page the worker was on
    stop = threading.Event()
    with ThreadPoolExecutor(4) as threads:
        slow = on_a_large_page(pool, worker, threads, stop)
        behind = threads.submit(pool.analyze, PAGE, "utf-8", "http://x.org/behind", stop=stop)
        assert wait_for(lambda: worker.held == 2, 10)
        time.sleep(0.3)  # on the large page (or still reading it): the page behind is not blamed either way
        os.kill(worker.process.pid, signal.SIGKILL)
        with pytest.raises(WorkerCrashed):
            slow.result(timeout=60)
        assert behind.result(timeout=60).title == "T", "the page behind went to a fresh worker, no attempt lost"
    assert worker not in pool._live


def test_a_stop_reaches_a_page_waiting_behind_another_and_the_worker_serves_on(one):
    pool, worker = one
    stop, other = threading.Event(), threading.Event()
    with ThreadPoolExecutor(4) as threads:
        slow = on_a_large_page(pool, worker, threads, other)
        queued = threads.submit(pool.analyze, PAGE, "utf-8", "http://x.org/queued", stop=stop)
        assert wait_for(lambda: worker.held == 2, 10)
        started = time.monotonic()
        stop.set()
        with pytest.raises(StopRequested):
            queued.result(timeout=10)
        assert time.monotonic() - started < 0.5, "a stop does not wait for the page ahead"
        assert slow.result(timeout=60).links, "the page ahead (another crawl's) is answered"
    assert wait_for(lambda: worker.held == 0, 10), "the stopped page's answer was read for nobody"
    assert pool.analyze(PAGE, "utf-8", "http://x.org/after", stop=other).title == "T"
    assert pool._live == {worker}


def test_a_worker_runs_below_the_server_and_above_the_index_writer(one):
    """The server's threads answer the dashboard: under a CPU-bound crawl they get a core first."""
    pool, worker = one
    pool.analyze(PAGE, "utf-8", "http://x.org/a", stop=threading.Event())
    assert psutil.Process(worker.process.pid).nice() == min(19, psutil.Process().nice() + WORKER_NICENESS)
