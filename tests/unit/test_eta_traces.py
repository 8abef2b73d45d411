"""The estimator of the final total and the time left (crawler/engine/estimate.py), checked on
recorded crawl traces of each site shape (tests/support/eta_traces/*.json, recorded from real crawls of
tests/support/site.py by bench/eta_traces.py), replayed without running a crawl (tests/support/eta_replay.py)."""

from __future__ import annotations

import pytest

from crawler.engine.estimate import CrawlEstimator, Observation
from crawler.engine.events import State
from crawler.engine.progress import ProgressTracker
from tests.support.eta_replay import CHECKPOINTS, OldEstimator, decode, load, replay, trace_names

SHAPES = ("links", "partial_sitemap", "backoff", "wide", "narrow")


def test_a_trace_of_every_shape_is_recorded():
    assert set(SHAPES) <= set(trace_names())


@pytest.mark.parametrize("shape", SHAPES)
def test_the_eta_at_half_way_is_within_a_fifth_of_the_time_that_remained(shape):
    result = replay(load(shape))
    assert result["errors"][0.5] <= 0.2, result


@pytest.mark.parametrize("shape", SHAPES)
def test_the_time_that_remained_is_inside_the_eta_range_at_least_4_times_in_5_from_25_percent(shape):
    result = replay(load(shape))
    assert result["eta_inside"] >= 0.8, result


@pytest.mark.parametrize("shape", SHAPES)
def test_the_final_total_is_inside_the_total_range_most_of_the_time_from_25_percent(shape):
    assert replay(load(shape))["total_inside"] >= 0.7


@pytest.mark.parametrize("shape", SHAPES)
def test_the_ranges_narrow_as_the_crawl_learns(shape):
    trace = load(shape)
    estimator, final = CrawlEstimator(), trace["final_current"]
    widths: dict[float, float] = {}
    for obs in decode(trace["observations"]):
        estimator.observe(obs)
        guess = estimator.estimate()
        for point in (0.25, 0.9):
            if point not in widths and obs.current >= point * final and guess.total_range:
                widths[point] = (guess.total_range[1] - guess.total_range[0]) / guess.total
    assert widths[0.9] < widths[0.25]


@pytest.mark.parametrize("shape", SHAPES)
def test_the_new_estimate_is_no_worse_than_the_old_one_overall(shape):
    trace = load(shape)
    old, new = replay(trace, OldEstimator), replay(trace)
    assert sum(new["errors"][p] for p in CHECKPOINTS) <= sum(old["errors"][p] for p in CHECKPOINTS) + 0.1


def test_a_replay_is_deterministic():
    trace = load("links")
    assert replay(trace) == replay(trace)


def chain(estimator: CrawlEstimator, pages: int, chains: int = 8, rate: float = 10.0) -> Observation:
    """`pages` handled of chapters of "next" links: each page found one new page one depth down."""
    depths = pages // chains
    handled = {d: chains for d in range(1, depths + 1)}
    found = {d: chains for d in range(1, depths + 2)}
    obs = Observation(pages / rate, handled, dict(found), found, pending=chains)
    estimator.observe(obs)
    return obs


def test_a_site_not_seen_to_end_is_taken_to_be_half_done_with_a_wide_range():
    estimator = CrawlEstimator()
    for pages in range(40, 408, 8):
        chain(estimator, pages)
    guess = estimator.estimate()
    assert guess.growing
    assert guess.total == 800, "as far from the end as from the start"
    assert guess.total_range == (440, 2000), "between 1.1 and 5 times the pages handled"
    assert guess.eta == pytest.approx(40.0, abs=0.5), "400 pages at 10 pages/s"


def wide_site(estimator: CrawlEstimator, once: int | None, twice: int | None) -> Observation:
    """Depth 1 found 300 pages, 80 of them handled so far found 64 more, each fewer than the last;
    most links named pages already known (`once`, `twice`: URLs linked once, twice)."""
    for handled_2, found_3 in ((10, 30), (20, 50), (40, 58), (60, 62), (80, 64)):
        obs = Observation(5.0 + handled_2 / 10, {0: 1, 1: 100, 2: handled_2}, {0: 1, 1: 100, 2: 300, 3: found_3},
                          {1: 100, 2: 300, 3: found_3}, pending=300 - handled_2 + found_3, once=once, twice=twice)
        estimator.observe(obs)
    return obs


