"""Where the CPU of a crawl goes, in the whole process tree: the server and its extraction workers.

    python bench/profile.py                      # the `cpu` scenario's site, 1,500 pages
    python bench/profile.py --real               # bench/realsite.py's real documentation site
    python bench/profile.py --pages 600 --mode eventlet --top 40
    python bench/profile.py --latency 0.1          # the `network` scenario's site

The real server crawls the site (after a 50-page warm-up crawl, so the workers exist) while
py-spy samples every process of its tree, counting only threads that hold their process's GIL
(so a thread waiting on a socket or a lock is not counted, and C code that holds the GIL, lxml
and trafilatura's, is). Printed: the tree's CPU ms per page (psutil), the share of samples in
the server and in the workers, and for each the functions with the largest inclusive and own
shares. SQLite and socket I/O release the GIL: their C time shows in the CPU figure, not in the
samples. Raw samples: bench/results/profile-<site>.txt (cpu, network or real) (py-spy's collapsed stacks).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import RESULTS, RealSite, Site, TreeSampler
from tests.support.server import Client, ServerProcess

_FRAME = re.compile(r"(.*) \((.*?):\d+\)")


def crawl_under_py_spy(site: Site, pages: int, mode: str, rate: int, out: Path) -> dict[str, float]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "crawls", "--allow-private-targets", "--server", mode)
        client = Client(server.base)
        try:
            config = {"url": site.start_url, "concurrency": 16, "per_host_concurrency": 16, "max_depth": 100}
            client.wait_finished(client.start({**config, "max_pages": 50}), timeout=120)
            spy = subprocess.Popen([py_spy, "record", "--rate", str(rate), "--subprocesses", "--gil", "--format", "raw",
                                    "--output", str(out), "--pid", str(server.process.pid)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.5)  # py-spy attached
            with TreeSampler(server.process.pid) as sampler:
                started = time.monotonic()
                crawl_id = client.start({**config, "max_pages": pages})
                client.wait_finished(crawl_id, timeout=1800)
                seconds = time.monotonic() - started
            spy.send_signal(2)
            spy.wait(60)
            saved = client.of("crawler_finished", crawl_id)[0]["summary"]["ok"]
            return {"pages": saved, "seconds": seconds, "cpu_ms_per_page": sampler.cpu_used * 1000 / max(saved, 1)}
        finally:
            client.close()
            server.stop()


def summarize(raw: Path, top: int) -> str:
    kinds = ("server", "workers", "indexer")
    samples = {kind: collections.Counter() for kind in kinds}
    own = {kind: collections.Counter() for kind in kinds}
    totals = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        kind = ("workers" if "_serve (crawler/engine/cpu.py" in stack else
                "indexer" if "run_indexer (" in stack else "server")
        names = []
        for frame in stack.split(";")[1:]:
            match = _FRAME.match(frame)
            if match:
                names.append(f"{match.group(1)} ({match.group(2).split('/')[-1]})")
        totals[kind] += n
        for name in set(names):
            samples[kind][name] += n
        if names:
            own[kind][names[-1]] += n
    everything = sum(totals.values()) or 1
    lines = []
    for kind in kinds:
        total = totals[kind] or 1
        lines.append(f"\n{kind}: {totals[kind] * 100 / everything:.0f} % of the samples")
        lines.append("  inclusive:")
        lines += [f"  {n * 100 / total:5.1f} %  {name}" for name, n in samples[kind].most_common(top)
                  if not name.startswith(("Thread.", "BaseProcess.", "_process_worker", "<module>", "_main",
                                          "main (forkserver", "_serve_one", "_serve ("))]
        lines.append("  own:")
        lines += [f"  {n * 100 / total:5.1f} %  {name}" for name, n in own[kind].most_common(top // 2)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Profile a crawl's whole process tree with py-spy.")
    parser.add_argument("--real", action="store_true", help="bench/realsite.py's real documentation site")
    parser.add_argument("--pages", type=int, default=1500)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the site waits before each answer (the `network` scenario: 0.1)")
    parser.add_argument("--mode", default="threading")
    parser.add_argument("--rate", type=int, default=50, help="samples per second and process")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    site: Site = RealSite() if args.real else Site(args.pages, 40, args.latency)
    name = "real" if args.real else "network" if args.latency else "cpu"
    RESULTS.mkdir(exist_ok=True)
    raw = RESULTS / f"profile-{name}.txt"
    try:
        figures = crawl_under_py_spy(site, getattr(site, "pages", args.pages) if args.real else args.pages,
                                     args.mode, args.rate, raw)
    finally:
        site.close()
    print(f"{figures['pages']} pages in {figures['seconds']:.1f} s ({figures['pages'] / figures['seconds']:.1f} pages/s "
          f"under py-spy); CPU of the whole tree: {figures['cpu_ms_per_page']:.2f} ms per page")
    print(summarize(raw, args.top))


if __name__ == "__main__":
    main()
