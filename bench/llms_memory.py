"""Memory and time of writing a crawl's llms files (llms.txt, llms-full.txt, llms-report.json),
without crawling: a synthetic docs-shaped crawl folder, written by the real CrawlStore, then
`write_llms_files` on it in a fresh process.

    python bench/llms_memory.py                          # 1,000, 20,000 and 100,000 pages
    python bench/llms_memory.py --sizes 1000,20000 --keep bench/.cache/llms-folders

Each size is measured twice, each time in a new process: once plain (wall time and peak RSS,
`resource.getrusage().ru_maxrss`), once under tracemalloc (peak of Python allocations). The
folders are made once and kept in `--keep` (default: a temporary directory, removed after).
bench/run.py's `memory` scenario measures the whole server through a real crawl (many minutes);
this isolates the end-of-crawl work in seconds to a few minutes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from crawler.engine.extract import page_document
from crawler.folder.writer import CrawlStore, write_json

BASE = "https://docs.example.org/docs/"
SECTIONS = 40
SHARED_DESCRIPTION = "The documentation of Example, for everyone."


def page_url(number: int) -> str:
    """Page 0 is the start page; the others sit in one of SECTIONS folders, some under a changelog."""
    if number == 0:
        return BASE
    if number % 97 == 0:
        return f"{BASE}changelog/release-{number}.html"
    return f"{BASE}section-{number % SECTIONS}/page-{number}.html"


def page_markdown(number: int) -> str:
    """~1.2 KB of prose: a heading, paragraphs with a first sentence, a code block."""
    paragraphs = [f"This page explains how feature number {number} of the example works in practice. "
                  f"It has more to say about the options of feature {number}."] + [
        f"Paragraph {p} of page {number}: the settings, the defaults and what they change. "
        "Each value is read once, when the program starts, and kept." for p in range(6)]
    return f"## Feature {number}\n\n" + "\n\n".join(paragraphs) + "\n\n```\nexample --feature\n```\n"


def make_folder(folder: Path, pages: int) -> None:
    """A crawl folder of `pages` saved pages through the real writer: discovered breadth first,
    saved in a slightly different order (every 50th page late), every 10th without discovery line,
    shared meta descriptions, navigation for most pages, canonical copies."""
    folder.mkdir(parents=True, exist_ok=True)
    store = CrawlStore(folder)
    store.open()
    write_json(folder / "config.json", {"url": BASE})
    for number in range(pages):
        if number % 10 != 3:
            store.record_discovered(page_url(number), "start" if number == 0 else "link", 1)
    late = [number for number in range(pages) if number % 50 == 1]
    for number in [n for n in range(pages) if n % 50 != 1] + late:
        url = page_url(number)
        section = number % SECTIONS
        description = (SHARED_DESCRIPTION if number % 3 == 0 else f"What feature {number} does and how to set it up.")
        store.save_page(url=url, document=page_document(f"Feature {number} | Example Docs", url, page_markdown(number)),
                        title=f"Feature {number} | Example Docs", depth=1, http_status=200, words=200,
                        fetched_at="2026-01-01T00:00:00Z", source="start" if number == 0 else "link",
                        canonical=url.replace(".html", "/") if number % 211 == 5 else None,
                        site_name="Example Docs" if number % 2 else None, description=description,
                        nav=[f"Part {section % 6}", f"Topic {section}"] if number % 5 else None)
    store.close()


MEASURE = """
import json, resource, sys, time, tracemalloc
sys.path.insert(0, {root!r})
from crawler.outputs.llms import write_llms_files
trace = {trace!r}
if trace:
    tracemalloc.start()
started = time.perf_counter()
write_llms_files({folder!r})
seconds = time.perf_counter() - started
peak = tracemalloc.get_traced_memory()[1] if trace else None
print(json.dumps({{"seconds": seconds, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "tracemalloc_peak": peak}}))
"""


def measure(folder: Path, trace: bool) -> dict[str, float]:
    """One run of write_llms_files in a fresh process: its time, peak RSS and (traced) Python peak."""
    code = MEASURE.format(root=str(ROOT), folder=str(folder), trace=trace)
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,20000,100000")
    parser.add_argument("--keep", type=Path, help="where the folders are made (and kept, to run again)")
    args = parser.parse_args()
    home = args.keep or Path(tempfile.mkdtemp(prefix="llms-memory-"))
    try:
        print(f"{'pages':>8} {'seconds':>8} {'peak RSS MB':>12} {'traced peak MB':>15}")
        for size in (int(value) for value in args.sizes.split(",")):
            folder = home / f"pages-{size}"
            if not (folder / "manifest.jsonl").is_file():
                started = time.perf_counter()
                make_folder(folder, size)
                print(f"(made {folder} in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
            plain, traced = measure(folder, False), measure(folder, True)
            print(f"{size:>8} {plain['seconds']:>8.2f} {plain['maxrss_kb'] / 1024:>12.1f} "
                  f"{traced['tracemalloc_peak'] / 2**20:>15.1f}", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
