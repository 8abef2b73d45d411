"""Full-text search at scale: a 20,000-page crawl folder, indexed from scratch, then queried.

    python -m bench.search                # 20,000 pages (about 2 minutes on 2 cores)
    python -m bench.search --pages 2000   # a quick check of the harness

The crawl folder is written through the engine's own store (`CrawlStore.save_page`: the same
files and manifest lines a crawl writes), with docs-shaped Markdown of ~4–8 KB per page:
headings, prose drawn from a Zipf-distributed vocabulary (a few hundred common words, thousands
of rare ones, API names), bullet lists, code blocks and a table. Measured:

- indexing: the indexer's own pass over the folder, from an empty index (pages/s);
- the index file (with its WAL) against the pages it holds, and how many sections it holds (the
  index keeps one full-text row per section of a page: heading path, plain text, offsets);
- query latency, p50/p95/max over several kinds of query (common and rare words, several words,
  a phrase, a prefix, OR), each run 40 times with a different word, through
  `SearchIndex.search` exactly as `GET /api/search` and the MCP tool `search_docs` call it (first
  page of 10, count included; each hit a page with its best section, its heading path and text).

`--baseline <search.json>` compares with an earlier run (the page-level index before sections, say):
the ratio of p95s is printed and stored.

Results: `bench/results/search.json` and `bench/results/search.md`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from crawler.folder.writer import CrawlStore, write_json
from crawler.outputs.search import open_search

RESULTS = Path(__file__).resolve().parent / "results"
CRAWL_ID = "20261127-120000-b3c4d5"
COMMON = ["the", "of", "and", "to", "a", "in", "is", "for", "that", "with", "on", "as", "by", "this", "be", "are", "from", "or", "it", "an", "at", "can", "you", "your", "request", "response", "handler", "config", "option", "value", "server", "client", "session", "cache", "token", "route", "worker", "thread", "process", "queue", "stream", "buffer", "parser", "schema", "field", "record", "index", "query", "filter", "default", "timeout", "retry", "limit", "header", "cookie", "module", "package", "install", "deploy", "build", "test"]
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "ri", "de", "fo", "gu", "hi", "ja", "ku", "le", "mo"]


def vocabulary(rng: random.Random, size: int) -> list[str]:
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class Writer:
    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.rare = vocabulary(self.rng, 12000)
        self.apis = [f"{self.rng.choice(COMMON)}_{self.rng.choice(self.rare)}" for _ in range(3000)]
        # Zipf-like weights: the i-th rare word is drawn with weight 1/(i+1).
        self.cumulative = list(itertools.accumulate(1.0 / (i + 1) for i in range(len(self.rare))))

    def words(self, count: int) -> list[str]:
        rng = self.rng
        common = rng.choices(COMMON, k=count)
        rare = rng.choices(self.rare, cum_weights=self.cumulative, k=count)
        return [c if rng.random() < 0.6 else r for c, r in zip(common, rare)]

    def sentence(self) -> str:
        words = self.words(self.rng.randint(8, 22))
        if self.rng.random() < 0.3:
            words.insert(self.rng.randrange(len(words)), f"`{self.rng.choice(self.apis)}`")
        return " ".join(words).capitalize() + "."

    def page(self, number: int) -> tuple[str, str]:
        rng = self.rng
        title = f"{' '.join(self.words(3)).title()} ({number})"
        parts = [f"# {title}", "", " ".join(self.sentence() for _ in range(3))]
        for section in range(rng.randint(3, 6)):
            parts += ["", f"## {' '.join(self.words(2)).title()}", ""]
            parts += [" ".join(self.sentence() for _ in range(rng.randint(3, 6))) for _ in range(rng.randint(1, 3))]
            if rng.random() < 0.6:
                parts += [""] + [f"- `{rng.choice(self.apis)}`: {self.sentence()}" for _ in range(rng.randint(2, 5))]
            if rng.random() < 0.5:
                parts += ["", "```python", f"client.{rng.choice(self.apis)}(timeout={rng.randint(1, 60)})",
                          f"{rng.choice(self.apis)} = {rng.randint(0, 9999)}", "```"]
            if rng.random() < 0.2:
                parts += ["", "| name | default | meaning |", "|---|---|---|"]
                parts += [f"| `{rng.choice(self.apis)}` | {rng.randint(0, 99)} | {self.sentence()} |" for _ in range(4)]
        return title, "\n".join(parts) + "\n"


def make_folder(data_dir: Path, pages: int) -> tuple[float, int]:
    crawl_dir = data_dir / CRAWL_ID
    crawl_dir.mkdir(parents=True)
    write_json(crawl_dir / "config.json", {"url": "https://docs.example.org/"})
    store = CrawlStore(crawl_dir)
    store.open()
    writer = Writer()
    started = time.perf_counter()
    total = 0
    for number in range(pages):
        title, text = writer.page(number)
        url = f"https://docs.example.org/section-{number % 40}/page-{number}.html"
        entry = store.save_page(url=url, document=f"# {title}\n\nSource: <{url}>\n\n{text}", title=title,
                                depth=2, http_status=200, words=len(text.split()), fetched_at="2026-11-27T12:00:00.000Z")
        total += entry.bytes
    store.close()
    return time.perf_counter() - started, total


def queries(writer: Writer, rng: random.Random) -> dict[str, list[str]]:
    mid = writer.rare[200:2000]
    tail = writer.rare[6000:]
    return {
        "common word": [rng.choice(COMMON[20:]) for _ in range(40)],
        "rare word": [rng.choice(tail) for _ in range(40)],
        "two words": [f"{rng.choice(COMMON[20:])} {rng.choice(mid)}" for _ in range(40)],
        "phrase": [f'"{rng.choice(COMMON[20:])} {rng.choice(COMMON[20:])}"' for _ in range(40)],
        "prefix": [f"{rng.choice(mid)[:3]}*" for _ in range(40)],
        "OR": [f"{rng.choice(tail)} OR {rng.choice(tail)}" for _ in range(40)],
    }


def section_count(index) -> int:  # type: ignore[no-untyped-def]
    import sqlite3

    connection = sqlite3.connect(f"file:{index.path}?mode=ro", uri=True)
    try:
        return int(connection.execute("SELECT count(*) FROM sections").fetchone()[0])
    finally:
        connection.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20000)
    parser.add_argument("--keep", action="store_true", help="keep the generated folder (path printed)")
    parser.add_argument("--baseline", type=Path, help="an earlier search.json to compare p95 with")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-search-"))
    try:
        print(f"writing {args.pages} pages into {data_dir} ...", flush=True)
        write_seconds, page_bytes = make_folder(data_dir, args.pages)
        print(f"  {write_seconds:.1f} s, {page_bytes / 1e6:.1f} MB of Markdown", flush=True)

        index, indexer = open_search(data_dir, start=False)
        started = time.perf_counter()
        indexer.catch_up()
        index_seconds = time.perf_counter() - started
        index.checkpoint(truncate=True)  # measure the file as it settles, not the WAL's high-water mark
        stats = index.stats()
        sections = section_count(index)
        print(f"indexed {stats['pages']} pages ({sections} sections) in {index_seconds:.1f} s; "
              f"index {stats['bytes'] / 1e6:.1f} MB", flush=True)

        latency: dict[str, dict[str, float]] = {}
        every: list[float] = []
        for kind, texts in queries(Writer(), random.Random(11)).items():
            times, totals = [], []
            for text in texts:
                begun = time.perf_counter()
                found = index.search(text, [CRAWL_ID], limit=10)
                times.append((time.perf_counter() - begun) * 1000)
                assert all(hit.section_chars or hit.text == "" for hit in found.hits)
                totals.append(found.total)
            every += times
            latency[kind] = {"p50_ms": round(percentile(times, 0.5), 2), "p95_ms": round(percentile(times, 0.95), 2),
                             "max_ms": round(max(times), 2), "median_hits": statistics.median(totals)}
            print(f"  {kind:12} p50 {latency[kind]['p50_ms']:7.2f} ms  p95 {latency[kind]['p95_ms']:7.2f} ms  "
                  f"median hits {latency[kind]['median_hits']}", flush=True)
        indexer.stop()

        result = {
            "pages": stats["pages"], "sections": sections, "markdown_mb": round(page_bytes / 1e6, 1),
            "index_mb": round(stats["bytes"] / 1e6, 1), "index_to_markdown": round(stats["bytes"] / page_bytes, 2),
            "indexing_seconds": round(index_seconds, 1), "indexing_pages_per_s": round(stats["pages"] / index_seconds),
            "query_p50_ms": round(percentile(every, 0.5), 2), "query_p95_ms": round(percentile(every, 0.95), 2),
            "by_kind": latency,
            "index_bytes_per_page": round(stats["bytes"] / max(1, stats["pages"])),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.system()},
        }
        comparison = ""
        if args.baseline:
            before = json.loads(args.baseline.read_text())
            result["baseline"] = {"pages": before["pages"], "query_p95_ms": before["query_p95_ms"],
                                  "index_mb": before["index_mb"],
                                  "p95_ratio": round(result["query_p95_ms"] / before["query_p95_ms"], 2),
                                  "by_kind_p95_ms": {k: v["p95_ms"] for k, v in before["by_kind"].items()}}
            comparison = (f" Against the baseline ({before['pages']} pages, page-level index): p95 "
                          f"{before['query_p95_ms']} ms → {result['query_p95_ms']} ms "
                          f"({result['baseline']['p95_ratio']}×), index {before['index_mb']} MB → {result['index_mb']} MB.")
            print(comparison.strip(), flush=True)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "search.json").write_text(json.dumps(result, indent=2) + "\n")
        rows = "\n".join(f"| {kind} | {v['p50_ms']} | {v['p95_ms']} | {v['max_ms']} | {v['median_hits']} |"
                         for kind, v in latency.items())
        (RESULTS / "search.md").write_text(
            f"# Search benchmark\n\n{result['pages']} pages, {result['markdown_mb']} MB of Markdown; "
            f"index {result['index_mb']} MB ({result['index_to_markdown']}× the Markdown); indexed from scratch in "
            f"{result['indexing_seconds']} s ({result['indexing_pages_per_s']} pages/s); all queries p50 "
            f"{result['query_p50_ms']} ms, p95 {result['query_p95_ms']} ms. Hits are sections: {sections} sections "
            f"indexed, each hit a page with its best section.{comparison}\n\n"
            f"| query | p50 ms | p95 ms | max ms | median hits |\n|---|---|---|---|---|\n{rows}\n")
        print(json.dumps(result, indent=2))
    finally:
        if args.keep:
            print(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
