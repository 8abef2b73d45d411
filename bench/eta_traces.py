"""Record crawl traces for the estimator's tests, and replay them: before and after.

    python bench/eta_traces.py record            # crawl each shape once, write tests/support/eta_traces/<shape>.json
    python bench/eta_traces.py record links wide
    python bench/eta_traces.py table             # replay every trace: the old and the new estimator

A trace is what the progress tracker fed its estimator during a real crawl of the local test site
(tests/support/site.py), one observation per progress snapshot: per depth, pages handled, URLs
admitted and found by links, links to known pages and refused links; pages pending; the
seconds of crawling (tests/support/eta_replay.py reads and replays them). Each crawl runs in this process
(the engine, no server), on a site of SHAPES[shape] at network pace: LATENCY per response,
CONCURRENCY requests at a time (to its one host), about 30 s a crawl.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawler.engine.config import parse_crawl_config
from crawler.engine.controller import CrawlController
from crawler.engine.cpu import CpuPool
from crawler.engine.events import RecordingSink
from crawler.folder.writer import CrawlStore
from tests.support.site import DocSite, SiteOptions

ROBOTS = "User-agent: *\nDisallow: /docs/private/\n"
LATENCY = 0.2
CONCURRENCY = 8
PAGES = 1200
# Site shapes (tests/support/site.py). Every page also links its own page under /docs/private/, which
# robots.txt disallows (refused links).
SHAPES: dict[str, dict[str, Any]] = {
    "links": {},  # no sitemap: a tree found by links only
    "partial_sitemap": {"sitemap": True, "unlisted_every": 2},  # the sitemap lists half the pages
    "backoff": {"rate_limited": {40: 2}, "retry_after": 4},  # one page answers 429 twice: the host waits 4 s
    "wide": {"shape": "wide"},  # every page also links 12 pages all over the site
    "narrow": {"shape": "chain"},  # 16 chapters of "next" links (75 pages deep)
}


def site_options(shape: str, latency: float = LATENCY, pages: int = PAGES) -> SiteOptions:
    return SiteOptions(pages=pages, robots=ROBOTS, private_links=True, extra_links=False, latency=latency,
                       **SHAPES[shape])


def crawl_settings(site: DocSite) -> dict[str, Any]:
    """CONCURRENCY requests at a time, all to the one host of the site: network pace is
    CONCURRENCY ÷ LATENCY pages a second (40), about 30 s for 1,200 pages."""
    return {"url": site.url(0), "max_pages": 5000, "max_depth": 100, "concurrency": CONCURRENCY,
            "per_host_concurrency": CONCURRENCY}


def record(shape: str, cpu: CpuPool, folder: Path) -> dict[str, Any]:
    from tests.support.eta_replay import encode
    site = DocSite(site_options(shape)).start()
    try:
        config = parse_crawl_config(crawl_settings(site))
        controller = CrawlController(f"trace-{shape}", config, CrawlStore(folder / shape), RecordingSink(),
                                     threading.Event(), cpu)
        observations: list[dict[str, Any]] = []
        estimator = controller.tracker._estimator
        observe = estimator.observe

        def keep(obs: Any) -> None:
            observations.append(obs.to_json())
            observe(obs)

        estimator.observe = keep  # type: ignore[method-assign]
        started = time.monotonic()
        summary = controller.run()
        wall = time.monotonic() - started
        last = controller.tracker.snapshot()  # the final observation
        final_obs = observations[-1]
        return {"shape": shape, "site": {"pages": PAGES, "latency": LATENCY, **{k: (v if not isinstance(v, dict)
                else {str(a): b for a, b in v.items()}) for k, v in SHAPES[shape].items()}},
                "concurrency": CONCURRENCY, "state": summary["state"], "wall_seconds": round(wall, 1),
                "final_current": last["current"], "end": final_obs["t"],
                "observations": encode(observations)}
    finally:
        site.stop()


def table(names: list[str]) -> None:
    from tests.support.eta_replay import CHECKPOINTS, OldEstimator, load, replay
    print("| trace | ETA error at 25 % | 50 % | 75 % | truth in the range (ETA / total), from 25 % |")
    print("|---|---|---|---|---|")
    for name in names:
        trace = load(name)
        for label, make in (("before", OldEstimator), ("after", None)):
            result = replay(trace, make) if make else replay(trace)
            errors = " | ".join(f"{result['errors'][p]:.0%}" if p in result["errors"] else "–" for p in CHECKPOINTS)
            totals = ", ".join(f"{result['totals'][p]}" for p in CHECKPOINTS if p in result["totals"])
            inside = ("no range" if result["eta_inside"] is None and label == "before" else
                      f"{result['eta_inside']:.0%} / {result['total_inside']:.0%}")
            print(f"| {name} {label} (final {trace['final_current']}, totals {totals}) | {errors} | {inside} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("record", "table"))
    parser.add_argument("shapes", nargs="*")
    args = parser.parse_args()
    from tests.support.eta_replay import TRACES, trace_names
    if args.action == "table":
        table(args.shapes or trace_names())
        return
    TRACES.mkdir(exist_ok=True)
    cpu = CpuPool(1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for shape in args.shapes or list(SHAPES):
                trace = record(shape, cpu, Path(tmp))
                path = TRACES / f"{shape}.json"
                path.write_text(json.dumps(trace, separators=(",", ":")) + "\n", encoding="utf-8")
                print(f"{shape}: {trace['final_current']} pages in {trace['wall_seconds']} s ({trace['state']}), "
                      f"{len(trace['observations'])} observations, {path.stat().st_size // 1024} KB", flush=True)
    finally:
        cpu.shutdown()


if __name__ == "__main__":
    main()
