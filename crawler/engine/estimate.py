"""What a crawl's figures say about its future: speed over a window, the final total while links
still add pages, the ETA. Pure functions of the counts, used by the progress tracker."""

from __future__ import annotations

from collections import deque

SPEED_WINDOW = 10.0


def windowed_speed(finish_times: deque[float], now: float, started: float, window: float = SPEED_WINDOW) -> float:
    """Pages per second over the last `window` seconds (or since the start, if more recent)."""
    while finish_times and finish_times[0] < now - window:
        finish_times.popleft()
    span = min(window, now - started)
    if span <= 0 or not finish_times:
        return 0.0
    return len(finish_times) / max(span, 1.0)


def eta_seconds(remaining: int, speed: float) -> float | None:
    """Seconds left at the current speed; None while the speed is unknown."""
    if remaining <= 0:
        return 0.0
    if speed <= 0:
        return None
    return round(remaining / speed, 1)


def estimate_final_total(current: int, total: int, final: bool, ratio: float | None, listed: int = 0,
                         budget_left: int | None = None, earlier: float | None = None,
                         span: int = 0) -> int:
    """The total the crawl will likely end at, while links may still add pages.

    `ratio` is how many new pages each recently handled page added (None: not known yet), over the
    last `span` pages handled, and `earlier` the same over the `span` pages before those. A
    falling ratio means the site is nearly all known: it is taken to keep falling at the same
    pace, and the pages it still adds until it reaches 0 are counted (a triangle). A steady or
    rising one: the pages still to handle (total − current) add pages at that rate, and those in
    turn, a geometric series (current + pending / (1 − ratio)); at a ratio of 1 or more only one
    more generation is counted, and the estimate grows as the crawl goes on. A sitemap count
    (`listed`) is a floor: the site has at least the pages its sitemaps listed. Never more than
    the page budget allows (`budget_left`: pages that may still be handled), never less than
    `total`.
    """
    if final or ratio is None:
        return total
    pending = max(0, total - current)
    if earlier is not None and span > 0 and ratio < earlier:
        pages_until_none = min(pending, ratio * span / (earlier - ratio))
        extra = ratio * pages_until_none / 2.0
    elif ratio < 1.0:
        extra = pending * ratio / (1.0 - ratio)
    else:
        extra = pending * ratio
    estimate = max(total + int(round(extra)), listed)
    if budget_left is not None:
        estimate = min(estimate, current + max(budget_left, pending))
    return max(estimate, total)


def percent_of(current: int, total: int) -> float:
    if total <= 0:
        return 0.0
    return round(min(100.0, current * 100.0 / total), 1)
