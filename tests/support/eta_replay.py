"""Replays a recorded crawl trace (tests/support/eta_traces/*.json, recorded by bench/eta_traces.py)
through an estimator, and measures it: the ETA's error at 25 %, 50 % and 75 % done, and how
often the truth (the final total, the time that really remained) was inside the range shown.

A trace is what the crawl's progress tracker fed its estimator, one observation per progress
snapshot (about 5 a second), each stored as the change from the one before (per-depth counts
that did not change are left out), plus how the crawl ended.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from crawler.engine.estimate import (
    CrawlEstimator,
    Estimate,
    Observation,
    estimate_final_total,
    eta_seconds,
)

TRACES = Path(__file__).resolve().parent / "eta_traces"
CHECKPOINTS = (0.25, 0.5, 0.75)
COUNTS = ("handled", "admitted", "found", "seen", "refused")


def encode(observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each observation (Observation.to_json) as its change from the one before."""
    encoded, before = [], {name: {} for name in COUNTS}
    for obs in observations:
        row = {key: value for key, value in obs.items() if key not in COUNTS}
        for name in COUNTS:
            changed = {depth: n for depth, n in obs[name].items() if before[name].get(depth) != n}
            if changed:
                row[name] = changed
        before = {name: obs[name] for name in COUNTS}
        encoded.append(row)
    return encoded


def decode(rows: list[dict[str, Any]]) -> Iterator[Observation]:
    current: dict[str, dict[str, int]] = {name: {} for name in COUNTS}
    for row in rows:
        for name in COUNTS:
            current[name] = {**current[name], **row.get(name, {})}
        yield Observation.from_json({**row, **current})


def load(name: str) -> dict[str, Any]:
    return json.loads((TRACES / f"{name}.json").read_text(encoding="utf-8"))


def trace_names() -> list[str]:
    return sorted(path.stem for path in TRACES.glob("*.json"))


class OldEstimator:
    """The estimator before this one (the discovery ratio over the last fifth of the pages
    handled, the speed over the last 10 s since the start), fed the same observations: the
    "before" column. Its inputs came from every frontier report, here from every snapshot."""

    def __init__(self) -> None:
        self._samples: deque[tuple[int, int]] = deque()
        self._times: deque[tuple[float, int]] = deque()
        self._obs: Observation | None = None

    def observe(self, obs: Observation) -> None:
        self._obs = obs
        found = sum(obs.found.values())
        if not self._samples or obs.current > self._samples[-1][0]:
            self._samples.append((obs.current, found))
        self._times.append((obs.t, obs.current))

    def _ratio(self, handled: int) -> tuple[float | None, float | None, int]:
        samples = self._samples
        if handled < 10 or len(samples) < 2:
            return None, None, 0
        window = max(10, int(handled * 0.2))
        while len(samples) > 2 and samples[1][0] <= samples[-1][0] - window:
            samples.popleft()
        (first_handled, first_found), (last_handled, last_found) = samples[0], samples[-1]
        if last_handled <= first_handled:
            return None, None, 0
        middle = next(sample for sample in samples if sample[0] >= (first_handled + last_handled) / 2)
        if first_handled < middle[0] < last_handled:
            recent = max(0.0, (last_found - middle[1]) / (last_handled - middle[0]))
            earlier = max(0.0, (middle[1] - first_found) / (middle[0] - first_handled))
            return recent, earlier, (last_handled - first_handled) // 2
        return max(0.0, (last_found - first_found) / (last_handled - first_handled)), None, 0

    def estimate(self) -> Estimate:
        obs = self._obs
        assert obs is not None
        while self._times and self._times[0][0] < obs.t - 10.0:
            self._times.popleft()
        base = self._times[0][1] if self._times and self._times[0][0] > 0 and obs.t > 10.0 else 0
        speed = (obs.current - base) / max(1.0, min(10.0, obs.t)) if obs.t > 0 else 0.0
        ratio, earlier, span = self._ratio(obs.current)
        listed = max(0, sum(obs.admitted.values()) - sum(obs.found.values()) - 1)
        total = estimate_final_total(obs.current, obs.total, obs.final, ratio, listed, obs.budget_left, earlier, span)
        eta = eta_seconds(total - obs.current, speed)
        if eta is not None and obs.wait_left and total > obs.current:
            eta += obs.wait_left
        return Estimate(total, None, eta, None, speed)


def replay(trace: dict[str, Any], make: Callable[[], Any] = CrawlEstimator) -> dict[str, Any]:
    """Feed the trace to a new estimator; the ETA's error at each checkpoint (fraction of the
    final count handled), the total's there, and the share of observations from 25 % on whose
    ranges held the truth (None for an estimator without ranges)."""
    estimator = make()
    final, end = trace["final_current"], trace["end"]
    errors: dict[float, float] = {}
    totals: dict[float, int] = {}
    inside_eta = inside_total = counted = 0
    for obs in decode(trace["observations"]):
        estimator.observe(obs)
        guess = estimator.estimate()
        left = end - obs.t
        done = obs.current / final
        for point in CHECKPOINTS:
            if point not in errors and done >= point and guess.eta is not None and left > 0:
                errors[point] = abs(guess.eta - left) / left
                totals[point] = guess.total
        if done >= 0.25 and left > 0 and not obs.final and guess.eta is not None:
            counted += 1
            low, high = guess.eta_range or (guess.eta, guess.eta)
            inside_eta += low <= left <= high
            low, high = guess.total_range or (guess.total, guess.total)
            inside_total += low <= final <= high
    return {"errors": errors, "totals": totals,
            "eta_inside": inside_eta / counted if counted else None,
            "total_inside": inside_total / counted if counted else None}
