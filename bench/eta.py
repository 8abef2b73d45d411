"""How honest is the ETA? At 25 %, 50 % and 75 % done, the ETA shown against the time that really
remained; from 25 % on, how often the truth was inside the range shown.

    python bench/eta.py                      # every site shape, 3 runs each, medians
    python bench/eta.py --runs 1 links wide  # quicker

"25 % done" is the first progress snapshot whose `current` reaches a quarter of the crawl's final
`current` (the count the bar ends at), and so on. The error is |ETA − remaining| / remaining,
where remaining is the time from that snapshot to `crawler_finished`, both as received by a
Socket.IO client of the real server (`crawler_app.py` in its own process). "In range": the share
of the running snapshots from 25 % on (while the total is not final) whose `eta_range` held the
time that remained, and whose `total_range` held the final count.

Sites (tests/support/site.py, the shapes of bench/eta_traces.py: 1,200 pages at network pace, 200 ms
per response, 8 requests at a time to its one host, so a crawl lasts 30 s or more; every page also links its own page
under /docs/private/, which robots.txt disallows):
  links            no sitemap: a tree of pages found by following links only
  partial_sitemap  the sitemap lists half of the pages; links find the rest
  backoff          no sitemap, and one page answers 429 with Retry-After: 4 twice early on, so the
                   host is not asked for a while
  wide             no sitemap; every page also links 12 pages all over the site
  narrow           no sitemap; 16 chapters of "next" links (each page links only the next one)
  sitemap          every page listed in the sitemap (not run unless named)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.eta_traces import SHAPES, crawl_settings, site_options
from tests.support.server import Client, ServerProcess
from tests.support.site import DocSite

CHECKPOINTS = (0.25, 0.5, 0.75)
SITES: dict[str, dict[str, Any]] = {**SHAPES, "sitemap": {"sitemap": True}}


def one_run(server: ServerProcess, name: str) -> dict[str, Any]:
    options = site_options("links") if name == "sitemap" else site_options(name)
    if name == "sitemap":
        options.sitemap = True
    site = DocSite(options).start()
    client = Client(server.base)
    try:
        crawl_id = client.start(crawl_settings(site))
        client.wait_finished(crawl_id, timeout=600)
        finished_at = client.timed("crawler_finished", crawl_id)[0][0]
        progress = [(t, p) for t, p in client.timed("crawler_detailed_progress", crawl_id)
                    if p["state"] == "running"]
        final = client.of("crawler_detailed_progress", crawl_id)[-1]["current"]
        run: dict[str, Any] = {"final": final, "seconds": finished_at - progress[0][0] if progress else 0.0}
        for point in CHECKPOINTS:
            at, snapshot = next((t, p) for t, p in progress if p["current"] >= final * point and p["eta"] is not None)
            remaining = finished_at - at
            run[point] = {"eta": snapshot["eta"], "remaining": remaining, "current": snapshot["current"],
                          "estimate": snapshot.get("total_estimate", snapshot["total"]),
                          "error": abs(snapshot["eta"] - remaining) / remaining}
        counted = inside_eta = inside_total = 0
        ranged = False
        for t, p in progress:
            if p["current"] < final * 0.25 or p["total_final"] or p["eta"] is None:
                continue
            counted += 1
            ranged = ranged or "eta_range" in p
            low, high = p.get("eta_range") or (p["eta"], p["eta"])
            inside_eta += low <= finished_at - t <= high
            low, high = p.get("total_range") or (p["total_estimate"], p["total_estimate"])
            inside_total += low <= final <= high
        run["inside"] = (inside_eta / counted, inside_total / counted) if counted and ranged else None
        return run
    finally:
        client.close()
        site.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("sites", nargs="*", default=list(SHAPES))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "crawls", "--allow-private-targets", "--server", "threading")
        try:
            for name in args.sites:
                runs = [one_run(server, name) for _ in range(args.runs)]
                for run in runs:
                    print(f"  {name}: {run['final']} pages in {run['seconds']:.1f} s; " + "; ".join(
                        f"{point:.0%}: ETA {run[point]['eta']:.1f} s, really {run[point]['remaining']:.1f} s "
                        f"({run[point]['error']:.0%} off, total estimate {run[point]['estimate']})"
                        for point in CHECKPOINTS)
                        + (f"; in range from 25 %: ETA {run['inside'][0]:.0%}, total {run['inside'][1]:.0%}"
                           if run["inside"] else ""), flush=True)
                medians = [statistics.median(run[point]["error"] for run in runs) for point in CHECKPOINTS]
                inside = [run["inside"] for run in runs if run["inside"]]
                inside_text = (f"{statistics.median(i[0] for i in inside):.0%} / {statistics.median(i[1] for i in inside):.0%}"
                               if inside else "no range")
                rows.append(f"| {name} | " + " | ".join(f"{m:.0%}" for m in medians) + f" | {inside_text} |")
                print(rows[-1], flush=True)
        finally:
            server.stop()
            time.sleep(0.1)
    print(f"\nmedians of {args.runs} runs\n| site | ETA error at 25 % | 50 % | 75 % | in range from 25 % (ETA / total) |\n"
          "|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
