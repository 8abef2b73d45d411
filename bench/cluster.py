"""The cluster benchmark: cluster mode against the embedded mode, in one run, on this machine.

    python bench/cluster.py            # 3 runs of each figure
    python bench/cluster.py --quick    # smaller sites, 1 run: a smoke test of the harness

Figures (our own redis-server on a free port, web servers and workers as the README starts them):
  throughput  one CPU-bound crawl (rich ~22 KB pages, no latency): pages/s in cluster mode (one
              worker, as many extraction processes as the embedded server) / embedded. Target ≥ 90 %.
  lag         while that crawl runs, progress events reach a browser session connected to the
              *other* web server: receipt time − the event's own timestamp, p99. Target < 250 ms.
  stop        a crawl started through server A, stopped through server B: stop request →
              `crawler_finished` at a watcher on B, p99 over several stops. Target < 1 s.
  scale       four network-bound crawls (small pages, 300 ms each, 4 at once per crawl) started
              together by four people: aggregate pages/s with two workers (2 crawl slots each:
              all four run) vs one worker (2 slots: two wait for a slot).
The machine has two cores: every process shares them, so ratios are what to read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import run as harness

from tests.support.cluster import RedisServer, WorkerProcess, wait_for_workers, web_server
from tests.support.server import Client, ServerProcess, wait_until

RESULTS = ROOT / "bench" / "results"


def one_crawl(rest: Client, watcher: Client, base: str, url: str, pages: int, concurrency: int) -> dict[str, Any]:
    """Start through `base`, watch through `watcher`; pages/s (start answer → finished) and lags."""
    config = {"url": url, "max_pages": pages, "concurrency": concurrency, "per_host_concurrency": concurrency,
              "max_depth": 100}
    started = time.monotonic()
    answer = rest.http.post(base + "/api/crawls", json=config, timeout=30)
    assert answer.status_code == 202, answer.text
    crawl_id = answer.json()["crawl_id"]
    finished = watcher.wait_finished(crawl_id, timeout=1800)
    ended = watcher.timed("crawler_finished", crawl_id)[0][0]
    lags = [t - (harness.iso_to_epoch(p["timestamp"]) - time.time() + time.monotonic())
            for t, p in watcher.timed("crawler_detailed_progress", crawl_id)]
    ok = finished["summary"]["ok"]
    return {"pages": ok, "seconds": ended - started, "pages_per_s": ok / (ended - started), "lags": lags,
            "state": finished["state"]}


def stop_latency(rest: Client, watcher: Client, start_base: str, stop_base: str, url: str) -> float:
    answer = rest.http.post(start_base + "/api/crawls", json={"url": url, "concurrency": 8,
                                                             "per_host_concurrency": 8}, timeout=30)
    crawl_id = answer.json()["crawl_id"]
    wait_until(lambda: (watcher.of("crawler_detailed_progress", crawl_id) or [{}])[-1].get("ok", 0) >= 3,
               timeout=60, message="three pages saved")
    asked = time.monotonic()
    rest.http.post(f"{stop_base}/api/crawls/{crawl_id}/stop", timeout=30)
    finished = watcher.wait_finished(crawl_id, timeout=30)
    assert finished["state"] == "stopped", finished
    return watcher.timed("crawler_finished", crawl_id)[0][0] - asked


def aggregate(base: str, url: str, pages: int, crawls: int = 4) -> float:
    """Pages/s of `crawls` crawls started together by as many people (one session each: a session
    runs at most two at once): all pages saved / first start → last end (the crawls' own clock)."""
    config = {"url": url, "max_pages": pages, "concurrency": 4, "per_host_concurrency": 4}
    people = [Client(base, connect=False) for _ in range(crawls)]
    try:
        started = time.time()
        ids = []
        for person in people:
            answer = person.http.post(base + "/api/crawls", json=config, timeout=30)
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["crawl_id"])

        def summaries() -> list[dict[str, Any]] | None:
            details = [person.http.get(f"{base}/api/crawls/{crawl_id}", timeout=30).json()
                       for person, crawl_id in zip(people, ids)]
            return [d["summary"] for d in details] if all(d["summary"] for d in details) else None

        ended = wait_until(summaries, timeout=1800, interval=0.2, message="the four crawls to end")
        saved = sum(summary["ok"] for summary in ended)
        last = max(harness.iso_to_epoch(summary["finished_at"]) for summary in ended)
        return saved / (last - started)
    finally:
        for person in people:
            person.close()


