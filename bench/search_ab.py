"""Search latency of this checkout against another one, interleaved so both see the same load.

    python -m bench.search_ab --against /path/to/other/checkout          # 20,000 pages, 3 rounds
    python -m bench.search_ab --against ../old --pages 2000 --rounds 1   # a quick check

On a machine whose load changes (shared cores), two benchmark runs one after the other measure the
load as much as the code. Here one crawl folder (bench/search.py's docs-shaped pages) is indexed by
both checkouts, each in a worker process of its own (`PYTHONPATH=<checkout>`, so each imports its
own `crawler`), and every query of bench/search.py's set is sent to both, in random order, one
after the other: whatever load there is, both meet it. Reported: p50/p95 over all queries and p95
per kind for each side, the p95 and p50 ratios, each index's size and build time.

Results: `bench/results/search_ab.json` and `bench/results/search_ab.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
RESULTS = HERE.parent / "results"


def worker(data_dir: Path, index_path: Path, crawl_id: str) -> None:
    """One side: build its index of the folder, then answer each query line with its time."""
    from crawler.outputs.search import SearchIndex, open_search

    index, indexer = open_search(data_dir, index_path, start=False)
    started = time.perf_counter()
    indexer.catch_up()
    index.checkpoint(truncate=True)
    indexer.stop()
    print(json.dumps({"built_s": round(time.perf_counter() - started, 1),
                      "index_mb": round(index_path.stat().st_size / 1e6, 1)}), flush=True)
    reader = SearchIndex(index_path)
    for line in sys.stdin:
        started = time.perf_counter()
        found = reader.search(json.loads(line), [crawl_id], limit=10)
        print(json.dumps({"ms": (time.perf_counter() - started) * 1000, "total": found.total}), flush=True)


def _commit(root: Path) -> str:
    """The checkout's commit (what was measured), else its path."""
    try:
        return subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()[:100] or str(root)
    except (OSError, subprocess.SubprocessError):
        return str(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", type=Path, required=True, help="the other checkout (its root folder)")
    parser.add_argument("--pages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(Path(args.worker[0]), Path(args.worker[1]), args.worker[2])
        return

    from bench.search import CRAWL_ID, Writer, make_folder, percentile, queries

    sides = {"this checkout": HERE.parent.parent, "other checkout": args.against.resolve()}
    data_dir = Path(tempfile.mkdtemp(prefix="bench-search-ab-"))
    processes: dict[str, subprocess.Popen[str]] = {}
    try:
        print(f"writing {args.pages} pages into {data_dir} ...", flush=True)
        make_folder(data_dir, args.pages)
        built = {}
        for name, root in sides.items():  # one at a time: indexing is the heavy part
            env = dict(os.environ, PYTHONPATH=str(root))
            process = subprocess.Popen(
                [sys.executable, str(HERE), "--against", str(root), "--worker", str(data_dir),
                 str(data_dir / f".search-{name.split()[0]}.sqlite"), CRAWL_ID],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=tempfile.gettempdir())
            assert process.stdout is not None
            built[name] = json.loads(process.stdout.readline())
            processes[name] = process
            print(f"{name} ({root}): index {built[name]['index_mb']} MB built in {built[name]['built_s']} s", flush=True)
        order_rng = random.Random(5)
        times: dict[str, dict[str, list[float]]] = {name: {} for name in processes}
        for _ in range(args.rounds):
            for kind, texts in queries(Writer(), random.Random(11)).items():
                for text in texts:
                    order = list(processes)
                    order_rng.shuffle(order)
                    for name in order:
                        process = processes[name]
                        assert process.stdin is not None and process.stdout is not None
                        process.stdin.write(json.dumps(text) + "\n")
                        process.stdin.flush()
                        times[name].setdefault(kind, []).append(json.loads(process.stdout.readline())["ms"])
        result: dict[str, dict] = {}
        for name, kinds in times.items():
            every = [t for values in kinds.values() for t in values]
            result[name] = {"checkout": _commit(sides[name]), **built[name],
                            "query_p50_ms": round(percentile(every, 0.5), 2),
                            "query_p95_ms": round(percentile(every, 0.95), 2),
                            "by_kind_p95_ms": {kind: round(percentile(v, 0.95), 2) for kind, v in kinds.items()}}
        mine, other = result["this checkout"], result["other checkout"]
        summary = {"pages": args.pages, "queries_per_side": sum(len(v) for v in times["this checkout"].values()),
                   "p95_ratio": round(mine["query_p95_ms"] / other["query_p95_ms"], 2),
                   "p50_ratio": round(mine["query_p50_ms"] / other["query_p50_ms"], 2),
                   "load_average": os.getloadavg(), "sides": result}
        print(json.dumps(summary, indent=2))
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "search_ab.json").write_text(json.dumps(summary, indent=2) + "\n")
        rows = "\n".join(f"| {kind} | {other['by_kind_p95_ms'][kind]} | {mine['by_kind_p95_ms'][kind]} |"
                         for kind in mine["by_kind_p95_ms"])
        (RESULTS / "search_ab.md").write_text(
            f"# Search, interleaved against another checkout\n\n{args.pages} pages, {summary['queries_per_side']} "
            f"queries a side, each sent to both in random order (load average at the end: "
            f"{', '.join(f'{x:.1f}' for x in summary['load_average'])}).\n\n"
            f"| | other checkout | this checkout |\n|---|---|---|\n"
            f"| checkout | {other['checkout']} | {mine['checkout']} |\n"
            f"| index | {other['index_mb']} MB, built in {other['built_s']} s | {mine['index_mb']} MB, built in "
            f"{mine['built_s']} s |\n"
            f"| p50 | {other['query_p50_ms']} ms | {mine['query_p50_ms']} ms ({summary['p50_ratio']}×) |\n"
            f"| p95 | {other['query_p95_ms']} ms | {mine['query_p95_ms']} ms ({summary['p95_ratio']}×) |\n\n"
            f"p95 by kind of query (ms):\n\n| query | other checkout | this checkout |\n|---|---|---|\n{rows}\n")
    finally:
        for process in processes.values():
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
