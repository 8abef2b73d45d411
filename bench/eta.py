"""How honest is the ETA? At half-way, the ETA shown against the time that really remained.

    python bench/eta.py              # the three sites, 3 runs each, medians
    python bench/eta.py --runs 1     # quicker

"Half-way" is the first progress snapshot whose `current` reaches half of the crawl's final
`current` (the count the bar ends at). The error is |ETA − remaining| / remaining, where
remaining is the time from that snapshot to `crawler_finished`, both as received by a Socket.IO
client of the real server (`crawler_app.py` in its own process).

Sites (tests/support/site.py; 50 ms per page, so a crawl lasts 10-20 s; every page also links its
own page under /docs/private/, which robots.txt disallows, as in the report that started this):
  sitemap   every page listed in the sitemap
  links     no sitemap: pages found by following links only
  backoff   no sitemap, and one page answers 429 with Retry-After: 4 twice early on, so the
            host is not asked for a while
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

from tests.support.server import Client, ServerProcess
from tests.support.site import DocSite, SiteOptions

ROBOTS = "User-agent: *\nDisallow: /docs/private/\n"
LATENCY = 0.05
SITES: dict[str, dict[str, Any]] = {
    "sitemap": {"pages": 1200, "sitemap": True},
    "links": {"pages": 800},
    "backoff": {"pages": 800, "rate_limited": {40: 2}, "retry_after": 4},
}


def one_run(server: ServerProcess, name: str) -> dict[str, float]:
    site = DocSite(SiteOptions(robots=ROBOTS, private_links=True, extra_links=False, latency=LATENCY,
                               **SITES[name])).start()
    client = Client(server.base)
    try:
        crawl_id = client.start({"url": site.url(0), "max_pages": 5000, "max_depth": 20, "concurrency": 8})
        client.wait_finished(crawl_id, timeout=300)
        finished_at = client.timed("crawler_finished", crawl_id)[0][0]
        progress = [(t, p) for t, p in client.timed("crawler_detailed_progress", crawl_id)
                    if p["state"] == "running"]
        final = client.of("crawler_detailed_progress", crawl_id)[-1]["current"]
        at, half = next((t, p) for t, p in progress if p["current"] >= final / 2 and p["eta"] is not None)
        remaining = finished_at - at
        return {"final": final, "half_current": half["current"], "half_total": half["total"],
                "half_estimate": half.get("total_estimate", half["total"]),
                "eta": half["eta"], "remaining": remaining, "error": abs(half["eta"] - remaining) / remaining}
    finally:
        client.close()
        site.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sites", nargs="*", default=list(SITES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "crawls", "--allow-private-targets", "--server", "threading")
        try:
            for name in args.sites:
                runs = [one_run(server, name) for _ in range(args.runs)]
                for run in runs:
                    print(f"  {name}: final {run['final']}, half-way at {run['half_current']} / {run['half_total']} "
                          f"(estimate {run['half_estimate']}): "
                          f"ETA {run['eta']:.1f} s, really {run['remaining']:.1f} s ({run['error']:.0%} off)",
                          flush=True)
                median = statistics.median(run["error"] for run in runs)
                print(f"{name}: median error at half-way {median:.0%} over {len(runs)} runs", flush=True)
        finally:
            server.stop()
            time.sleep(0.1)


if __name__ == "__main__":
    main()
