"""What a crawl's figures say about its future: speed over a window, the final total while links
still add pages, the ETA and their ranges (CrawlEstimator, fed by the progress tracker)."""

from __future__ import annotations

import math
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
    """The total the crawl will likely end at, while links may still add pages: the estimate
    before CrawlEstimator, kept to measure it against (tests/eta_replay.py: OldEstimator).

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


# ---- the estimator: final total and time left, with a range while the total is not known ----

YIELD_MIN_PAGES = 8  # pages handled at a depth before its own yield is trusted
YIELD_WINDOW = 0.5  # a depth's recent yield: over its last half of pages handled (at least YIELD_MIN_PAGES)
GROWTH_YIELD = 0.9  # a yield at or above this at the deepest depths: the site is not seen to end (growth)
RATE_WINDOW = 5.0  # seconds of crawling the handle rate is measured over
YIELD_SECONDS = 2.0  # seconds of crawling the yield of the pages handled lately is measured over
RATE_WINDOW_LONG = 15.0  # the longer window, for the range of the rate
LINDY_LOW, LINDY_HIGH = 1.1, 5.0  # growth: the total is taken to lie within these multiples of the pages handled
HISTORY_SECONDS = 60.0  # observations kept
CR_MIN_TWICE = 5  # URLs linked exactly twice before capture–recapture is trusted


def _at(counts: dict[int, int], depth: int) -> int:
    return counts.get(depth, 0)


class Observation:
    """What the crawl has seen, cumulative, at one moment `t` (seconds of crawling, back-off
    pauses left out): per depth, pages handled, URLs admitted (any source) and URLs admitted from
    links (found by pages one depth up), links to known URLs and refused links; the pages the
    frontier still holds; whether the total is final; the page budget left; the seconds still to
    wait for a host backing off (0 unless the crawl only waits); how many URLs links named exactly
    once and exactly twice (capture–recapture: `once`, `twice`)."""

    __slots__ = ("t", "handled", "admitted", "found", "seen", "refused", "pending", "final", "budget_left",
                 "wait_left", "once", "twice")

    def __init__(self, t: float, handled: dict[int, int], admitted: dict[int, int], found: dict[int, int],
                 pending: int, final: bool = False, seen: dict[int, int] | None = None,
                 refused: dict[int, int] | None = None, budget_left: int | None = None,
                 wait_left: float = 0.0, once: int | None = None, twice: int | None = None) -> None:
        self.t = t
        self.handled, self.admitted, self.found = handled, admitted, found
        self.seen, self.refused = seen or {}, refused or {}
        self.pending, self.final, self.budget_left, self.wait_left = pending, final, budget_left, wait_left
        self.once, self.twice = once, twice  # URLs linked exactly once, exactly twice (None: not counted)

    @property
    def current(self) -> int:
        return sum(self.handled.values())

    @property
    def total(self) -> int:
        return self.current + self.pending

    def to_json(self) -> dict:
        def compact(counts: dict[int, int]) -> dict[str, int]:
            return {str(depth): n for depth, n in sorted(counts.items()) if n}
        return {"t": round(self.t, 3), "handled": compact(self.handled), "admitted": compact(self.admitted),
                "found": compact(self.found), "seen": compact(self.seen), "refused": compact(self.refused),
                "pending": self.pending, "final": self.final, "budget_left": self.budget_left,
                "wait_left": round(self.wait_left, 2), "once": self.once, "twice": self.twice}

    @classmethod
    def from_json(cls, data: dict) -> Observation:
        def expand(counts: dict[str, int]) -> dict[int, int]:
            return {int(depth): n for depth, n in counts.items()}
        return cls(data["t"], expand(data["handled"]), expand(data["admitted"]), expand(data["found"]),
                   data["pending"], data["final"], expand(data.get("seen", {})), expand(data.get("refused", {})),
                   data.get("budget_left"), data.get("wait_left", 0.0), data.get("once"), data.get("twice"))


class Estimate:
    """The final total (`total`, and `total_range` while it is not known) and the seconds left
    (`eta`, `eta_range`); `growing`: the site is not yet seen to end (the total is a guess from
    how long the crawl has gone on)."""

    __slots__ = ("total", "total_range", "eta", "eta_range", "rate", "growing")

    def __init__(self, total: int, total_range: tuple[int, int] | None, eta: float | None,
                 eta_range: tuple[float, float] | None, rate: float, growing: bool = False) -> None:
        self.total, self.total_range, self.eta, self.eta_range = total, total_range, eta, eta_range
        self.rate, self.growing = rate, growing


class CrawlEstimator:
    """Learns from what the crawl sees, fed one `Observation` at a time (live, or replayed from a
    recorded trace: tests/eta_replay.py), and says where the crawl will end and when. No fixed
    ratio: three readings of the counts, each where it holds.

    Depth by depth. The pages handled at depth d found `found[d+1]` new URLs: the yield of depth
    d. The pages of a depth still to handle are taken to yield what its last half yielded, trusted
    as far as the depth is handled; for the rest, what the pages handled lately (all depths, the
    last RATE_WINDOW seconds) yielded: a depth barely begun says little of its other pages. A depth
    not yet handled yields what the depth above does, between its recent and overall yields. Summed depth by depth, this says how many
    pages each depth will end with: the estimate. Its range runs from the pages known (pages the
    crawl will surely handle) to the sum with the higher yields (a depth's higher one, the rest
    of a depth taken to yield as much as the depth above: within a depth, pages that still have
    children tend to come together), and at least half as far above the estimate as the estimate
    is above the pages known.

    Growth: if that sum does not converge (the deepest depths still yield GROWTH_YIELD or more new
    pages per page: a tree still widening, a chain of "next" links), nothing in the counts says
    where the site ends. (Nor is the estimate ever past what such a site is given: near a yield
    of 1 the sum has no bound, and a burst of new pages within a depth would make it leap.) The crawl is then taken to be as far from its end as from its start (the
    total about twice the pages handled, never less than the pages known and what the depths at
    least half handled will still add), between LINDY_LOW and LINDY_HIGH times the pages handled
    (right more than 4 times in 5 from 25 % on, if the crawl is as likely to be anywhere between
    its 10 % and 90 %) and never below the pages known.

    Capture–recapture (`_never_linked`): where links name the same pages again and again (a site
    whose pages link widely), the URLs named once and twice say how many pages no link has named
    yet; when that total is lower than the depth-by-depth one, it is the estimate (the latter
    assumes a depth yields what the one above did, but on such a site the yield falls as the
    site becomes known), and the range ends two standard deviations above it.

    The time left: the pages left at the handle rate of the last RATE_WINDOW seconds of crawling
    (a crawl at network pace handles concurrency ÷ latency pages a second, whatever its start
    was), plus the wait left for a host backing off; its range divides the ends of the total's
    range by the faster and the slower of the rates over RATE_WINDOW and RATE_WINDOW_LONG (± 10 %).
    """

    def __init__(self) -> None:
        self._history: deque[Observation] = deque()
        self._marks: dict[int, deque[tuple[int, int]]] = {}  # depth → (handled, found one deeper), as handled grows

    def observe(self, obs: Observation) -> None:
        self._history.append(obs)
        while len(self._history) > 2 and self._history[1].t < obs.t - HISTORY_SECONDS:
            self._history.popleft()
        for depth, handled in obs.handled.items():
            marks = self._marks.setdefault(depth, deque())
            if not marks or handled > marks[-1][0]:
                marks.append((handled, _at(obs.found, depth + 1)))
            window = max(YIELD_MIN_PAGES, int(handled * YIELD_WINDOW))
            while len(marks) > 2 and marks[1][0] <= handled - window:
                marks.popleft()

    def _yields(self, obs: Observation, depth: int) -> tuple[float, float] | None:
        """(recent, overall) new URLs per page handled at `depth`, None while too few handled."""
        handled = _at(obs.handled, depth)
        if handled < YIELD_MIN_PAGES:
            return None
        overall = _at(obs.found, depth + 1) / handled
        marks = self._marks.get(depth)
        if not marks or len(marks) < 2 or marks[-1][0] <= marks[0][0]:
            return overall, overall
        (h0, f0), (h1, f1) = marks[0], marks[-1]
        return max(0.0, (f1 - f0) / (h1 - h0)), overall

    def _sure(self, obs: Observation) -> float:
        """The pages known, plus those the depths at least half handled will still add at their
        recent yield (one generation): a depth barely begun says little about its other pages."""
        sure = float(obs.total)
        for depth in obs.handled:
            yields = self._yields(obs, depth)
            handled, admitted = _at(obs.handled, depth), _at(obs.admitted, depth)
            if yields is not None and handled * 2 >= admitted:
                sure += max(0, admitted - handled) * yields[0]
        return sure

    def _project(self, obs: Observation, high: bool = False) -> tuple[float, bool]:
        """The final total, depth by depth, and whether the sum diverges (then only one depth
        beyond the deepest is counted).

        The pages of a depth still to handle yield, as far as the depth is handled, the middle of
        its recent and overall yields, and for the rest what the pages handled lately yield, all
        depths. A depth not yet handled yields what the depth above does, times the ratio of the
        last two depths' yields when it falls (a tree's last level yields less than the one above
        it, the level after that less again). `high`: the higher of a depth's two yields, the
        rest of the depth taken to yield as much as the depth above did (the pages of a depth
        come in no fixed order: its first pages may all be leaves), and no fall from depth to depth."""
        deepest = max([*obs.admitted, *obs.handled, 0])
        total = float(obs.total)
        frontier = self._recent_yield(obs)
        prior: float | None = None  # what a depth not yet handled yields
        above: float | None = None  # what the depth above yields
        fall = 1.0
        carried = 0.0  # pages a depth will gain beyond what is admitted at it now
        diverges = False
        depth = 0
        while True:
            size = _at(obs.admitted, depth) + carried
            left = max(0.0, size - _at(obs.handled, depth))
            yields = self._yields(obs, depth)
            if yields is not None:
                own = max(yields) if high else (yields[0] + yields[1]) / 2
                share = min(1.0, _at(obs.handled, depth) / max(size, 1.0))
                rest = frontier if frontier is not None else own
                if high and above is not None:
                    rest = max(rest, above)
                y = share * own + (1.0 - share) * rest
                if above is not None and above > 0 and not high:
                    fall = min(1.0, y / above)
                above = prior = y
            else:
                if prior is None:
                    prior = frontier or 0.0
                elif depth > deepest:
                    prior *= fall
                y = prior
            carried = left * y
            total += carried
            depth += 1
            if depth > deepest:
                if y >= GROWTH_YIELD and left > 0:
                    diverges = True
                if carried < 0.5 or depth > deepest + (1 if diverges else 200):
                    break
        return total, diverges

    def _recent_yield(self, obs: Observation) -> float | None:
        """New URLs found by links per page handled, all depths, over the last YIELD_SECONDS
        seconds (at least YIELD_MIN_PAGES pages): above 1 the frontier grows."""
        found = sum(obs.found.values())
        for then in reversed(self._history):
            if then.t <= obs.t - YIELD_SECONDS and obs.current - then.current >= YIELD_MIN_PAGES:
                return (found - sum(then.found.values())) / (obs.current - then.current)
        first = self._history[0]
        if obs.current - first.current >= YIELD_MIN_PAGES:
            return (found - sum(first.found.values())) / (obs.current - first.current)
        return None

    @staticmethod
    def _never_linked(obs: Observation) -> tuple[float, float] | None:
        """Capture–recapture (Chao1): every link names a URL, as if drawn from the site's pages;
        from the URLs named exactly once (f1) and exactly twice (f2), about f1² ÷ 2 f2 pages
        exist that no link has named yet, ± the standard deviation. None while too few were
        named twice. On a site whose pages link widely this says early that it is nearly all
        known; where each page is linked once (a tree, a chain) f2 stays small and the figure
        huge, and the depth-by-depth estimate, lower, is kept."""
        once, twice = obs.once, obs.twice
        if once is None or twice is None or twice < CR_MIN_TWICE:
            return None
        ratio = once / twice
        unseen = once * once / (2.0 * twice)
        spread = math.sqrt(twice * (ratio ** 4 / 4.0 + ratio ** 3 + ratio ** 2 / 2.0))
        return unseen, spread

    def _rates(self, obs: Observation) -> tuple[float, float]:
        """Pages handled per second over the last RATE_WINDOW and RATE_WINDOW_LONG seconds."""
        if len(self._history) < 2 or obs.t - self._history[0].t < 1.0:
            since_start = obs.current / obs.t if obs.t > 0 else 0.0  # no history yet: the average
            return since_start, since_start
        rates = []
        for window in (RATE_WINDOW, RATE_WINDOW_LONG):
            then = next((o for o in self._history if o.t >= obs.t - window), self._history[0])
            span = obs.t - then.t
            if span < 1.0:
                then = self._history[0]
                span = obs.t - then.t
            rates.append((obs.current - then.current) / span if span > 0 else 0.0)
        return rates[0], rates[1]

    def estimate(self) -> Estimate:
        obs = self._history[-1]
        current, known = obs.current, obs.total
        recent_rate, long_rate = self._rates(obs)
        if obs.final:
            eta = eta_seconds(known - current, recent_rate)
            if eta is not None and known > current:
                eta = round(eta + obs.wait_left, 1)
            return Estimate(known, None, eta, None, recent_rate)
        point, growing = self._project(obs)
        high, high_diverges = self._project(obs, high=True)
        unknown_end = max(self._sure(obs), 2.0 * current, float(known))  # growth: as far from the end as the start
        if growing:
            point = unknown_end
            low = max(float(known), LINDY_LOW * current)
            high = max(LINDY_HIGH * current, 2.0 * point)
        else:
            # Never past what a site not seen to end is given: near a yield of 1 the sum grows
            # without bound (1 ÷ (1 − yield)), and a burst of new pages within a depth (the pages
            # of a tree's last level that still have children come together) would make it leap
            # to several times the truth and back. Beyond that, the range says it.
            point = min(point, unknown_end)
            low = float(known)
            high = max(point + (point - known) / 2, min(high, LINDY_HIGH * current) if high_diverges else high)
        never_linked = self._never_linked(obs)
        if never_linked is not None:
            unseen, spread = never_linked
            if known + unseen < point:
                point, growing, low = known + unseen, False, float(known)
            high = max(point, min(high, known + unseen + 2.0 * spread))
        budget = current + max(obs.budget_left, known - current) if obs.budget_left is not None else None
        if budget is not None:
            point, low, high = (min(value, budget) for value in (point, low, high))
        total = max(known, int(round(point)))
        total_range = (max(known, int(low)), max(total, int(round(high + 0.4999))))
        if recent_rate <= 0:
            return Estimate(total, total_range, None, None, 0.0, growing)
        wait = obs.wait_left
        eta = round((total - current) / recent_rate + wait, 1)
        fast, slow = max(recent_rate, long_rate) * 1.1, max(1e-9, min(recent_rate, long_rate) * 0.9)
        eta_range = (round((total_range[0] - current) / fast + wait, 1),
                     round((total_range[1] - current) / slow + wait, 1))
        return Estimate(total, total_range, eta, eta_range, recent_rate, growing)