def session(rest_on: ServerProcess, watch_on: ServerProcess) -> tuple[Client, Client]:
    rest = Client(rest_on.base, connect=False)
    return rest, Client(watch_on.base, cookies=rest.http.cookies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    pages = 300 if args.quick else 1500
    net_pages = 60 if args.quick else 150
    stops = 3 if args.quick else 7

    cpu_site = harness.Site(pages + 50, 40)
    # Small pages behind 300 ms: the four crawls wait on the network, not on this machine's two
    # cores, so the figure shows what a second worker adds rather than how busy the cores are.
    net_site = harness.Site(net_pages + 50, 2, latency=0.3)
    stop_site = harness.Site(400, 10, latency=0.3, trickle=[5, 6, 7])
    results: dict[str, Any] = {"runs": runs, "pages": pages}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        embedded = ServerProcess(root / "embedded", "--allow-private-targets")
        redis = RedisServer(root / "redis")
        data = root / "cluster"
        workers = [WorkerProcess(redis.url, data, root, cpu_workers=None)]  # one extraction process per core
        a, b = web_server(data, redis.url), web_server(data, redis.url)
        try:
            wait_for_workers(a, workers)
            emb = Client(embedded.base)
            rest, watch = session(a, b)
            embedded_runs, cluster_runs = [], []
            for number in range(runs):
                embedded_runs.append(one_crawl(emb, emb, embedded.base, cpu_site.start_url, pages, 16))
                cluster_runs.append(one_crawl(rest, watch, a.base, cpu_site.start_url, pages, 16))
                print(f"run {number + 1}: embedded {embedded_runs[-1]['pages_per_s']:.0f} pages/s, cluster "
                      f"{cluster_runs[-1]['pages_per_s']:.0f} pages/s", file=sys.stderr, flush=True)
            emb_rate = statistics.median(r["pages_per_s"] for r in embedded_runs)
            cl_rate = statistics.median(r["pages_per_s"] for r in cluster_runs)
            lags = [lag for r in cluster_runs for lag in r["lags"]]
            emb_lags = [lag for r in embedded_runs for lag in r["lags"]]
            results["throughput"] = {"embedded_pages_per_s": round(emb_rate, 1), "cluster_pages_per_s": round(cl_rate, 1),
                                     "cluster_share": round(cl_rate / emb_rate, 3)}
            results["lag"] = {"cluster_p50_ms": round(harness.percentile(lags, 50) * 1000, 1),
                              "cluster_p99_ms": round(harness.percentile(lags, 99) * 1000, 1),
                              "embedded_p99_ms": round(harness.percentile(emb_lags, 99) * 1000, 1),
                              "events": len(lags)}
            latencies = [stop_latency(rest, watch, a.base, b.base, stop_site.start_url) for _ in range(stops)]
            emb_latencies = [stop_latency(emb, emb, embedded.base, embedded.base, stop_site.start_url)
                             for _ in range(stops)]
            results["stop"] = {"cluster_p50_ms": round(harness.percentile(latencies, 50) * 1000),
                               "cluster_p99_ms": round(harness.percentile(latencies, 99) * 1000),
                               "embedded_p99_ms": round(harness.percentile(emb_latencies, 99) * 1000), "stops": stops}
            one = [aggregate(a.base, net_site.start_url, net_pages) for _ in range(runs)]
            workers.append(WorkerProcess(redis.url, data, root, cpu_workers=None))
            wait_for_workers(a, workers)
            two = [aggregate(a.base, net_site.start_url, net_pages) for _ in range(runs)]
            results["scale"] = {"one_worker_pages_per_s": round(statistics.median(one), 1),
                                "two_workers_pages_per_s": round(statistics.median(two), 1),
                                "ratio": round(statistics.median(two) / statistics.median(one), 2)}
            for client in (emb, rest, watch):
                client.close()
        finally:
            for process in (a, b, embedded):
                process.stop()
            for worker in workers:
                worker.stop()
            redis.stop()
            for site in (cpu_site, net_site, stop_site):
                site.close()
    print(report(results))
    RESULTS.mkdir(exist_ok=True)
    name = "cluster-quick" if args.quick else "cluster"
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(report(results) + "\n")


def report(r: dict[str, Any]) -> str:
    t, lag, stop, scale = r["throughput"], r["lag"], r["stop"], r["scale"]
    return "\n".join([
        f"Cluster vs embedded, median of {r['runs']} runs ({r['pages']} CPU-bound pages; 2 cores shared by all):",
        "",
        "| figure | target | result |",
        "|---|---|---|",
        f"| one crawl, pages/s: cluster / embedded | ≥ 90 % | {t['cluster_pages_per_s']} / "
        f"{t['embedded_pages_per_s']} = **{t['cluster_share'] * 100:.0f} %** |",
        f"| progress event lag through Redis to the other web server, p50 / p99 | p99 < 250 ms | "
        f"{lag['cluster_p50_ms']} / **{lag['cluster_p99_ms']} ms** (embedded p99 {lag['embedded_p99_ms']} ms) |",
        f"| stop through server B of a crawl started on A → finished, p50 / p99 over {stop['stops']} | p99 < 1 s | "
        f"{stop['cluster_p50_ms']} / **{stop['cluster_p99_ms']} ms** (embedded p99 {stop['embedded_p99_ms']} ms) |",
        f"| four network-bound crawls, aggregate pages/s: two workers / one worker | | "
        f"{scale['two_workers_pages_per_s']} / {scale['one_worker_pages_per_s']} = **{scale['ratio']}×** |",
    ])


if __name__ == "__main__":
    main()
