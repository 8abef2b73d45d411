#!/usr/bin/env python3
"""Crash soak: kill -9 the server at random moments, restart, resume, until the crawl completes.

For every round it checks what a person relies on after a crash:

* records lost: a page saved (manifest line) before a kill that is missing afterwards;
* duplicates: a URL with more than one record in the final manifest;
* refetched: a page saved before a kill that the site saw requested again;
* the final state is `completed` and every page of the site has exactly one `ok` record.

    python bench/crash_soak.py [--rounds 5] [--pages 300] [--runs 3]

Writes bench/results/crash_soak.{json,md}. Uses the test suite's local doc site and server
helpers, so it never touches the internet.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawler.folder.reader import iter_manifest
from tests.support.server import Client, ServerProcess, wait_until
from tests.support.site import DocSite, SiteOptions, page_path


def ok_records(crawl_dir: Path) -> list[dict[str, Any]]:
    return [e for e in iter_manifest(crawl_dir) if e.get("status") == "ok"]


def state_of(client: Client, crawl_id: str) -> str:
    rows = client.http.get(client.base + "/api/crawls", timeout=10).json()["crawls"]
    return next(r["state"] for r in rows if r["crawl_id"] == crawl_id)


def soak(pages: int, kills: int, rng: random.Random, workdir: Path) -> dict[str, Any]:
    site = DocSite(SiteOptions(pages=pages, latency=0.03, extra_links=False)).start()
    data_dir = workdir / "crawls"
    server = ServerProcess(data_dir, "--allow-private-targets")
    client = Client(server.base, connect=False)
    crawl_id = client.http.post(server.base + "/api/crawls", timeout=10, json={
        "url": site.base + "/docs/", "concurrency": 4, "use_sitemaps": False, "max_pages": pages}).json()["crawl_id"]
    crawl_dir = data_dir / crawl_id
    saved_before_kills: set[str] = set()
    known_saved_at: dict[str, float] = {}  # URL → the moment of the kill it was already saved at
    lost = 0
    kills_done = 0
    started = time.monotonic()
    try:
        for _ in range(kills):
            target = min(pages - 1, len(ok_records(crawl_dir)) + rng.randint(5, max(6, pages // (kills + 1))))
            try:
                wait_until(lambda: len(ok_records(crawl_dir)) >= target or state_of(client, crawl_id) == "completed",
                           timeout=120, interval=0.005)
            except AssertionError:
                break
            if state_of(client, crawl_id) == "completed":
                break
            server.process.kill()
            server.process.wait(10)
            killed_at = time.monotonic()
            server.stop()
            kills_done += 1
            now_saved = {e["url"] for e in ok_records(crawl_dir)}
            lost += len(saved_before_kills - now_saved)
            saved_before_kills |= now_saved
            for url in now_saved:
                known_saved_at.setdefault(url, killed_at)
            server = ServerProcess(data_dir, "--allow-private-targets")
            client = Client(server.base, connect=False, cookies=client.http.cookies)
            assert state_of(client, crawl_id) == "interrupted"
            answer = client.http.post(server.base + f"/api/crawls/{crawl_id}/resume", timeout=10)
            assert answer.status_code == 202, answer.text
        wait_until(lambda: state_of(client, crawl_id) == "completed", timeout=300, interval=0.1)
        records = list(iter_manifest(crawl_dir))
        urls = Counter(e["url"] for e in records)
        final_saved = {e["url"] for e in records if e["status"] == "ok"}
        lost += len(saved_before_kills - final_saved)
        # A page in flight at a kill is fetched again after it, by design; one already saved must not be.
        refetched = sum(1 for url, at in known_saved_at.items()
                        if any(t > at for t in site.times_of(urlsplit(url).path)))
        expected = {page_path(i) for i in range(pages)}
        return {
            "pages": pages, "kills": kills_done, "seconds": round(time.monotonic() - started, 1),
            "state": state_of(client, crawl_id), "ok_records": len(final_saved),
            "all_pages_once": {urlsplit(u).path for u in final_saved} == expected and max(urls.values()) == 1,
            "saved_before_kills": len(saved_before_kills), "records_lost": lost,
            "duplicates": sum(n - 1 for n in urls.values() if n > 1), "refetched_saved_pages": refetched,
            "requests_total": len(site.requests),
        }
    finally:
        client.close()
        server.stop()
        site.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="kill -9 per run (default 5)")
    parser.add_argument("--pages", type=int, default=300, help="pages of the test site (default 300)")
    parser.add_argument("--runs", type=int, default=3, help="independent runs (default 3)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    results = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            result = soak(args.pages, args.rounds, rng, Path(tmp))
        results.append(result)
        print(json.dumps(result), flush=True)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "crash_soak.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["| run | pages | kill -9 | saved before kills | final ok | records lost | duplicates | "
             "saved pages refetched | all pages once | state |", "|" + "---|" * 10]
    for n, r in enumerate(results, 1):
        lines.append(f"| {n} | {r['pages']} | {r['kills']} | {r['saved_before_kills']} | {r['ok_records']} | "
                     f"{r['records_lost']} | {r['duplicates']} | {r['refetched_saved_pages']} | "
                     f"{'yes' if r['all_pages_once'] else 'NO'} | {r['state']} |")
    (out / "crash_soak.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    bad = [r for r in results if r["records_lost"] or r["duplicates"] or r["refetched_saved_pages"]
           or not r["all_pages_once"] or r["state"] != "completed"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
