"""What rendering pages in Chromium costs, and what `render: auto` costs a site that needs none.

    python bench/render.py              # 3 runs of each, medians
    python bench/render.py --runs 1     # a quick look

* `auto` against `never` on a server-rendered site (tests/support/site.py, rich pages, 400 pages): the
  shell check on every page must cost (almost) nothing. Target: `auto` within 5 % of `never`.
* `always` against `auto` on the Docsify site (tests/support/render_sites.py, 12 routes): `auto` fetches each page
  over HTTP first and renders the shells; `always` renders every page directly.
* One render: a warm browser rendering the Docsify routes one at a time (the render process
  alone, no crawl around it): milliseconds per page, and the memory the browser holds.

Each crawl runs on a fresh real server (`crawler_app.py`, threading mode), started over the REST
API; pages/s is pages saved ÷ the crawl's duration, memory the peak PSS of the server's whole
process tree (server, extraction workers, render process, Playwright's driver, Chromium),
sampled 20 times a second. Results: a table on stdout and in bench/results/render.md, every
figure in bench/results/render.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import RESULTS, Site, TreeSampler
from crawler.render import BrowserPolicy, RenderPool
from tests.support.render_sites import DOCSIFY_PAGES
from tests.support.server import Client, ServerProcess, free_port, wait_until

MB = 1024 * 1024


class RenderSite:
    """tests/support/render_sites.py in a process of its own, so its threads do not share the benchmark's GIL."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen([sys.executable, "-m", "tests.support.render_sites", "--port", str(self.port)], cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_until(self._up, timeout=20, interval=0.05, message="the render sites")

    def _up(self) -> bool:
        try:
            return requests.get(self.base + "/docsify/", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def crawl(data_dir: Path, url: str, render: str, pages: int, concurrency: int) -> dict[str, Any]:
    """One crawl on a fresh server: pages/s and the peak memory of the server's process tree."""
    server = ServerProcess(data_dir, "--allow-private-targets", "--server", "threading")
    client = Client(server.base)
    sampler = TreeSampler(server.process.pid)
    try:
        time.sleep(1.0)  # let the idle server settle before sampling
        idle = sampler.sample()["rss"]  # the tree's PSS (TreeSampler names it rss)
        sampler.peak_rss = 0
        with sampler:
            crawl_id = client.start({"url": url, "render": render, "max_pages": pages, "concurrency": concurrency})
            summary = client.wait_finished(crawl_id, timeout=600)["summary"]
        assert summary["state"] == "completed", summary
        return {"render": render, "ok": summary["ok"], "rendered": summary["rendered"],
                "seconds": summary["duration"], "pages_per_s": summary["ok"] / max(summary["duration"], 1e-6),
                "peak_mb": sampler.peak_rss / MB, "idle_mb": idle / MB,
                "cpu_ms_per_page": sampler.cpu_used * 1000 / max(summary["ok"], 1),
                "render_seconds": summary["stage_seconds"].get("render", 0.0)}
    finally:
        client.close()
        server.stop()


def tree_pss(pid: int) -> float:
    total = 0
    try:
        processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return 0.0
    for process in processes:
        try:
            total += process.memory_full_info().pss
        except psutil.Error:
            continue
    return total / MB


def one_render(site: RenderSite) -> dict[str, Any]:
    """A warm browser rendering the Docsify routes one at a time: ms per page and the memory held."""
    pool = RenderPool(max_pages=1)
    routes = ["#/" + page for page in DOCSIFY_PAGES if page != "README"]
    policy = BrowserPolicy(allow_private=True)
    try:
        def render(route: str) -> float:
            started = time.perf_counter()
            pool.render(f"{site.base}/docsify/{route}", html=None, policy=policy, user_agent="bench", per_host=4,
                        respect_robots=True, timeout=20, deadline=30, stop=threading.Event(), crawl="bench")
            return (time.perf_counter() - started) * 1000

        render("")  # starts the render process and the browser
        assert pool.pid is not None
        service_alone = psutil.Process(pool.pid).memory_full_info().pss / MB
        warm = tree_pss(pool.pid)
        peak = warm
        stop = threading.Event()

        def watch() -> None:
            nonlocal peak
            while not stop.wait(0.05):
                peak = max(peak, tree_pss(pool.pid or 0))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        times = [render(route) for route in routes * 2]
        stop.set()
        watcher.join()
        return {"ms_median": statistics.median(times), "ms_p90": sorted(times)[int(0.9 * (len(times) - 1))],
                "renders": len(times), "browser_mb": warm - service_alone, "render_process_mb": service_alone,
                "extra_mb_while_rendering": peak - warm}
    finally:
        pool.close()


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("pages_per_s", "peak_mb", "seconds", "render_seconds", "cpu_ms_per_page")
    return {**runs[0], **{key: statistics.median(run[key] for run in runs) for key in keys}, "runs": runs}


def table(results: dict[str, Any]) -> str:
    plain, docsify, one = results["plain"], results["docsify"], results["one_render"]
    auto_share = plain["auto"]["pages_per_s"] / plain["never"]["pages_per_s"]
    # The runs alternate (never, auto / auto, never), so each pair ran under the same load: the
    # median of the pairs' ratios cancels the machine's drift better than the ratio of medians.
    pairs = [a["pages_per_s"] / n["pages_per_s"] for a, n in zip(plain["auto"]["runs"], plain["never"]["runs"])]
    pair_share = statistics.median(pairs)
    memory_share = plain["auto"]["peak_mb"] / plain["never"]["peak_mb"]
    lines = [
        "| figure | target | result |",
        "|---|---|---|",
        f"| server-rendered site ({plain['pages']} pages), pages/s: `auto` / `never` | `auto` ≥ 95 % | "
        f"{plain['auto']['pages_per_s']:.1f} / {plain['never']['pages_per_s']:.1f} = {auto_share:.0%} |",
        f"| same, median of the paired runs' ratios `auto` ÷ `never` (runs {', '.join(f'{p:.2f}' for p in pairs)}) "
        f"| ≥ 95 % | **{pair_share:.0%}** |",
        f"| same, peak memory MB (tree PSS): `auto` / `never` | within 5 % | "
        f"{plain['auto']['peak_mb']:.1f} / {plain['never']['peak_mb']:.1f} = {memory_share:.0%} |",
        f"| same, CPU ms per page, whole tree: `auto` / `never` | | "
        f"{plain['auto']['cpu_ms_per_page']:.2f} / {plain['never']['cpu_ms_per_page']:.2f} |",
        f"| same, pages rendered with `auto` | 0 | {plain['auto']['rendered']} |",
        f"| Docsify site ({docsify['auto']['ok']} routes), pages/s: `always` / `auto` | | "
        f"{docsify['always']['pages_per_s']:.2f} / {docsify['auto']['pages_per_s']:.2f} |",
        f"| same, seconds per crawl: `always` / `auto` | | "
        f"{docsify['always']['seconds']:.1f} / {docsify['auto']['seconds']:.1f} |",
        f"| same, CPU ms per page, whole tree: `always` / `auto` | | "
        f"{docsify['always']['cpu_ms_per_page']:.0f} / {docsify['auto']['cpu_ms_per_page']:.0f} |",
        f"| same, peak memory MB (tree PSS, browser included): `always` / `auto` | | "
        f"{docsify['always']['peak_mb']:.1f} / {docsify['auto']['peak_mb']:.1f} |",
        f"| one render, warm browser, one page at a time: ms median / p90 | | "
        f"{one['ms_median']:.0f} / {one['ms_p90']:.0f} ms |",
        f"| memory: Chromium + driver idle / the render process / extra while rendering, MB PSS | | "
        f"{one['browser_mb']:.1f} / {one['render_process_mb']:.1f} / {one['extra_mb_while_rendering']:.1f} |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--table", action="store_true", help="only redraw the table from bench/results/render.json")
    args = parser.parse_args()
    if args.table:
        results = json.loads((RESULTS / "render.json").read_text())
        write_results(results, results["runs"])
        return
    plain_site = Site(args.pages, 24)
    try:
        render_site = RenderSite()
    except BaseException:
        plain_site.close()
        raise
    results: dict[str, Any] = {"runs": args.runs}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
            data = Path(tmp)
            plain_runs: dict[str, list[dict[str, Any]]] = {"auto": [], "never": []}
            docsify_runs: dict[str, list[dict[str, Any]]] = {"auto": [], "always": []}
            for number in range(args.runs):  # alternate the modes, so drift in the machine hits both
                for mode in (("never", "auto") if number % 2 == 0 else ("auto", "never")):
                    run = crawl(data / f"plain-{mode}-{number}", plain_site.start_url, mode, args.pages,
                                args.concurrency)
                    plain_runs[mode].append(run)
                    print(f"plain {mode}: {run['pages_per_s']:.1f} pages/s, {run['cpu_ms_per_page']:.2f} CPU ms/page, "
                          f"peak {run['peak_mb']:.1f} MB", flush=True)
                for mode in (("auto", "always") if number % 2 == 0 else ("always", "auto")):
                    run = crawl(data / f"docsify-{mode}-{number}", render_site.base + "/docsify/", mode, 100,
                                args.concurrency)
                    docsify_runs[mode].append(run)
                    print(f"docsify {mode}: {run['pages_per_s']:.2f} pages/s, {run['seconds']:.1f} s, "
                          f"peak {run['peak_mb']:.1f} MB", flush=True)
            results["plain"] = {"pages": args.pages, **{mode: median_of(runs) for mode, runs in plain_runs.items()}}
            results["docsify"] = {mode: median_of(runs) for mode, runs in docsify_runs.items()}
            results["one_render"] = one_render(render_site)
    finally:
        plain_site.close()
        render_site.close()
    write_results(results, args.runs)


def write_results(results: dict[str, Any], runs: int) -> None:
    text = table(results)
    print(text)
    machine = f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 1024 ** 3:.0f} GB, Python {sys.version.split()[0]}"
    (RESULTS / "render.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "render.md").write_text(
        f"# Rendering pages that need JavaScript\n\n`python bench/render.py --runs {runs}` — medians of "
        f"{runs} runs; {machine}; {chromium_version()}. A shared machine whose load swung during the "
        f"runs (one mode's pages/s ranged ±25 % between runs): read the CPU per page and the paired ratio "
        f"rather than single figures.\n\n{text}\n")


def chromium_version() -> str:
    from crawler.render import chromium_path

    path = chromium_path()
    if path is None:
        return "none"
    try:
        return subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return path


if __name__ == "__main__":
    main()
