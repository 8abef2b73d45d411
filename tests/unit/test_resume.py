"""Crash safety and resume: torn journals, stop-then-resume in the engine, kill -9 of the real server."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from crawler.engine.config import parse_crawl_config
from crawler.engine.controller import CrawlController
from crawler.engine.cpu import CpuPool
from crawler.engine.events import Event, RecordingSink
from crawler.engine.resume import load_resume_state
from crawler.folder.reader import iter_manifest
from crawler.folder.writer import CrawlStore, drop_torn_tail
from tests.support.server import wait_until
from tests.support.site import DocSite, SiteOptions, page_path


def manifest(crawl_dir: Path) -> list[dict[str, Any]]:
    return list(iter_manifest(crawl_dir))


# ---- the journal after a crash ----

def test_torn_last_line_is_cut_and_the_next_record_is_kept(tmp_path: Path):
    store = CrawlStore(tmp_path)
    store.open()
    store.record(url="http://a/1", status="failed", error="x", depth=0, http_status=500, fetched_at="t")
    store.close()
    with open(tmp_path / "manifest.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"url": "http://a/2", "status": "o')  # the process died mid-write
    assert [e["url"] for e in manifest(tmp_path)] == ["http://a/1"]  # reading ignores the torn line

    store = CrawlStore(tmp_path)
    store.open()  # appending after a crash: the torn tail goes first
    store.record(url="http://a/3", status="skipped", error="y", depth=1, http_status=None, fetched_at="t")
    store.close()
    assert [e["url"] for e in manifest(tmp_path)] == ["http://a/1", "http://a/3"]
    assert (tmp_path / "manifest.jsonl").read_bytes().endswith(b"\n")


def test_drop_torn_tail_handles_whole_and_headless_files(tmp_path: Path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n')
    assert drop_torn_tail(path) == 0
    path.write_bytes(b'{"a": 1' * 20000)  # one torn line longer than the search block, no newline at all
    assert drop_torn_tail(path) == 140000 and path.read_bytes() == b""


def test_half_written_page_files_are_removed_and_saved_paths_are_not_reused(tmp_path: Path):
    store = CrawlStore(tmp_path)
    store.open()
    first = store.save_page(url="http://a/docs/x.html", document="one", title="X", depth=0, http_status=200,
                            words=1, fetched_at="t")
    store.close()
    (tmp_path / "pages" / "docs" / ".tmp-abc.part").write_text("half a page")
    store = CrawlStore(tmp_path)
    store.open()
    second = store.save_page(url="http://a/docs/x.htm", document="two", title="X2", depth=0, http_status=200,
                             words=1, fetched_at="t")
    store.close()
    assert not list(tmp_path.rglob(".tmp-*"))
    assert first.path != second.path  # the page saved before the restart is not overwritten
    assert (tmp_path / first.path).read_text() == "one"


def test_resume_state_is_the_journal_minus_the_manifest(tmp_path: Path):
    lines = [{"url": f"http://a/{n}", "source": "link", "depth": 1} for n in range(5)]
    (tmp_path / "discovered.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    records = [
        {"url": "http://a/0", "status": "ok", "path": "pages/0.md"},
        {"url": "http://a/1", "status": "failed", "reason": "http_error"},
        {"url": "http://a/2", "status": "ok", "path": "pages/2.md", "canonical": "http://a/canon"},
        {"url": "http://b/", "status": "skipped", "reason": "out_of_scope"},
    ]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + '{"url": "ht')
    state = load_resume_state(tmp_path)
    assert [r.url for r in state.pending] == ["http://a/3", "http://a/4"]
    assert state.counts == {"ok": 2, "failed": 1, "skipped": 0}  # a refused link is not a page
    assert state.skip_reasons == {}
    assert state.refused == {"out_of_scope": 1}
    assert state.stored_keys == {"http://a/0", "http://a/canon"}
    assert state.discovered == 5
    assert {"http://a/1", "http://b/", "http://a/canon", "http://a/3"} <= state.seen


# ---- stop, then resume, in the engine ----

def run_controller(crawl_dir: Path, config: dict[str, Any], cpu: CpuPool, *, stop_after_ok: int | None = None,
                   resume: bool = False) -> tuple[dict[str, Any], RecordingSink]:
    sink = RecordingSink()
    stop = threading.Event()
    resume_state = load_resume_state(crawl_dir) if resume else None
    controller = CrawlController("c1", parse_crawl_config(config), CrawlStore(crawl_dir), sink, stop, cpu,
                                 resume=resume_state)
    if stop_after_ok is not None:
        def stopper() -> None:
            wait_until(lambda: controller.tracker.counts["ok"] >= stop_after_ok, timeout=30)
            controller.request_stop("test stop")
        threading.Thread(target=stopper, daemon=True).start()
    return controller.run(), sink


def test_stopped_crawl_resumes_without_refetching_or_duplicates(tmp_path: Path, cpu: CpuPool):
    site = DocSite(SiteOptions(pages=40, latency=0.02, extra_links=False)).start()
    try:
        config = {"url": site.base + "/docs/", "concurrency": 2, "use_sitemaps": False}
        first, _ = run_controller(tmp_path, config, cpu, stop_after_ok=8)
        assert first["state"] == "stopped"
        saved_before = {e["url"] for e in manifest(tmp_path) if e["status"] == "ok"}
        assert len(saved_before) >= 8

        second, sink = run_controller(tmp_path, config, cpu, resume=True)
        assert second["state"] == "completed", second
        records = manifest(tmp_path)
        urls = Counter(e["url"] for e in records)
        assert max(urls.values()) == 1, [u for u, n in urls.items() if n > 1]
        assert {urlsplit(u).path for u, n in urls.items()} == {page_path(i) for i in range(40)}
        assert second["ok"] == 40 and second["pages_handled"] == 40
        for url in saved_before:  # stored before the stop: fetched exactly once overall
            assert len(site.times_of(urlsplit(url).path)) == 1, url
        assert any(line["message"].startswith("resuming: ") for line in sink.of(Event.LOG))
    finally:
        site.stop()


def test_resumed_crawl_keeps_the_page_budget(tmp_path: Path, cpu: CpuPool):
    site = DocSite(SiteOptions(pages=40, latency=0.01, extra_links=False)).start()
    try:
        config = {"url": site.base + "/docs/", "concurrency": 2, "use_sitemaps": False, "max_pages": 12}
        run_controller(tmp_path, config, cpu, stop_after_ok=5)
        second, _ = run_controller(tmp_path, config, cpu, resume=True)
        assert second["state"] == "completed"
        assert sum(1 for e in manifest(tmp_path) if e["status"] == "ok") == 12
    finally:
        site.stop()


def log_seqs(lines: list[dict[str, Any]]) -> list[int]:
    """The numbered log lines' seqs, in the order they were emitted."""
    return [line["seq"] for line in lines if line["seq"] is not None]


