"""Hard edges: robots.txt that misbehaves, a full disk, a lost final event, fetch threads that
outlive a stop, and regexes only the unbounded engine can read.

Each test drives the real component (the controller with a RecordingSink, the local test sites,
a real small filesystem, a real subprocess); none of them mocks the part under test.
"""

from __future__ import annotations

import json
import logging
import resource
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from crawler.engine.config import ConfigError, parse_crawl_config
from crawler.engine.controller import CrawlController
from crawler.engine.cpu import CpuPool
from crawler.engine.events import Event, RecordingSink, State
from crawler.engine.resume import can_resume, load_resume_state
from crawler.engine.robots import robots_text
from crawler.engine.threads import DaemonThreadPool
from crawler.engine.urls import matches_any
from crawler.folder.reader import iter_manifest
from crawler.folder.writer import CrawlStore, DiskFull, StoreClosed
from tests.support.hostile import HostileSite
from tests.support.server import wait_until
from tests.support.site import DocSite, SiteOptions


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KB


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


def test_the_daemon_pool_keeps_the_executor_contract():
    pool = DaemonThreadPool(2, thread_name_prefix="edge")
    release = threading.Event()
    assert pool.submit(lambda x: x * 2, 21).result(timeout=5) == 42
    failing = pool.submit(lambda: 1 / 0)
    assert isinstance(failing.exception(timeout=5), ZeroDivisionError)
    blockers = [pool.submit(release.wait, 10) for _ in range(2)]
    queued = pool.submit(lambda: "never")
    wait_until(lambda: all(blocker.running() for blocker in blockers), timeout=5)
    assert len(pool._threads) == 2, "idle threads are reused, at most max_workers run"
    assert all(thread.daemon for thread in pool._threads)
    pool.shutdown(wait=False, cancel_futures=True)
    assert queued.cancelled()
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)
    release.set()
    assert all(blocker.result(timeout=5) is True for blocker in blockers), "running work finishes"


# ---- robots.txt that misbehaves ------------------------------------------------------------------

GOOD_PAGES = ("/good/1", "/good/2", "/good/3")  # ROBOTS_TEXT disallows /good/2


def robots_crawl(site: HostileSite, folder: Path, cpu: CpuPool, *, timeout: float = 2,
                 resume: bool = False) -> tuple[CrawlController, threading.Thread]:
    """A selection of the three good pages (robots.txt applies to a selection too), in a thread."""
    config = parse_crawl_config({"urls": [site.url(path) for path in GOOD_PAGES], "timeout": timeout,
                                 "use_sitemaps": False, "concurrency": 3})
    controller = CrawlController("robots", config, CrawlStore(folder), RecordingSink(), threading.Event(), cpu,
                                 resume=load_resume_state(folder) if resume else None)
    thread = threading.Thread(target=controller.run, daemon=True)
    thread.start()
    return controller, thread


def finish_within(thread: threading.Thread, seconds: float, site: HostileSite) -> None:
    thread.join(seconds)
    if thread.is_alive():
        site.stop()  # unblocks a crawl stuck on the site, so the test can end
        thread.join(30)
        pytest.fail(f"the crawl did not end within {seconds} s")


def outcomes(folder: Path, site: HostileSite) -> dict[str, tuple[str, str | None]]:
    return {record["url"].removeprefix(site.base): (record["status"], record["reason"])
            for record in iter_manifest(folder)}


EXPECTED_WITH_ROBOTS = {"/good/1": ("ok", None), "/good/2": ("skipped", "robots"), "/good/3": ("ok", None)}


def test_an_endless_robots_txt_is_read_up_to_its_cap_and_the_crawl_goes_on(tmp_path: Path, cpu: CpuPool):
    site = HostileSite(robots="endless").start()
    try:
        before = max_rss_mb()
        controller, thread = robots_crawl(site, tmp_path / "crawl", cpu)
        finish_within(thread, 20, site)
        grown = max_rss_mb() - before
    finally:
        site.stop()
    assert controller.summary["state"] == "completed", controller.summary
    assert outcomes(tmp_path / "crawl", site) == EXPECTED_WITH_ROBOTS, "the first 512 KiB were parsed"
    assert site.hits["/robots.txt"] == 1
    assert grown < 50, f"peak memory grew by {grown:.0f} MB reading robots.txt"
    assert any("larger than 512 KiB" in line["message"] for line in controller.tracker.recent_log)


def test_a_stalled_robots_txt_does_not_delay_a_stop(tmp_path: Path, cpu: CpuPool):
    site = HostileSite(robots="stall").start()
    try:
        controller, thread = robots_crawl(site, tmp_path / "crawl", cpu, timeout=10)
        wait_until(lambda: site.hits["/robots.txt"] >= 1, timeout=10)
        time.sleep(0.2)
        stopped_at = time.monotonic()
        controller.request_stop("test stop")
        finish_within(thread, 5, site)
        took = time.monotonic() - stopped_at
    finally:
        site.stop()
    assert took < 1.0, f"the stop took {took:.1f} s while robots.txt stalled"
    assert controller.summary["state"] == "stopped" and controller.summary["stop_reason"] == "test stop"
    assert list(iter_manifest(tmp_path / "crawl")) == []


def test_robots_txt_that_fails_twice_then_answers_is_retried_and_the_crawl_completes(tmp_path: Path, cpu: CpuPool):
    site = HostileSite(robots="flaky", robots_failures=2).start()
    try:
        controller, thread = robots_crawl(site, tmp_path / "crawl", cpu)
        finish_within(thread, 20, site)
    finally:
        site.stop()
    assert controller.summary["state"] == "completed", controller.summary
    assert site.hits["/robots.txt"] == 3
    assert outcomes(tmp_path / "crawl", site) == EXPECTED_WITH_ROBOTS
    retries = [line["message"] for line in controller.tracker.recent_log if "retrying in" in line["message"]]
    assert len(retries) == 2 and "HTTP 503" in retries[0]


