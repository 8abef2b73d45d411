"""Crawl from a terminal, no server: ``python -m crawler https://docs.example.org/ --out ./crawls``.

The same engine as the dashboard, with a sink that prints the live log and a progress line.
Ctrl-C stops the crawl the same way the Stop button does: everything saved so far is kept.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from .config import ConfigError, parse_crawl_config
from .controller import CrawlController
from .cpu import CpuPool
from .events import Event
from .netguard import ensure_public_target, non_public_reason
from .crawls import new_crawl_id
from .store import CrawlStore


class TerminalSink:
    """Prints log lines as they come and a one-line progress summary about once a second."""

    def __init__(self, out: TextIO = sys.stderr, quiet: bool = False) -> None:
        self._out = out
        self._quiet = quiet
        self._last_progress = ""

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        if event == Event.LOG.value and not self._quiet:
            print(f"[{payload['level']:>7}] {payload['message']}", file=self._out, flush=True)
        elif event == Event.PROGRESS.value:
            eta = "?" if payload["eta"] is None else f"{'' if payload['total_final'] else '≈'}{payload['eta']:.0f}s"
            refused = sum(payload.get("refused", {}).values())
            line = (f"{payload['current']}/{payload['total']}{'' if payload['total_final'] else '+'} pages, "
                    f"{payload['ok']} ok, {payload['failed']} failed, {payload['skipped']} skipped, "
                    f"{payload['speed']:.1f} pages/s, ETA {eta}"
                    + (f" ({refused:,} links not followed)" if refused else ""))
            if line != self._last_progress:
                print(line, file=self._out, flush=True)
                self._last_progress = line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m crawler", description="Crawl a documentation site to Markdown.")
    parser.add_argument("url", nargs="+", help="start URL; several URLs crawl exactly those pages (a selection)")
    parser.add_argument("--out", default="./crawls", help="data directory (default ./crawls)")
    parser.add_argument("--max-pages", type=int, default=500)
    parser.add_argument("--max-depth", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--per-host-concurrency", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between requests to one host")
    parser.add_argument("--scope", choices=["prefix", "host", "subdomains"], default="prefix")
    parser.add_argument("--include", action="append", default=[], help="glob; repeat for more")
    parser.add_argument("--exclude", action="append", default=[], help="glob; repeat for more")
    parser.add_argument("--ignore-robots", action="store_true", help="for sites you own")
    parser.add_argument("--no-sitemaps", action="store_true", help="follow links only")
    parser.add_argument("--max-retries", type=int, default=3)
    parser.add_argument("--user-agent", default=None)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--allow-private-targets", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="progress lines only, no per-page log")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = parse_crawl_config({
            "url": args.url[0], "urls": args.url if len(args.url) > 1 else None,
            "max_pages": args.max_pages, "max_depth": args.max_depth, "concurrency": args.concurrency,
            "per_host_concurrency": args.per_host_concurrency, "delay": args.delay, "scope": args.scope,
            "include": args.include, "exclude": args.exclude, "respect_robots": not args.ignore_robots,
            "use_sitemaps": not args.no_sitemaps, "max_retries": args.max_retries,
            "user_agent": args.user_agent, "timeout": args.timeout,
        })
        if not args.allow_private_targets:
            for url in dict.fromkeys((config.url, *config.urls)):
                ensure_public_target(url)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    crawl_id = new_crawl_id()
    crawl_dir = Path(args.out) / crawl_id
    crawl_dir.mkdir(parents=True)
    store = CrawlStore(crawl_dir)
    store.write_meta("config.json", config.to_dict())
    cpu = CpuPool()
    stop = threading.Event()
    controller = CrawlController(crawl_id, config, store, TerminalSink(quiet=args.quiet), stop, cpu,
                                 address_policy=None if args.allow_private_targets else non_public_reason)
    signal.signal(signal.SIGINT, lambda *_: controller.request_stop("interrupted (Ctrl-C)"))
    try:
        summary = controller.run()
    finally:
        cpu.shutdown()
    print(f"{summary['state']}: {summary['ok']} pages saved in {crawl_dir} "
          f"({summary['failed']} failed, {summary['skipped']} skipped, {summary['duration']} s)")
    return 0 if summary["state"] != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())
