"""How fast our server crawls a CPU-bound site, and how long its search index takes to catch up.

    python bench/index_lag.py                        # 1500 rich pages, threading mode, 1 run
    python bench/index_lag.py --runs 2 --server-args=--search-indexer=thread

bench/run.py's `cpu` scenario, our server alone (no Scrapy needed): the same site and crawl, the
same measure of the whole process tree's CPU. Then the search index (`<data-dir>/.search.sqlite`)
is read every 50 ms until it holds every page the crawl stored: pages indexed when the crawl
ended, every half second after, and seconds from the crawl's end until the last page was
searchable. Each run uses a fresh
server and data directory, so the index starts empty.
"""

from __future__ import annotations

import argparse
import shlex
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import Site, crawl_ours
from tests.support.server import ServerProcess

INDEX_FILE = ".search.sqlite"


def indexed_pages(index: Path) -> int:
    """Pages the index holds now (read-only: the server's writer is never disturbed)."""
    if not index.exists():
        return 0
    try:
        connection = sqlite3.connect(f"file:{index}?mode=ro", uri=True, timeout=5)
        try:
            return int(connection.execute("SELECT coalesce(sum(pages), 0) FROM crawls").fetchone()[0])
        finally:
            connection.close()
    except sqlite3.Error:
        return 0


def wait_for_index(index: Path, pages: int, timeout: float = 600.0) -> tuple[int, float, list[tuple[float, int]]]:
    """(pages indexed when called, seconds until `pages` were indexed (-1 if never), and the
    pages indexed every half second until then)."""
    started = time.monotonic()
    at_end = indexed_pages(index)
    timeline = [(0.0, at_end)]
    while time.monotonic() - started < timeout:
        count, now = indexed_pages(index), time.monotonic() - started
        if now >= timeline[-1][0] + 0.5:
            timeline.append((round(now, 1), count))
        if count >= pages:
            return at_end, now, timeline
        time.sleep(0.05)
    return at_end, -1.0, timeline


def one_run(mode: str, pages: int, paragraphs: int, concurrency: int, server_args: list[str]) -> dict[str, object]:
    """A fresh server and site: crawl, then wait for the index."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "crawls"
        server = ServerProcess(data_dir, "--allow-private-targets", "--server", mode, *server_args)
        site = Site(pages, paragraphs)
        try:
            run = crawl_ours(server, site.start_url, pages, concurrency)
            at_end, lag, timeline = wait_for_index(data_dir / INDEX_FILE, run.pages)
        finally:
            site.close()
            server.stop()
    return {"pages": run.pages, "seconds": round(run.seconds, 2), "pages_per_s": round(run.pages_per_s, 1),
            "cpu_ms_per_page": round(run.cpu_seconds / max(1, run.pages) * 1000, 2),
            "indexed_at_crawl_end": at_end, "index_done_after_s": round(lag, 2), "indexed_after_end": timeline}


def main() -> None:
    parser = argparse.ArgumentParser(description="Crawl speed on a CPU-bound site and the search index's lag.")
    parser.add_argument("--mode", default="threading")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--pages", type=int, default=1500)
    parser.add_argument("--paragraphs", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--server-args", default="", help="more flags for the server, e.g. --search-indexer=thread")
    args = parser.parse_args()
    for number in range(1, args.runs + 1):
        result = one_run(args.mode, args.pages, args.paragraphs, args.concurrency, shlex.split(args.server_args))
        print(f"run {number} [{args.mode} {args.server_args or 'defaults'}]: {result}", flush=True)


if __name__ == "__main__":
    main()
