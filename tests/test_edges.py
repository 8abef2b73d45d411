"""Hard edges: robots.txt that misbehaves, a full disk, a lost final event, fetch threads that
outlive a stop, and regexes only the unbounded engine can read.

Each test drives the real component (the controller with a RecordingSink, the local test sites,
a real small filesystem, a real subprocess); none of them mocks the part under test.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from crawler.config import ConfigError, parse_crawl_config
from crawler.controller import CrawlController
from crawler.cpu import CpuPool
from crawler.events import Event, RecordingSink
from crawler.store import CrawlStore
from crawler.threads import DaemonThreadPool
from crawler.urls import matches_any
from tests.conftest import PROJECT_ROOT
from tests.docsite import DocSite, SiteOptions
from tests.hostile_site import HostileSite


@pytest.fixture(scope="module")
def cpu() -> Iterator[CpuPool]:
    pool = CpuPool(1)
    yield pool
    pool.shutdown()


@pytest.fixture(scope="module")
def docsite() -> Iterator[DocSite]:
    site = DocSite(SiteOptions(pages=5, extra_links=False)).start()
    yield site
    site.stop()

# ---- regexes: no path runs without a time limit ----------------------------------------------

# The standard `re` reads this as a character set; the time-limited `regex` engine refuses it.
ONLY_STDLIB_READS = "re:[[:foo:]]"


def test_a_regex_only_the_unbounded_engine_can_read_is_refused_at_input():
    with pytest.raises(ConfigError, match=r"exclude pattern 're:\[\[:foo:\]\]' cannot be used: "):
        parse_crawl_config({"url": "docs.example.org", "exclude": [ONLY_STDLIB_READS]})


def test_matching_never_falls_back_to_the_unbounded_engine():
    """A pattern that skipped validation is refused when matched, never run without a limit."""
    with pytest.raises(ValueError, match="time-limited"):
        matches_any("https://docs.example.org/docs/a", (ONLY_STDLIB_READS,))


# ---- the final event is not lost to one failed emit --------------------------------------------


class FlakyFinishSink(RecordingSink):
    """Records every event; the first `failures` emits of crawler_finished raise, as a dying
    socket or a full message queue would."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.finish_attempts = 0

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        if event == Event.FINISHED.value:
            self.finish_attempts += 1
            if self.finish_attempts <= self.failures:
                raise ConnectionError(f"listener unavailable (attempt {self.finish_attempts})")
        super().emit(event, payload)


def small_crawl(tmp_path: Path, cpu: CpuPool, sink: RecordingSink, site: DocSite) -> dict[str, Any]:
    config = parse_crawl_config({"url": site.base + "/docs/", "use_sitemaps": False, "max_pages": 3,
                                 "concurrency": 2})
    controller = CrawlController("edge", config, CrawlStore(tmp_path / "crawl"), sink, threading.Event(), cpu)
    return controller.run()


def test_crawler_finished_survives_transient_emit_failures(tmp_path: Path, cpu: CpuPool, docsite: DocSite):
    sink = FlakyFinishSink(failures=2)
    summary = small_crawl(tmp_path, cpu, sink, docsite)
    assert summary["state"] == "completed"
    finished = sink.of(Event.FINISHED)
    assert len(finished) == 1 and finished[0]["state"] == "completed", "delivered on the third try"
    assert sink.finish_attempts == 3
    assert [name for name, _ in sink.events][-1] == Event.FINISHED.value


def test_a_final_event_that_never_goes_out_is_logged_loudly_and_bounded(tmp_path: Path, cpu: CpuPool,
                                                                       docsite: DocSite, caplog):
    sink = FlakyFinishSink(failures=1000)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="crawler"):
        summary = small_crawl(tmp_path, cpu, sink, docsite)
    assert summary["state"] == "completed"
    assert time.monotonic() - started < 10
    assert 2 < sink.finish_attempts < 10, "a few tries, not one and not forever"
    assert any("crawler_finished" in record.getMessage() and "could not be delivered" in record.getMessage()
               and record.levelno == logging.ERROR for record in caplog.records)


# ---- a stopped crawl does not hold the process open -------------------------------------------

EXIT_SCRIPT = """
import sys, threading, time
from crawler.config import parse_crawl_config
from crawler.controller import CrawlController
from crawler.cpu import CpuPool
from crawler.events import RecordingSink
from crawler.store import CrawlStore
from crawler.threads import DaemonThreadPool

def main():
    url, folder = sys.argv[1], sys.argv[2]
    cpu = CpuPool(1)
    config = parse_crawl_config({"url": url, "timeout": 60, "respect_robots": False, "use_sitemaps": False})
    controller = CrawlController("exit", config, CrawlStore(folder), RecordingSink(), threading.Event(), cpu)
    runner = threading.Thread(target=controller.run)
    runner.start()
    deadline = time.monotonic() + 20
    while controller.tracker.snapshot()["in_flight"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # the request is at the server, which never answers
    controller.request_stop("test stop")
    runner.join(10)
    cpu.shutdown()
    print("returned", controller.summary["state"], flush=True)

main()
"""


def test_a_process_exits_promptly_after_stopping_a_crawl_whose_fetch_hangs(tmp_path: Path):
    """The fetch of /stall would wait 60 s for an answer; after the stop nothing may wait for it."""
    site = HostileSite().start()
    try:
        process = subprocess.Popen([sys.executable, "-c", EXIT_SCRIPT, site.url("/stall"), str(tmp_path / "crawl")],
                                   cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = process.stdout.readline()  # main() has returned once this arrives
            returned_at = time.monotonic()
            assert line.strip() == "returned stopped", (line, process.stderr.read() if process.poll() else "")
            assert site.hits["/stall"] == 1, "the fetch was in flight when the crawl was stopped"
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pytest.fail("the process was still running 5 s after main() returned (a fetch thread held it)")
            assert time.monotonic() - returned_at < 2.0
            assert process.returncode == 0, process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    finally:
        site.stop()


def test_the_daemon_pool_keeps_the_executor_contract():
    pool = DaemonThreadPool(2, thread_name_prefix="edge")
    release = threading.Event()
    assert pool.submit(lambda x: x * 2, 21).result(timeout=5) == 42
    failing = pool.submit(lambda: 1 / 0)
    assert isinstance(failing.exception(timeout=5), ZeroDivisionError)
    blockers = [pool.submit(release.wait, 10) for _ in range(2)]
    queued = pool.submit(lambda: "never")
    assert len(pool._threads) == 2, "idle threads are reused, at most max_workers run"
    assert all(thread.daemon for thread in pool._threads)
    pool.shutdown(wait=False, cancel_futures=True)
    assert queued.cancelled()
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)
    release.set()
    assert all(blocker.result(timeout=5) is True for blocker in blockers), "running work finishes"
