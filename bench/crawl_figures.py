"""Headline figures of one server, measured as a user would see them.

Starts a local doc site and the real server (``crawler_app.py``), drives crawls over Socket.IO
and reports: pages/s of a full crawl, the largest gap between progress events, and stop latency
(stop request → ``crawler_finished`` with state ``stopped``) with slow pages in flight.

    python bench/crawl_figures.py [--pages 500] [--runs 3] [--server threading|eventlet]

Prints a table and writes JSON to bench/results/crawl_figures-<mode>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import Client, ServerProcess, wait_until  # noqa: E402
from tests.docsite import DocSite, SiteOptions  # noqa: E402


def full_crawl(base: str, site: DocSite, pages: int, concurrency: int) -> dict[str, float]:
    client = Client(base)
    try:
        started = time.monotonic()
        crawl_id = client.start({"url": site.url(0), "max_pages": pages, "concurrency": concurrency})
        finished = client.wait_finished(crawl_id, timeout=600)
        wall = time.monotonic() - started
        times = [t for t, p in client.timed("crawler_detailed_progress", crawl_id) if p["state"] == "running"]
        gaps = [b - a for a, b in zip(times, times[1:])] or [0.0]
        ok = finished["summary"]["ok"]
        return {"pages": ok, "seconds": wall, "pages_per_s": ok / wall, "max_progress_gap_s": max(gaps)}
    finally:
        client.close()


def stop_latency(base: str, site: DocSite) -> float:
    client = Client(base)
    try:
        crawl_id = client.start({"url": site.url(0), "concurrency": 8})
        wait_until(lambda: (client.of("crawler_detailed_progress", crawl_id) or [{}])[-1].get("ok", 0) >= 3,
                   timeout=60)
        asked = time.monotonic()
        client.call("stop_crawl", {"crawl_id": crawl_id})
        client.wait_finished(crawl_id, timeout=30)
        return [t for t, _ in client.timed("crawler_finished", crawl_id)][0] - asked
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--paragraphs", type=int, default=40, help="≈ 0.5 KB of text each")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stops", type=int, default=5)
    parser.add_argument("--server", choices=["threading", "eventlet"], default="threading")
    args = parser.parse_args()

    site = DocSite(SiteOptions(pages=args.pages, paragraphs=args.paragraphs, extra_links=False)).start()
    slow_site = DocSite(SiteOptions(pages=300, latency=0.3, trickle_pages={4, 5, 6, 20, 21})).start()
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "crawls", "--allow-private-targets", "--server", args.server)
        try:
            crawls = [full_crawl(server.base, site, args.pages, args.concurrency) for _ in range(args.runs)]
            stops = [stop_latency(server.base, slow_site) for _ in range(args.stops)]
        finally:
            server.stop()
            site.stop()
            slow_site.stop()

    result = {
        "mode": args.server, "pages": args.pages, "concurrency": args.concurrency, "runs": crawls,
        "pages_per_s_median": statistics.median(c["pages_per_s"] for c in crawls),
        "max_progress_gap_s": max(c["max_progress_gap_s"] for c in crawls),
        "stop_latency_s": stops, "stop_latency_median_s": statistics.median(stops), "stop_latency_max_s": max(stops),
    }
    out = ROOT / "bench" / "results" / f"crawl_figures-{args.server}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"mode {args.server}: {args.pages}-page site, concurrency {args.concurrency}, {args.runs} runs")
    print(f"  pages/s (median)          {result['pages_per_s_median']:.1f}   runs: "
          + ", ".join(f"{c['pages_per_s']:.1f}" for c in crawls))
    print(f"  largest progress gap      {result['max_progress_gap_s'] * 1000:.0f} ms")
    print(f"  stop latency median / max {result['stop_latency_median_s'] * 1000:.0f} / "
          f"{result['stop_latency_max_s'] * 1000:.0f} ms over {args.stops} stops")


if __name__ == "__main__":
    main()