def test_a_site_whose_links_name_known_pages_again_and_again_is_nearly_all_known():
    known = 1 + 100 + 300 + 64
    without = CrawlEstimator()
    wide_site(without, None, None)
    assert without.estimate().total_range[1] > known + 100, "depth by depth alone: unsure"
    estimator = CrawlEstimator()
    wide_site(estimator, once=20, twice=100)  # 20² ÷ 200: 2 pages no link named yet
    guess = estimator.estimate()
    assert not guess.growing
    assert known <= guess.total <= known + 2
    assert guess.total_range[0] == known and guess.total_range[1] < known + 20


def test_a_known_total_has_no_range():
    estimator = CrawlEstimator()
    estimator.observe(Observation(10.0, {0: 1, 1: 19}, {0: 1, 1: 29}, {1: 29}, pending=10, final=True))
    guess = estimator.estimate()
    assert (guess.total, guess.total_range, guess.eta_range) == (30, None, None)
    assert guess.eta == pytest.approx(5.0)


def test_a_back_off_wait_is_added_to_the_eta_and_its_range():
    estimator = CrawlEstimator()
    estimator.observe(Observation(10.0, {0: 1, 1: 19}, {0: 1, 1: 29}, {1: 29}, pending=10, final=True,
                                  wait_left=3.0))
    assert estimator.estimate().eta == pytest.approx(8.0)


def test_the_page_budget_caps_the_estimate():
    estimator = CrawlEstimator()
    for pages in range(40, 408, 8):
        obs = chain(estimator, pages)
    obs.budget_left = 100
    estimator.observe(obs)
    guess = estimator.estimate()
    assert guess.total == 400 + 100 and guess.total_range[1] == 500


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_tracker_feeds_the_estimator_what_links_found_depth_by_depth():
    clock = Clock()
    tracker = ProgressTracker("c", "s", clock=clock)
    tracker.set_state(State.RUNNING, "go")
    tracker.link_offered(0, "start", "queued", "http://a/")
    tracker.link_offered(1, "sitemap", "queued", "http://a/s")
    for url in ("http://a/1", "http://a/2"):
        tracker.link_offered(1, "link", "queued", url)
    tracker.link_offered(1, "link", "seen", "http://a/1")  # linked twice
    tracker.link_offered(1, "link", "seen", "http://a/s")  # a sitemap page linked once
    tracker.link_offered(1, "link", "robots", "http://a/private")
    clock.now = 2.0
    tracker.page_done("http://a/", "ok", 0)
    tracker.set_frontier(pending=3, queued=3, final=False, discovered=4)
    obs = tracker.observation(clock.now, 0.0, 1, 4)
    assert (obs.handled, obs.admitted, obs.found) == ({0: 1}, {0: 1, 1: 3}, {1: 2})
    assert (obs.seen, obs.refused) == ({1: 2}, {1: 1})
    assert (obs.once, obs.twice) == (2, 1), "a/2 and a/s once, a/1 twice; refused links are not counted"
    assert (obs.t, obs.pending, obs.final) == (2.0, 3, False)


def test_the_progress_payload_carries_the_ranges_while_the_total_is_an_estimate():
    clock = Clock()
    tracker = ProgressTracker("c", "s", clock=clock)
    tracker.restore_counts({"ok": 100, "failed": 0, "skipped": 0}, {})  # a resumed crawl
    tracker.set_state(State.RUNNING, "go")
    for n in range(40):  # each page handled finds 2 new ones: not seen to end
        clock.now = 0.25 * (n + 1)
        tracker.page_done(f"http://a/{n}", "ok", 1)
        for k in range(2):
            tracker.link_offered(2, "link", "queued", f"http://a/{n}/{k}")
        tracker.set_frontier(pending=2 * (n + 1), queued=2 * (n + 1), final=False)
        snapshot = tracker.snapshot()
    assert snapshot["current"] == 140 and snapshot["total"] == 220
    low, high = snapshot["total_range"]
    assert low <= snapshot["total_estimate"] <= high and low >= snapshot["total"], snapshot
    # Not seen to end: this run's 40 pages as far from the end as the start (80) is less than
    # the pages known (120), which it never goes below; the earlier run's 100 pages on top.
    assert snapshot["total_estimate"] == 100 + 120 and high == 100 + 2 * 120
    assert snapshot["eta_range"][0] <= snapshot["eta"] <= snapshot["eta_range"][1]
    assert snapshot["eta"] == pytest.approx(80 / 4.0, rel=0.05), "80 pages left at 4 pages/s"