@pytest.mark.parametrize(("mode", "why"), [("down", "HTTP 503 Service Unavailable"),
                                           ("stall", "no response within 1 s")])
@pytest.mark.slow
def test_robots_txt_that_stays_unreachable_ends_the_crawl_resumably(tmp_path: Path, cpu: CpuPool, mode, why):
    site = HostileSite(robots=mode).start()
    folder = tmp_path / "crawl"
    try:
        started = time.monotonic()
        controller, thread = robots_crawl(site, folder, cpu, timeout=1)
        finish_within(thread, 20, site)
        took = time.monotonic() - started
        summary = controller.summary
        assert summary["state"] == "interrupted", summary
        assert summary["stop_reason"] == (f"robots.txt of {site.base} could not be fetched ({why}); "
                                          "resume to try again")
        assert State(summary["state"]).is_resumable
        assert site.hits["/robots.txt"] == 4 and not any(site.hits[path] for path in GOOD_PAGES)
        assert took < 15, f"giving up took {took:.1f} s"
        assert list(iter_manifest(folder)) == [], "nothing was judged by a robots.txt nobody read"

        site.robots = "ok"  # the site is back: resuming asks again and crawls everything
        controller, thread = robots_crawl(site, folder, cpu, resume=True)
        finish_within(thread, 20, site)
    finally:
        site.stop()
    assert controller.summary["state"] == "completed", controller.summary
    assert outcomes(folder, site) == EXPECTED_WITH_ROBOTS


def test_a_robots_txt_cut_at_its_cap_loses_its_incomplete_last_line():
    assert robots_text(b"User-agent: *\nDisallow: /a\nAllow: /docs/priv", truncated=True) == "User-agent: *\nDisallow: /a\n"
    assert robots_text(b"Disallow: /a\nAllow: /b", truncated=False) == "Disallow: /a\nAllow: /b"
    assert robots_text(b"\xff\xfeDisallow: /x\n", truncated=False).endswith("Disallow: /x\n")


# ---- a full disk ------------------------------------------------------------------------------


def journal_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSON-lines file, each required whole: a torn line fails the test."""
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), f"{path.name} ends in a torn line"
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def test_a_full_disk_fails_the_crawl_keeps_what_was_saved_and_resumes_once_there_is_room(small_disk: Path,
                                                                                        cpu: CpuPool):
    site = DocSite(SiteOptions(pages=200, extra_links=False)).start()
    folder = small_disk / "crawl"
    config = parse_crawl_config({"url": site.base + "/docs/", "use_sitemaps": False, "respect_robots": False,
                                 "concurrency": 4})
    try:
        sink = RecordingSink()
        summary = CrawlController("full", config, CrawlStore(folder), sink, threading.Event(), cpu).run()
        assert summary["state"] == "failed", summary
        assert summary["stop_reason"].startswith(f"disk full at {folder}/"), summary["stop_reason"]
        assert sink.of(Event.FINISHED)[0]["state"] == "failed"
        assert can_resume(State.FAILED, summary), "a crawl that failed for want of space may be resumed"
        assert not can_resume(State.FAILED, {"stop_reason": "internal error: boom"})

        # What was saved is whole: every journal line parses, every saved page has its file.
        records = journal_lines(folder / "manifest.jsonl")
        saved = [record for record in records if record["status"] == "ok"]
        assert 5 < len(saved) < 200 and summary["ok"] == len(saved)
        assert not [record for record in records if record["status"] != "ok"], "no page failed for the disk"
        for record in saved:
            assert (folder / record["path"]).read_text().startswith("# Page "), record
        assert journal_lines(folder / "discovered.jsonl")
        assert not list(folder.rglob(".tmp-*.part")), "no half-written page file"
        fetched_first = Counter(site.hits)

        # Room again: the crawl continues where it stopped and completes, no saved page fetched again.
        subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
        summary = CrawlController("full", config, CrawlStore(folder), RecordingSink(), threading.Event(), cpu,
                                  resume=load_resume_state(folder)).run()
    finally:
        site.stop()
    assert summary["state"] == "completed", summary
    records = journal_lines(folder / "manifest.jsonl")
    assert Counter(record["status"] for record in records) == {"ok": 200}
    assert len({record["url"] for record in records}) == 200, "one record per page"
    refetched = [record["url"] for record in saved if site.hits[urlsplit(record["url"]).path] > 1]
    assert not refetched and all(fetched_first[urlsplit(r["url"]).path] == 1 for r in saved)


def test_a_journal_line_the_disk_cannot_take_is_cut_back_and_nothing_is_written_after_it(small_disk: Path):
    store = CrawlStore(small_disk / "crawl")
    store.open()
    written = 0
    with pytest.raises(DiskFull) as full:
        while True:  # records only: the manifest itself fills the disk
            store.record(url=f"https://x.org/{written}/" + "x" * 900, status="failed", error="e", depth=0,
                         http_status=None, fetched_at="t")
            written += 1
    assert full.value.reason == f"disk full at {small_disk / 'crawl' / 'manifest.jsonl'}"
    with pytest.raises(StoreClosed):
        store.record(url="https://x.org/late", status="failed", error="e", depth=0, http_status=None,
                     fetched_at="t")
    store.close()
    assert len(journal_lines(small_disk / "crawl" / "manifest.jsonl")) == written
