"""The benchmark: this crawler against Scrapy + trafilatura on the same local site, in one run.

    python bench/run.py                 # every scenario, every server mode, 3 runs each
    python bench/run.py --quick         # smaller sites, 1 run: a smoke test of the harness

Scenarios (each run for every server mode the crawler offers):
  cpu      rich ~22 KB docs pages, no latency: extraction-bound. Both crawlers, same concurrency.
           While our crawl runs, a second Socket.IO client times `echo` round trips and a third
           thread times GET /api/health: the dashboard must stay live under full load.
  network  the same pages with 100 ms latency each: ideal rate = concurrency / latency.
  real     a real documentation site served locally (bench/realsite.py: Django's documentation,
           ~690 pages that trafilatura extracts): both crawlers, same concurrency.
  large    20,000 pages: peak memory at 1k, 5k and 20k pages handled (content is streamed).
  memory   crawls of 1,000, 20,000 and 100,000 pages, each by a fresh server: peak memory of the
           whole process tree (PSS) while crawling and through the end-of-crawl work (llms files,
           search indexing) until the tree is idle. Run for the first server mode only.
  stop     slow and trickling pages in flight: stop request → `crawler_finished` (stopped).

The crawler is used as a person would use it: the real server (`crawler_app.py`) in its own
process, crawls started over Socket.IO. The test site runs in its own process too. CPU time and
memory are read with psutil over each crawler's whole process tree (the server, its fork server
and extraction workers; Scrapy's one process). Results: a table on stdout, JSON and a chart in
bench/results/.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import requests
import socketio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.server import Client, ServerProcess, free_port, wait_until

RESULTS = ROOT / "bench" / "results"


# ---- measuring a process tree ----

class TreeSampler:
    """Samples CPU time and memory of a process and all its descendants, 20 times a second.

    Memory of the tree is the sum of PSS (proportional set size: pages shared between the fork
    server and its workers counted once, split between them); the main process also gets RSS.
    """

    def __init__(self, pid: int, on_sample: Callable[[dict[str, float]], None] | None = None) -> None:
        self.root = psutil.Process(pid)
        self.peak_rss = 0
        self.peak_main_rss = 0
        self._cpu_seen: dict[int, float] = {}
        self._on_sample = on_sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _processes(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """User + system CPU of the tree, remembering processes that already ended."""
        for proc in self._processes():
            try:
                times = proc.cpu_times()
                self._cpu_seen[proc.pid] = times.user + times.system + times.children_user + times.children_system
            except psutil.NoSuchProcess:
                continue
        return sum(self._cpu_seen.values())

    def sample(self) -> dict[str, float]:
        total = 0
        main = 0
        for proc in self._processes():
            try:
                info = proc.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += info.pss
            if proc.pid == self.root.pid:
                main = info.rss
        self.cpu_seconds()  # keep the CPU time of processes that may end before the next look
        self.peak_rss = max(self.peak_rss, total)
        self.peak_main_rss = max(self.peak_main_rss, main)
        return {"rss": total, "main_rss": main}

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            values = self.sample()
            if self._on_sample is not None:
                self._on_sample(values)

    def __enter__(self) -> TreeSampler:
        self.cpu_start = self.cpu_seconds()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu_used = self.cpu_seconds() - self.cpu_start


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Probes:
    """While a crawl runs: Socket.IO `echo` round trips and HTTP health latencies of the server."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.rtts: list[float] = []
        self.health: list[float] = []
        self._stop = threading.Event()
        self._client = Client(base)
        self._threads = [threading.Thread(target=self._echo, daemon=True),
                         threading.Thread(target=self._health, daemon=True)]

    def _echo(self) -> None:
        while not self._stop.wait(0.05):
            started = time.perf_counter()
            try:
                self._client.call("echo", {"t": started}, timeout=30)
            except socketio.exceptions.TimeoutError:
                self.rtts.append(30.0)
                continue
            self.rtts.append(time.perf_counter() - started)

    def _health(self) -> None:
        http = requests.Session()
        while not self._stop.wait(0.1):
            started = time.perf_counter()
            http.get(self.base + "/api/health", timeout=30)
            self.health.append(time.perf_counter() - started)

    def __enter__(self) -> Probes:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._client.close()


# ---- the test site, in its own process ----

