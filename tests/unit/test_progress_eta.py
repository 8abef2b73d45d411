"""Refused links counted apart, the estimate of the final total, the refusal summary in the log."""

from __future__ import annotations

import pytest

from crawler.engine.estimate import estimate_final_total
from crawler.engine.events import PAYLOAD_FIELDS, Event, State
from crawler.engine.progress import ProgressTracker, RefusalSummary


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_refusal_summary_says_one_line_per_reason_every_interval_naming_the_first_urls():
    clock = Clock()
    summary = RefusalSummary(clock, interval=5.0, examples=3)
    assert summary.due() == [], "nothing refused: nothing to say"
    for n in range(1200):
        summary.add("robots", f"http://a/private/{n}", "disallowed by robots.txt")
    summary.add("out_of_scope", "http://b/", "outside the crawl's scope")
    clock.now = 4.9
    assert summary.due() == [], "not before the interval"
    clock.now = 5.0
    lines = summary.due()
    assert lines == [
        "not followed: 1,200 links disallowed by robots.txt (robots): http://a/private/0, http://a/private/1, "
        "http://a/private/2 and 1,197 more",
        "not followed: 1 link outside the crawl's scope (out_of_scope): http://b/",
    ]
    assert summary.due(force=True) == [], "each refusal is told once"
    summary.add("robots", "http://a/private/x", "disallowed by robots.txt")
    clock.now = 6.0
    assert summary.due() == [], "the interval counts from the last summary"
    assert summary.due(force=True) == ["not followed: 1 link disallowed by robots.txt (robots): http://a/private/x"]


def test_refused_links_are_counted_apart_and_summarised_in_the_log():
    clock = Clock()
    tracker = ProgressTracker("c", "s", clock=clock)
    tracker.set_state(State.RUNNING, "go")
    tracker.page_done("http://a/", "ok", 0)
    tracker.page_done("http://a/x.pdf", "skipped", 1, reason="not_html")
    for n in range(50):
        tracker.page_refused(f"http://a/private/{n}", "robots", "disallowed by robots.txt", 1, "link")
    tracker.page_refused("http://b/", "out_of_scope", "outside the crawl's scope", 1, "link")
    tracker.set_frontier(pending=3, queued=3, final=False, discovered=5)
    snapshot = tracker.snapshot()
    assert set(snapshot) == set(PAYLOAD_FIELDS[Event.PROGRESS])
    assert (snapshot["current"], snapshot["skipped"], snapshot["total"]) == (2, 1, 5)
    assert snapshot["skip_reasons"] == {"not_html": 1}
    assert snapshot["refused"] == {"robots": 50, "out_of_scope": 1}
    _, pages, logs, _ = tracker.drain()
    refused_rows = [p for p in pages if p["reason"] == "robots"]
    assert len(refused_rows) == 50 and all(p["status"] == "skipped" and p["stage"] == "done" for p in refused_rows)
    assert logs == [], "no line per refused link"
    clock.now = 5.0
    tracker.flush_refusals()
    _, _, logs, _ = tracker.drain()
    assert [line["message"].split(":")[0] for line in logs] == ["not followed", "not followed"]
    assert "50 links disallowed by robots.txt" in logs[0]["message"]


def test_restored_refusals_continue_from_the_earlier_run():
    tracker = ProgressTracker("c", "s")
    tracker.restore_counts({"ok": 3, "failed": 0, "skipped": 1}, {"duplicate": 1}, {"robots": 7})
    tracker.page_refused("http://a/p", "robots", "disallowed by robots.txt", 1)
    snapshot = tracker.snapshot()
    assert snapshot["refused"] == {"robots": 8} and snapshot["current"] == 4