def test_log_seq_continues_across_resumes(tmp_path: Path, cpu: CpuPool):
    """A client merging log lines by seq (docs/events.md) loses none after a resume: the
    numbering goes on from the crawl folder, with no repeat, across stop → resume → stop → resume."""
    site = DocSite(SiteOptions(pages=40, latency=0.02, extra_links=False)).start()
    try:
        config = {"url": site.base + "/docs/", "concurrency": 2, "use_sitemaps": False}
        _, first = run_controller(tmp_path, config, cpu, stop_after_ok=5)
        _, second = run_controller(tmp_path, config, cpu, stop_after_ok=15, resume=True)
        third_summary, third = run_controller(tmp_path, config, cpu, resume=True)
        assert third_summary["state"] == "completed"
        runs = [log_seqs(sink.of(Event.LOG)) for sink in (first, second, third)]
        assert all(runs)
        seqs = [seq for run in runs for seq in run]
        assert seqs[0] == 1
        assert all(a < b for a, b in zip(seqs, seqs[1:])), seqs  # strictly increasing: no repeat
        # After a clean stop the numbering goes on without a gap.
        assert runs[1][0] == runs[0][-1] + 1 and runs[2][0] == runs[1][-1] + 1
    finally:
        site.stop()


def test_requests_to_a_blocked_address_are_never_sent(tmp_path: Path):
    """The connect-time guard: a redirect from an allowed address to a refused one sends nothing."""
    from crawler.engine.errors import FetchFailed
    from crawler.engine.fetch import fetch_page
    from crawler.engine.netguard import guard_session

    secret = DocSite(SiteOptions(pages=2, extra_links=False), host="127.0.0.2").start()
    front = DocSite(SiteOptions(pages=2, extra_links=False,
                                redirects={"/docs/": secret.base + "/docs/"})).start()
    try:
        session = guard_session(requests.Session(), lambda address: "private" if address == "127.0.0.2" else None)
        with pytest.raises(FetchFailed) as failure:
            fetch_page(session, front.base + "/docs/", timeout=5, stop=threading.Event(),
                       check_redirect=lambda target: None)
        assert failure.value.code == "blocked_address" and "127.0.0.2" in failure.value.reason
        assert front.hits["/docs/"] == 1 and not secret.requests
    finally:
        front.stop()
        secret.stop()
