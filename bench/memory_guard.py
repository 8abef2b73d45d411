"""The memory guard under a real crawl: peak memory against the limit, pauses, time.

    python bench/memory_guard.py                    # 300 large pages, limit derived from run 1
    python bench/memory_guard.py --limit 300MB      # a limit of your choosing

Two crawls of the same local site by the real server (`crawler_app.py`), started over Socket.IO:
first without a limit (its peak sets the scale), then with `--memory-limit`. Unless a limit is
given, it is set so that the guard's 80 % mark lies 60 % of the way from the idle server's
memory to the first run's peak: the guard has work to do. Memory is the whole process tree's
PSS (the server, its fork server and extraction workers), sampled 20 times a second with psutil;
whether crawling is paused is read from GET /api/system 5 times a second. Results: a table on
stdout and in bench/results/memory_guard.md, every figure in bench/results/memory_guard.json.
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

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import RESULTS, Site, TreeSampler
from crawler.service.memory import format_size, parse_size
from tests.support.server import Client, ServerProcess

MB = 1024 * 1024


def crawl(data_dir: Path, site: Site, pages: int, concurrency: int, limit: int | None,
          stall_after: float) -> dict[str, Any]:
    extra = ["--memory-limit", str(limit)] if limit else []
    server = ServerProcess(data_dir, "--allow-private-targets", *extra)
    client = Client(server.base)
    paused_seconds = 0.0
    watching = threading.Event()
    guard_seen: dict[str, Any] = {}

    def watch() -> None:
        nonlocal paused_seconds
        last = time.monotonic()
        while not watching.wait(0.2):
            now = time.monotonic()
            try:
                guard = client.http.get(server.base + "/api/system", timeout=5).json()["memory_guard"]
            except (requests.RequestException, ValueError, KeyError):
                continue
            if guard:
                guard_seen.update(guard)
                if guard["paused"]:
                    paused_seconds += now - last
            last = now

    try:
        time.sleep(1.0)  # let the extraction workers settle
        with TreeSampler(server.process.pid) as idle_sampler:
            time.sleep(0.5)
        idle = idle_sampler.peak_rss
        watcher = threading.Thread(target=watch, daemon=True)
        with TreeSampler(server.process.pid) as sampler:
            watcher.start()
            started = time.monotonic()
            crawl_id = client.start({"url": site.start_url, "max_pages": pages, "concurrency": concurrency,
                                     "use_sitemaps": False})
            stalled = False
            last_count, last_change = -1, time.monotonic()
            while not client.of("crawler_finished", crawl_id):
                progress = client.of("crawler_detailed_progress", crawl_id)
                count = progress[-1]["current"] if progress else 0
                if count != last_count:
                    last_count, last_change = count, time.monotonic()
                elif time.monotonic() - last_change > stall_after:
                    stalled = True  # paused and memory never fell under the resume mark
                    client.call("stop_crawl", {"crawl_id": crawl_id})
                    break
                time.sleep(0.1)
            finished = client.wait_finished(crawl_id, timeout=60)
            seconds = time.monotonic() - started
        watching.set()
        watcher.join(5)
        summary = finished["summary"]
        return {"limit_mb": round(limit / MB, 1) if limit else None, "idle_mb": round(idle / MB, 1),
                "peak_mb": round(sampler.peak_rss / MB, 1),
                "peak_of_limit": round(sampler.peak_rss / limit, 3) if limit else None,
                "pauses": guard_seen.get("pauses", 0), "gave_up": guard_seen.get("gave_up", 0), "paused_seconds": round(paused_seconds, 1),
                "seconds": round(seconds, 1), "state": summary["state"], "ok": summary["ok"],
                "failed": summary["failed"], "skipped": summary["skipped"], "stalled": stalled,
                "guard_peak_mb": round(guard_seen["peak_bytes"] / MB, 1) if guard_seen else None}
    finally:
        client.close()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--paragraphs", type=int, default=800, help="size of each page (800 ≈ 400 KB of HTML)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--limit", default=None, help="e.g. 300MB (default: derived from the unlimited run)")
    parser.add_argument("--stall-after", type=float, default=30.0,
                        help="seconds without a page handled before the run is called stalled and stopped")
    args = parser.parse_args()
    site = Site(args.pages + 5, args.paragraphs)
    results: dict[str, Any] = {"pages": args.pages, "paragraphs": args.paragraphs, "concurrency": args.concurrency}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            free = crawl(Path(tmp) / "free", site, args.pages, args.concurrency, None, args.stall_after)
            results["without_limit"] = free
            print(f"without a limit: {free}", flush=True)
            if args.limit:
                limit = parse_size(args.limit)
            else:
                mark = free["idle_mb"] + 0.6 * (free["peak_mb"] - free["idle_mb"])
                limit = int(mark / 0.8 * MB)
            guarded = crawl(Path(tmp) / "guarded", site, args.pages, args.concurrency, limit, args.stall_after)
            results["with_limit"] = guarded
            print(f"with --memory-limit {format_size(limit)}: {guarded}", flush=True)
    finally:
        site.close()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "memory_guard.json").write_text(json.dumps(results, indent=2) + "\n")
    free, guarded = results["without_limit"], results["with_limit"]
    rows = [("limit MB", "—", guarded["limit_mb"]),
            ("idle tree PSS MB", free["idle_mb"], guarded["idle_mb"]),
            ("peak tree PSS MB", free["peak_mb"], guarded["peak_mb"]),
            ("peak / limit", "—", guarded["peak_of_limit"]),
            ("pauses", "—", guarded["pauses"]), ("resumed at resting size (gave up)", "—", guarded["gave_up"]),
            ("seconds paused", "—", guarded["paused_seconds"]),
            ("total seconds", free["seconds"], guarded["seconds"]),
            ("pages ok / failed / skipped", f"{free['ok']} / {free['failed']} / {free['skipped']}",
             f"{guarded['ok']} / {guarded['failed']} / {guarded['skipped']}"),
            ("final state", free["state"], guarded["state"] + (" (stalled)" if guarded["stalled"] else ""))]
    table = "| figure | no limit | with limit |\n|---|---|---|\n" + "".join(
        f"| {name} | {a} | {b} |\n" for name, a, b in rows)
    (RESULTS / "memory_guard.md").write_text(
        f"{args.pages} pages of ~{args.paragraphs // 2} KB, concurrency {args.concurrency}\n\n{table}")
    print("\n" + table)


if __name__ == "__main__":
    main()
