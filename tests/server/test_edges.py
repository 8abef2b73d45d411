"""Hard edges: robots.txt that misbehaves, a full disk, a lost final event, fetch threads that
outlive a stop, and regexes only the unbounded engine can read.

Each test drives the real component (the controller with a RecordingSink, the local test sites,
a real small filesystem, a real subprocess); none of them mocks the part under test.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.hostile import HostileSite
from tests.support.server import PROJECT_ROOT

# ---- a stopped crawl does not hold the process open -------------------------------------------

EXIT_SCRIPT = """
import sys, threading, time
from crawler.engine.config import parse_crawl_config
from crawler.engine.controller import CrawlController
from crawler.engine.cpu import CpuPool
from crawler.engine.events import RecordingSink
from crawler.folder.writer import CrawlStore
from crawler.engine.threads import DaemonThreadPool

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
