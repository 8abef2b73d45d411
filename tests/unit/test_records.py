"""The embedded mode's crawl store: what a finished crawl keeps of its recent lines."""

from __future__ import annotations

import json

from crawler.engine.config import parse_crawl_config
from crawler.engine.events import State
from crawler.service.records import RECENT_LINES, CrawlRecord, MemoryCrawlStates


def _lines(count: int, kind: str) -> list[dict]:
    return [{"kind": kind, "n": n, "url": f"https://docs.example.org/page-{n}.html", "message": f"saved page {n} ✓"}
            for n in range(count)]


def test_a_finished_crawls_recent_lines_are_kept_packed_and_read_back_the_same():
    states = MemoryCrawlStates()
    states.add(CrawlRecord("c1", "owner", parse_crawl_config({"url": "https://docs.example.org/"}), "2026-12-03T00:00:00Z"))
    logs, pages = _lines(RECENT_LINES + 50, "log"), _lines(RECENT_LINES + 10, "page")
    states.add_recent("c1", logs[:100], pages[:100])
    states.add_recent("c1", logs[100:], pages[100:])
    running = states.recent("c1")
    assert running == (logs[-RECENT_LINES:], pages[-RECENT_LINES:])

    states.finish("c1", State.COMPLETED, {"ok": 1})
    kept = states._recent["c1"]
    assert kept.packed is not None and not kept.logs and not kept.pages, "an ended crawl's lines are one packed text"
    assert len(kept.packed) < len(json.dumps(running)) / 4
    assert states.recent("c1") == running

    late = _lines(3, "late")  # a line relayed after the end still lands after the others
    states.add_recent("c1", late, [])
    assert states.recent("c1") == (logs[-RECENT_LINES + 3:] + late, pages[-RECENT_LINES:])