class Site:
    def __init__(self, pages: int, paragraphs: int, latency: float = 0.0, trickle: list[int] | None = None) -> None:
        self.port = free_port()
        args = [sys.executable, "-m", "tests.support.site", "--pages", str(pages), "--paragraphs", str(paragraphs),
                "--latency", str(latency), "--port", str(self.port), "--rich"]
        if trickle:
            args += ["--trickle", *map(str, trickle)]
        self.process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.start_url = f"http://127.0.0.1:{self.port}/docs/"
        wait_until(self._up, timeout=20, interval=0.05, message="the test site")

    def _up(self) -> bool:
        try:
            return requests.get(self.start_url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class RealSite(Site):
    """bench/realsite.py's real documentation site, in its own process."""

    def __init__(self) -> None:  # (Site's __init__ starts the generated site: not called)
        from bench.realsite import NAME, site_folder

        self.name = NAME
        folder = site_folder()
        self.pages = sum(1 for _ in folder.rglob("*.html"))
        self.port = free_port()
        self.process = subprocess.Popen([sys.executable, "-m", "bench.realsite", "--port", str(self.port),
                                         "--folder", str(folder)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        self.start_url = f"http://127.0.0.1:{self.port}/index.html"
        wait_until(self._up, timeout=20, interval=0.05, message="the real site")


# ---- one crawl of each kind ----

@dataclass
class CrawlRun:
    pages: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0


def iso_to_epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def crawl_ours(server: ServerProcess, url: str, pages: int, concurrency: int, probe: bool = False,
               memory_marks: tuple[int, ...] = ()) -> CrawlRun:
    client = Client(server.base)
    marks: dict[int, float] = {}
    main_marks: dict[int, float] = {}
    progress = {"current": 0}

    def on_sample(values: dict[str, float]) -> None:
        for mark in memory_marks:
            if progress["current"] <= mark:
                marks[mark] = max(marks.get(mark, 0.0), values["rss"])
                main_marks[mark] = max(main_marks.get(mark, 0.0), values["main_rss"])

    config = {"url": url, "max_pages": pages, "concurrency": concurrency, "per_host_concurrency": concurrency,
              "max_depth": 100}
    try:
        with TreeSampler(server.process.pid, on_sample) as sampler:
            probes = Probes(server.base) if probe else None
            if probes:
                probes.__enter__()
            started = time.monotonic()
            crawl_id = client.start(config)

            def track() -> bool:
                events = client.of("crawler_detailed_progress", crawl_id)
                if events:
                    progress["current"] = events[-1]["current"]
                return bool(client.of("crawler_finished", crawl_id))

            wait_until(track, timeout=1800, interval=0.05, message="crawl end")
            finished_at = client.timed("crawler_finished", crawl_id)[0][0]
            if probes:
                probes.__exit__()
        summary = client.of("crawler_finished", crawl_id)[0]["summary"]
        timed = client.timed("crawler_detailed_progress", crawl_id)
        running = [(t, p) for t, p in timed if p["state"] in ("running", "discovering")]
        gaps = [b[0] - a[0] for a, b in zip(running, running[1:])] or [0.0]
        lags = [t - (iso_to_epoch(p["timestamp"]) - time.time() + time.monotonic()) for t, p in timed]
        extra = {"max_progress_gap_s": max(gaps), "max_delivery_lag_s": max(lags) if lags else 0.0,
                 "stage_seconds": summary["stage_seconds"], "state": summary["state"]}
        if probes:
            extra.update(rtt_p50_ms=percentile(probes.rtts, 50) * 1000, rtt_p99_ms=percentile(probes.rtts, 99) * 1000,
                         rtt_max_ms=max(probes.rtts) * 1000, health_p99_ms=percentile(probes.health, 99) * 1000,
                         probes=len(probes.rtts))
        if memory_marks:
            extra["rss_mb_at"] = {str(k): round(v / 2**20, 1) for k, v in sorted(marks.items())}
            extra["main_rss_mb_at"] = {str(k): round(v / 2**20, 1) for k, v in sorted(main_marks.items())}
        extra["peak_main_rss_mb"] = round(sampler.peak_main_rss / 2**20, 1)
        return CrawlRun(summary["ok"], finished_at - started, sampler.cpu_used, sampler.peak_rss / 2**20, extra)
    finally:
        client.close()


def crawl_memory(mode: str, url: str, pages: int, concurrency: int) -> dict[str, Any]:
    """One crawl of `pages` by a fresh server: peak PSS of its whole process tree before the crawl,
    while crawling (start → `crawler_finished`) and after it, through the end-of-crawl work (llms
    files written, search index caught up: until the tree has used < 5 % of a core for 2 s)."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "crawls"
        server = ServerProcess(data_dir, "--allow-private-targets", "--server", mode)
        client = Client(server.base)
        try:
            phase = {"name": "idle"}
            peaks: dict[str, float] = {"idle": 0.0, "crawl": 0.0, "after": 0.0}

            def on_sample(values: dict[str, float]) -> None:
                peaks[phase["name"]] = max(peaks[phase["name"]], values["rss"])

            with TreeSampler(server.process.pid, on_sample) as sampler:
                time.sleep(1.0)
                phase["name"] = "crawl"
                started = time.monotonic()
                crawl_id = client.start({"url": url, "max_pages": pages, "concurrency": concurrency,
                                         "per_host_concurrency": concurrency, "max_depth": 100})
                client.wait_finished(crawl_id, timeout=3600)
                seconds = time.monotonic() - started
                phase["name"] = "after"
                report = data_dir / crawl_id / "llms-report.json"
                wait_until(report.is_file, timeout=600, interval=0.1, message="llms files")
                quiet, last_cpu, deadline = 0, sampler.cpu_seconds(), time.monotonic() + 1200
                while quiet < 2 and time.monotonic() < deadline:
                    time.sleep(1.0)
                    cpu = sampler.cpu_seconds()
                    quiet = quiet + 1 if cpu - last_cpu < 0.05 else 0
                    last_cpu = cpu
                settled = time.monotonic() - started - seconds
            summary = client.of("crawler_finished", crawl_id)[0]["summary"]
            return {"pages": summary["ok"], "seconds": round(seconds, 1), "end_work_seconds": round(settled, 1),
                    "idle_mb": round(peaks["idle"] / 2**20, 1), "crawl_peak_mb": round(peaks["crawl"] / 2**20, 1),
                    "after_peak_mb": round(peaks["after"] / 2**20, 1),
                    "peak_mb": round(max(peaks["crawl"], peaks["after"]) / 2**20, 1),
                    "peak_main_rss_mb": round(sampler.peak_main_rss / 2**20, 1)}
        finally:
            client.close()
            server.stop()


def crawl_peer(url: str, concurrency: int, pages: int) -> CrawlRun:
    with tempfile.TemporaryDirectory() as out:
        process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "peer_scrapy.py"), url, "--out", out,
                                    "--concurrency", str(concurrency), "--max-pages", str(pages)],
                                   cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        with TreeSampler(process.pid) as sampler:
            stdout, _ = process.communicate(timeout=3600)
        result = json.loads(stdout.strip().splitlines()[-1])
        saved = sum(1 for _ in Path(out).rglob("*.md"))
    return CrawlRun(saved, result["seconds"], sampler.cpu_used, sampler.peak_rss / 2**20)


def stop_latency(server: ServerProcess, url: str) -> float:
    client = Client(server.base)
    try:
        crawl_id = client.start({"url": url, "concurrency": 8, "per_host_concurrency": 8})
        wait_until(lambda: (client.of("crawler_detailed_progress", crawl_id) or [{}])[-1].get("ok", 0) >= 3,
                   timeout=60, message="three pages saved")
        asked = time.monotonic()
        client.call("stop_crawl", {"crawl_id": crawl_id})
        client.wait_finished(crawl_id, timeout=30)
        assert client.of("crawler_finished", crawl_id)[0]["state"] == "stopped"
        return client.timed("crawler_finished", crawl_id)[0][0] - asked
    finally:
        client.close()


# ---- scenarios ----

def median_run(runs: list[CrawlRun]) -> CrawlRun:
    return sorted(runs, key=lambda r: r.pages_per_s)[len(runs) // 2]


def run_mode(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    sizes = {"cpu": 300 if args.quick else 1500, "network": 200 if args.quick else 1600,
             "large": 2000 if args.quick else 20000}
    out: dict[str, Any] = {"mode": mode}
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "crawls", "--allow-private-targets", "--server", mode)
        try:
            if "cpu" in args.scenarios:
                site = Site(sizes["cpu"], args.paragraphs)
                try:
                    ours = [crawl_ours(server, site.start_url, sizes["cpu"], args.concurrency, probe=True)
                            for _ in range(args.runs)]
                    peer = [crawl_peer(site.start_url, args.concurrency, sizes["cpu"]) for _ in range(args.runs)]
                finally:
                    site.close()
                out["cpu"] = summarize(ours, peer)
                report_progress(mode, "cpu", out["cpu"])
            if "network" in args.scenarios:
                site = Site(sizes["network"], args.paragraphs, latency=args.latency)
                try:
                    ours = [crawl_ours(server, site.start_url, sizes["network"], args.concurrency)
                            for _ in range(args.runs)]
                    peer = [crawl_peer(site.start_url, args.concurrency, sizes["network"]) for _ in range(args.runs)]
                finally:
                    site.close()
                out["network"] = summarize(ours, peer)
                out["network"]["ideal_pages_per_s"] = args.concurrency / args.latency
                out["network"]["ours_share_of_ideal"] = out["network"]["ours"]["pages_per_s"] / (args.concurrency / args.latency)
                report_progress(mode, "network", out["network"])
            if "real" in args.scenarios:
                site = RealSite()
                try:
                    ours = [crawl_ours(server, site.start_url, site.pages, args.concurrency) for _ in range(args.runs)]
                    peer = [crawl_peer(site.start_url, args.concurrency, site.pages) for _ in range(args.runs)]
                finally:
                    site.close()
                out["real"] = summarize(ours, peer)
                out["real"]["site"] = site.name
                report_progress(mode, "real", out["real"])
            if "large" in args.scenarios:
                site = Site(sizes["large"], 8)
                try:
                    marks = tuple(m for m in (1000, 5000, 20000) if m <= sizes["large"])
                    run = crawl_ours(server, site.start_url, sizes["large"], args.concurrency, memory_marks=marks)
                finally:
                    site.close()
                out["large"] = {"ours": as_dict(run)}
                report_progress(mode, "large", out["large"])
            if "stop" in args.scenarios:
                site = Site(400, 8, latency=0.3, trickle=[4, 5, 6, 20, 21])
                try:
                    stops = [stop_latency(server, site.start_url) for _ in range(args.stops)]
                finally:
                    site.close()
                out["stop"] = {"latencies_ms": [round(s * 1000, 1) for s in stops],
                               "p50_ms": percentile(stops, 50) * 1000, "p99_ms": percentile(stops, 99) * 1000,
                               "max_ms": max(stops) * 1000}
                report_progress(mode, "stop", out["stop"])
        finally:
            server.stop()
    return out


def run_memory(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """The memory curve: one crawl per size, each by a fresh server."""
    sizes = (1000, 5000) if args.quick else tuple(int(n) for n in args.memory_sizes.split(","))
    site = Site(max(sizes), 8)
    try:
        curve = {str(n): crawl_memory(mode, site.start_url, n, args.concurrency) for n in sizes}
    finally:
        site.close()
    for size, figures in curve.items():
        report_progress(mode, f"memory {size}", figures)
    first, *_ = curve.values()
    return {"mode": mode, "curve": curve,
            "growth_mb": {size: round(f["peak_mb"] - first["peak_mb"], 1) for size, f in curve.items()}}


def as_dict(run: CrawlRun) -> dict[str, Any]:
    return {"pages": run.pages, "seconds": round(run.seconds, 2), "pages_per_s": round(run.pages_per_s, 1),
            "cpu_ms_per_page": round(run.cpu_seconds * 1000 / max(run.pages, 1), 2),
            "peak_rss_mb": round(run.peak_rss_mb, 1), **run.extra}


def summarize(ours: list[CrawlRun], peer: list[CrawlRun]) -> dict[str, Any]:
    best_ours, best_peer = median_run(ours), median_run(peer)
    result = {"ours": as_dict(best_ours), "peer": as_dict(best_peer),
              "ours_runs": [round(r.pages_per_s, 1) for r in ours], "peer_runs": [round(r.pages_per_s, 1) for r in peer],
              "ratio": round(statistics.median(r.pages_per_s for r in ours) /
                             statistics.median(r.pages_per_s for r in peer), 2)}
    if "rtt_p99_ms" in best_ours.extra:
        result["rtt_p99_ms_max_over_runs"] = round(max(r.extra["rtt_p99_ms"] for r in ours), 1)
        result["health_p99_ms_max_over_runs"] = round(max(r.extra["health_p99_ms"] for r in ours), 1)
        result["progress_gap_s_max_over_runs"] = round(max(r.extra["max_progress_gap_s"] for r in ours), 3)
    return result


def report_progress(mode: str, scenario: str, data: dict[str, Any]) -> None:
    print(f"[{mode}] {scenario}: {json.dumps(data)}", file=sys.stderr, flush=True)


# ---- output ----

def table(results: list[dict[str, Any]]) -> str:
    lines = ["| figure | target | " + " | ".join(r["mode"] for r in results) + " |",
             "|---|---|" + "---|" * len(results)]

    def row(name: str, target: str, pick: Callable[[dict[str, Any]], str]) -> None:
        cells = []
        for result in results:
            try:
                cells.append(pick(result))
            except (KeyError, TypeError):
                cells.append("—")
        lines.append(f"| {name} | {target} | " + " | ".join(cells) + " |")

    row("CPU-bound pages/s: ours / Scrapy+trafilatura", "", lambda r: f"{r['cpu']['ours']['pages_per_s']} / {r['cpu']['peer']['pages_per_s']}")
    row("CPU-bound ratio (median of runs)", "≥ 3.0×", lambda r: f"{r['cpu']['ratio']}×")
    row("CPU ms per page: ours / peer", "", lambda r: f"{r['cpu']['ours']['cpu_ms_per_page']} / {r['cpu']['peer']['cpu_ms_per_page']}")
    row("peak memory MB, whole process tree (PSS): ours / peer", "",
        lambda r: f"{r['cpu']['ours']['peak_rss_mb']} / {r['cpu']['peer']['peak_rss_mb']}")
    row("peak RSS MB of our server process alone", "", lambda r: f"{r['cpu']['ours']['peak_main_rss_mb']}")
    row("Socket.IO echo p50 / p99 during CPU-bound crawl", "p99 < 50 ms",
        lambda r: f"{r['cpu']['ours']['rtt_p50_ms']:.1f} / {r['cpu']['rtt_p99_ms_max_over_runs']:.1f} ms")
    row("GET /api/health p99 during CPU-bound crawl", "< 100 ms", lambda r: f"{r['cpu']['health_p99_ms_max_over_runs']:.1f} ms")
    row("largest gap between progress events", "≤ 1 s", lambda r: f"{r['cpu']['progress_gap_s_max_over_runs'] * 1000:.0f} ms")
    row("largest progress delivery lag", "", lambda r: f"{r['cpu']['ours']['max_delivery_lag_s'] * 1000:.0f} ms")
    row("real site pages/s: ours / Scrapy+trafilatura", "",
        lambda r: f"{r['real']['ours']['pages_per_s']} / {r['real']['peer']['pages_per_s']}")
    row("real site ratio (median of runs)", "≥ 3.0×", lambda r: f"{r['real']['ratio']}×")
    row("real site CPU ms per page: ours / peer", "",
        lambda r: f"{r['real']['ours']['cpu_ms_per_page']} / {r['real']['peer']['cpu_ms_per_page']}")
    row("real site peak memory MB (tree PSS): ours / peer", "ours ≤ 1.3× peer",
        lambda r: f"{r['real']['ours']['peak_rss_mb']} / {r['real']['peer']['peak_rss_mb']} "
                  f"({r['real']['ours']['peak_rss_mb'] / r['real']['peer']['peak_rss_mb']:.2f}×)")
    row("network-bound pages/s: ours / peer / ideal", "ours ≥ 90 % of ideal",
        lambda r: f"{r['network']['ours']['pages_per_s']} / {r['network']['peer']['pages_per_s']} / {r['network']['ideal_pages_per_s']:.0f}")
    row("network-bound share of ideal", "≥ 90 %", lambda r: f"{r['network']['ours_share_of_ideal'] * 100:.0f} %")
    row("stop latency p50 / p99", "p99 < 1 s", lambda r: f"{r['stop']['p50_ms']:.0f} / {r['stop']['p99_ms']:.0f} ms")
    row("peak memory MB (tree PSS) at 1k / 5k / 20k pages", "growth < 30 MB",
        lambda r: " / ".join(str(v) for v in r["large"]["ours"]["rss_mb_at"].values()))
    row("peak RSS MB of the server process at 1k / 5k / 20k", "",
        lambda r: " / ".join(str(v) for v in r["large"]["ours"]["main_rss_mb_at"].values()))
    row("large crawl pages/s", "", lambda r: f"{r['large']['ours']['pages_per_s']}")
    return "\n".join(lines)


def memory_table(memory: dict[str, Any]) -> str:
    lines = [f"Memory of the whole process tree (PSS, MB), {memory['mode']} server, a fresh server per crawl; "
             "growth target: < 30 MB from 1k to 20k pages, bounded at 100k.", "",
             "| pages | crawl s | end-of-crawl work s | idle | peak while crawling | peak through the end-of-crawl work "
             "| growth from the first | server process RSS |", "|---|---|---|---|---|---|---|---|"]
    for size, f in memory["curve"].items():
        lines.append(f"| {int(size):,} | {f['seconds']} | {f['end_work_seconds']} | {f['idle_mb']} | {f['crawl_peak_mb']} "
                     f"| {f['after_peak_mb']} | +{memory['growth_mb'][size]} | {f['peak_main_rss_mb']} |")
    return "\n".join(lines)


def chart(results: list[dict[str, Any]], path: Path, memory: dict[str, Any] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    labels, ours, peer = [], [], []
    for result in results:
        for scenario in ("cpu", "real", "network"):
            if scenario in result:
                labels.append(f"{scenario}\n{result['mode']}")
                ours.append(result[scenario]["ours"]["pages_per_s"])
                peer.append(result[scenario]["peer"]["pages_per_s"])
    xs = range(len(labels))
    axes[0].bar([x - 0.2 for x in xs], ours, 0.4, label="Crawler Dashboard")
    axes[0].bar([x + 0.2 for x in xs], peer, 0.4, label="Scrapy + trafilatura")
    axes[0].set_xticks(list(xs), labels)
    axes[0].set_ylabel("pages / s (median)")
    axes[0].set_title("Throughput, same site and concurrency")
    axes[0].legend()
    if memory:
        sizes = [int(k) for k in memory["curve"]]
        for key, label in (("crawl_peak_mb", "while crawling"), ("peak_mb", "through the end-of-crawl work")):
            axes[1].plot(sizes, [f[key] for f in memory["curve"].values()], marker="o", label=label)
        axes[1].set_xscale("log")
        axes[1].set_xlabel(f"pages crawled (one crawl each, {memory['mode']} server)")
    for result in results:
        marks = result.get("large", {}).get("ours", {}).get("rss_mb_at", {})
        if marks:
            axes[1].plot([int(k) for k in marks], list(marks.values()), marker="o", label=result["mode"])
            axes[1].set_xlabel("pages handled")
    axes[1].set_ylabel("peak memory of the server's process tree (PSS, MB)")
    axes[1].set_title("Memory of the process tree, by crawl size")
    axes[1].set_ylim(bottom=0)
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the crawler against Scrapy + trafilatura.")
    parser.add_argument("--modes", default="threading,eventlet")
    parser.add_argument("--scenarios", default="cpu,network,real,memory,stop")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stops", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--paragraphs", type=int, default=40, help="page size: ~0.5 KB each (40 ≈ 22 KB)")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--memory-sizes", default="1000,20000,100000", help="pages of each crawl of the memory scenario")
    parser.add_argument("--quick", action="store_true", help="small sites, one run: checks the harness")
    parser.add_argument("--name", default="latest", help="results go to bench/results/NAME.md, .json and .png")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.stops = 1, 3
    args.scenarios = set(args.scenarios.split(","))
    started = datetime.now().astimezone()
    load_before = psutil.getloadavg()
    results = [run_mode(mode, args) for mode in args.modes.split(",")]
    memory = run_memory(args.modes.split(",")[0], args) if "memory" in args.scenarios else None
    machine = {"cpus": psutil.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30),
               "python": platform.python_version(), "platform": platform.platform(),
               "started": started.isoformat(timespec="minutes"), "finished": datetime.now().astimezone().isoformat(timespec="minutes"),
               "load_average_before": [round(v, 2) for v in load_before],
               "load_average_after": [round(v, 2) for v in psutil.getloadavg()]}
    RESULTS.mkdir(exist_ok=True)
    name = "quick" if args.quick else args.name
    (RESULTS / f"{name}.json").write_text(json.dumps({"machine": machine, "args": {**vars(args), "scenarios": sorted(args.scenarios)},
                                                      "results": results, "memory": memory}, indent=2) + "\n")
    text = (f"Run {machine['started']} → {machine['finished']}; load average before / after: "
            f"{machine['load_average_before']} / {machine['load_average_after']} ({machine['cpus']} cores).\n\n"
            + table(results) + ("\n\n" + memory_table(memory) if memory else ""))
    (RESULTS / f"{name}.md").write_text(text + "\n")
    chart(results, RESULTS / f"{name}.png", memory)
    print(f"machine: {machine}")
    print(text)


if __name__ == "__main__":
    main()
