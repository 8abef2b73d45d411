"""What a refresh saves: a first crawl against a refresh of the same, unchanged site.

    python bench/refresh.py              # 2,000 pages, 3 runs, medians
    python bench/refresh.py --runs 1 --pages 300   # quicker

The site is tests/support/site.py's (pages shaped like real docs, ~11 KB each), served with an ETag
(a hash of the body) and a Last-Modified on every page, answering `If-None-Match` with
304 Not Modified as real servers do. Each run starts a fresh server (`crawler_app.py` in its own
process, its own data directory), crawls the site over Socket.IO, then refreshes that crawl
(`refresh_crawl`) with the site unchanged. Measured per crawl: wall time from the request to
`crawler_finished`, the bytes the site wrote to its sockets (status lines, headers and bodies), its requests and 304 answers,
and the summary's `reused` (pages not extracted again). Results: a table on stdout and
bench/results/refresh.md.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.server import Client, ServerProcess
from tests.support.site import DocSite, SiteOptions

RESULTS = ROOT / "bench" / "results"
LAST_MODIFIED = "Wed, 25 Nov 2026 10:00:00 GMT"


class ValidatorSite(DocSite):
    """tests/support/site.py's site with validators on its pages, and byte counts of what it sent."""

    def __init__(self, options: SiteOptions) -> None:
        super().__init__(options)
        self.bytes_sent = 0
        self.requests_seen = 0
        self.not_modified = 0
        self._counts = threading.Lock()

    def reset_counts(self) -> None:
        with self._counts:
            self.bytes_sent = self.requests_seen = self.not_modified = 0

    def _send(self, handler: Any, status: int, body: bytes, content_type: str) -> None:
        """Every answer's bytes as written to the socket, status line and headers included."""
        counter = CountingWriter(handler.wfile)
        handler.wfile = counter
        try:
            self._answer_with_validators(handler, status, body, content_type)
        finally:
            handler.wfile = counter.raw
            with self._counts:
                self.requests_seen += 1
                self.bytes_sent += counter.written

    def _answer_with_validators(self, handler: Any, status: int, body: bytes, content_type: str) -> None:
        if status != 200 or not content_type.startswith("text/html"):
            return super()._send(handler, status, body, content_type)
        etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
        if handler.headers.get("If-None-Match") == etag:
            with self._counts:
                self.not_modified += 1
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return None
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("ETag", etag)
        handler.send_header("Last-Modified", LAST_MODIFIED)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return None


class CountingWriter:
    """A socket writer that counts what goes through it."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.written = 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        return self.raw.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def timed_crawl(client: Client, site: ValidatorSite, start: Any) -> dict[str, Any]:
    site.reset_counts()
    began = time.monotonic()
    crawl_id = start()
    summary = client.wait_finished(crawl_id, timeout=900)["summary"]
    seconds = time.monotonic() - began
    return {"crawl_id": crawl_id, "seconds": seconds, "bytes": site.bytes_sent, "requests": site.requests_seen,
            "not_modified": site.not_modified, "ok": summary["ok"], "reused": summary.get("reused", 0),
            "state": summary["state"]}


def one_run(pages: int) -> dict[str, dict[str, Any]]:
    site = ValidatorSite(SiteOptions(pages=pages, paragraphs=16, rich=True, extra_links=False)).start()
    with tempfile.TemporaryDirectory(prefix="bench-refresh-") as tmp:
        server = ServerProcess(Path(tmp) / "crawls", "--allow-private-targets")
        client = Client(server.base)
        try:
            config = {"url": site.url(0), "max_pages": pages + 10, "max_depth": 30, "concurrency": 8}
            first = timed_crawl(client, site, lambda: client.start(config))

            def refresh() -> str:
                ack = client.call("refresh_crawl", {"crawl_id": first["crawl_id"]})
                assert ack["ok"], ack
                return ack["crawl_id"]

            again = timed_crawl(client, site, refresh)
            changes = client.http.get(f"{server.base}/api/crawls/{again['crawl_id']}/changes", timeout=30).json()
            again["unchanged"] = changes["counts"]["unchanged"]
            return {"first": first, "refresh": again}
        finally:
            client.close()
            server.stop()
            site.stop()


def size(n: float) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} KB" if n >= 1e3 else f"{n:.0f} B"


def median(runs: list[dict[str, dict[str, Any]]], which: str, key: str) -> float:
    return statistics.median(run[which][key] for run in runs)


def report(runs: list[dict[str, dict[str, Any]]], pages: int) -> str:
    rows = []
    for which, label in (("first", "first crawl"), ("refresh", "refresh, site unchanged")):
        rows.append(f"| {label} | {median(runs, which, 'seconds'):.1f} s | {size(median(runs, which, 'bytes'))} "
                    f"| {median(runs, which, 'requests'):.0f} | {median(runs, which, 'not_modified'):.0f} "
                    f"| {median(runs, which, 'ok'):.0f} | {median(runs, which, 'reused'):.0f} |")
    share = median(runs, "refresh", "bytes") / median(runs, "first", "bytes") * 100
    speedup = median(runs, "first", "seconds") / median(runs, "refresh", "seconds")
    each = "; ".join(f"{run['first']['seconds']:.1f} s → {run['refresh']['seconds']:.1f} s, "
                     f"{run['refresh']['bytes'] / run['first']['bytes'] * 100:.3f} % of the bytes" for run in runs)
    return f"""# Refresh: first crawl vs refresh of an unchanged site

`python bench/refresh.py --pages {pages} --runs {len(runs)}` — {datetime.now().strftime('%Y-%m-%d %H:%M')},
{platform.machine()}, Python {platform.python_version()}, {len(runs)} run(s), medians.

Site: tests/support/site.py, {pages} pages shaped like real docs, every page with an ETag and a
Last-Modified, 304 to a matching `If-None-Match`. A fresh server per run; the refresh is
`refresh_crawl` on the first crawl, with the site unchanged.

| crawl | time | bytes downloaded (headers + bodies) | requests | 304 answers | pages saved | reused (not extracted) |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

The refresh downloads **{share:.3f} %** of the first crawl's bytes (target: under 5 %) and takes
**{speedup:.1f}×** less time: every page answers 304, its file and record are copied from the
first crawl and its stored links followed, so nothing is parsed or extracted again. What is
left is one request per page (the site must still be asked: status line and headers both ways,
no body) and the copying.

Runs: {each}.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only, do not write bench/results/refresh.md")
    args = parser.parse_args()
    runs = []
    for number in range(args.runs):
        run = one_run(args.pages)
        runs.append(run)
        print(f"run {number + 1}: first {run['first']['seconds']:.1f} s {run['first']['bytes'] / 1e6:.2f} MB, "
              f"refresh {run['refresh']['seconds']:.1f} s {run['refresh']['bytes'] / 1e6:.3f} MB "
              f"({run['refresh']['not_modified']} × 304, {run['refresh']['reused']} reused, "
              f"{run['refresh']['unchanged']} unchanged)", flush=True)
    text = report(runs, args.pages)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "refresh.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