def test_estimate_of_the_final_total():
    # Final, or nothing known about the ratio yet: the known total.
    assert estimate_final_total(10, 40, True, 0.5) == 40
    assert estimate_final_total(10, 40, False, None) == 40
    # A site found in full (sitemap, or links that only lead to known pages): the known total.
    assert estimate_final_total(600, 1200, False, 0.0, listed=1200) == 1200
    # Each handled page still adds half a page: 30 pending add 15, which add 7.5...: 30 in all.
    assert estimate_final_total(10, 40, False, 0.5) == 70
    # A ratio of 1 or more: one more generation (the estimate grows as the crawl goes on).
    assert estimate_final_total(10, 40, False, 2.0) == 100
    # The sitemap count is a floor; the page budget a ceiling; never below the known total.
    assert estimate_final_total(10, 40, False, 0.0, listed=500) == 500
    assert estimate_final_total(10, 40, False, 2.0, budget_left=50) == 60
    assert estimate_final_total(10, 40, False, 2.0, budget_left=5) == 40


def test_eta_divides_the_estimated_remainder_by_the_speed():
    clock = Clock()
    tracker = ProgressTracker("c", "s", clock=clock)
    tracker.set_state(State.RUNNING, "go")
    # 20 pages handled in 10 s; each added one new page by a link: the site is not seen to end.
    for n in range(20):
        clock.now = n * 0.5
        tracker.page_done(f"u{n}", "ok", 1)
        tracker.link_offered(2, "link", "queued")
        tracker.set_frontier(pending=20, queued=20, final=False, discovered=1 + 20 + n, listed=0)
    clock.now = 10.0
    snapshot = tracker.snapshot()
    assert snapshot["speed"] == pytest.approx(2.0)
    # As far from the end as from the start (twice the pages handled), at most 5 times as far.
    assert snapshot["total"] == 40 and snapshot["total_estimate"] == 40 and snapshot["total_range"] == [40, 100]
    assert snapshot["eta"] == pytest.approx((40 - 20) / 2.0)
    assert snapshot["eta_range"] == pytest.approx([(40 - 20) / 2.2, (100 - 20) / 1.8], abs=0.05)
    tracker.set_frontier(pending=20, queued=20, final=True, discovered=41, listed=0)
    snapshot = tracker.snapshot()
    assert snapshot["total_estimate"] == 40 and snapshot["eta"] == pytest.approx(10.0)
    assert snapshot["total_range"] is None and snapshot["eta_range"] is None, "a known total is no range"


def test_a_pause_for_a_back_off_is_not_taken_for_a_slow_site():
    clock = Clock()
    tracker = ProgressTracker("c", "s", clock=clock)
    tracker.set_state(State.RUNNING, "go")
    for n in range(10):  # 10 pages in 5 s: 2 pages/s
        clock.now = 0.5 * (n + 1)
        tracker.page_done(f"u{n}", "ok", 1)
    backoff = [{"host": "a", "seconds_left": 4.0, "reason": "HTTP 429"}]
    tracker.set_frontier(pending=10, queued=10, final=True, backoff=backoff, paused=True)
    clock.now = 9.0  # 4 s of waiting: the speed is still 2 pages/s, and the wait left is added
    backoff[0]["seconds_left"] = 0.5
    tracker.set_frontier(pending=10, queued=10, final=True, backoff=backoff, paused=True)
    snapshot = tracker.snapshot()
    assert snapshot["speed"] == pytest.approx(2.0)
    assert snapshot["eta"] == pytest.approx(10 / 2.0 + 0.5)
    clock.now = 9.5
    tracker.set_frontier(pending=10, queued=10, final=True, backoff=[], paused=False)
    clock.now = 10.0
    tracker.page_done("u10", "ok", 1)
    snapshot = tracker.snapshot()
    assert snapshot["speed"] == pytest.approx(11 / 5.5), "the 4.5 s pause is left out of the speed"


def test_a_falling_discovery_ratio_is_taken_to_keep_falling():
    # 3 new pages per page 40 pages ago, 1 over the last 40: at that pace it reaches 0 in 20 more
    # pages, which add 1 → 0 pages each, 10 in all.
    assert estimate_final_total(400, 800, False, 1.0, earlier=3.0, span=40) == 810
    # Nothing new over the last pages while there was before: the site is all known.
    assert estimate_final_total(400, 800, False, 0.0, earlier=3.0, span=40) == 800
    # Steady: the geometric series as before.
    assert estimate_final_total(10, 40, False, 0.5, earlier=0.5, span=5) == 70
