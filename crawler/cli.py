"""Crawl from a terminal, no server: ``python -m crawler https://docs.example.org/ --out ./crawls``.

The same engine as the dashboard, with a sink that shows progress: a live bar (pages, speed,
ETA) through rich when stdout is a terminal, plain lines when it is not, or the event stream as
JSON lines with ``--json`` (for scripts). Ctrl-C stops the crawl the same way the Stop button
does: everything saved so far is kept.

The crawl folder is written like the server's (``crawl.json`` included), so a server on the same
data directory lists it in the history of the session named by ``--owner`` (by default the
fixed owner ``cli``, which no browser session has: such crawls stay on disk only).

``python -m crawler --refresh <crawl folder>`` crawls the same site again with the same settings
into a new folder beside it, reusing the pages that did not change, and writes ``changes.json``
(what is new, changed, removed, unchanged).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from .changes import CHANGES_FILE
from .config import ConfigError, CrawlConfig, parse_crawl_config
from .cpu import CpuPool
from .events import Event, EventSink, State, iso_timestamp
from .netguard import ensure_public_target
from .render import RenderPool, check_render_setting
from .crawls import new_crawl_id
from .crawls.history import write_crawl_meta
from .crawls.history import CRAWL_ID_PATTERN
from .crawls.job import build_controller, run_job
from .crawls.records import CrawlRecord
from .store import CrawlStore, iter_manifest, read_json

CLI_OWNER = "cli"


class TerminalSink:
    """Plain lines: log lines as they come and a one-line progress summary when it changes."""

    def __init__(self, out: TextIO = sys.stderr, quiet: bool = False) -> None:
        self._out = out
        self._quiet = quiet
        self._last_progress = ""

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        if event == Event.LOG.value and not self._quiet:
            print(f"[{payload['level']:>7}] {payload['message']}", file=self._out, flush=True)
        elif event == Event.PROGRESS.value:
            line = progress_line(payload)
            if line != self._last_progress:
                print(line, file=self._out, flush=True)
                self._last_progress = line


def eta_text(eta: float | None) -> str:
    if eta is None:
        return "?"
    minutes, seconds = divmod(int(round(eta)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def progress_line(payload: dict[str, Any]) -> str:
    """One plain line of progress; `≈` before an ETA while the total may still grow."""
    estimated = "" if payload["total_final"] or payload["eta"] is None else "≈"
    refused = sum((payload.get("refused") or {}).values())
    return (f"{payload['current']}/{payload['total']}{'' if payload['total_final'] else '+'} pages, "
            f"{payload['ok']} ok, {payload['failed']} failed, {payload['skipped']} skipped, "
            f"{payload['speed']:.1f} pages/s, ETA {estimated}{eta_text(payload['eta'])}"
            + (f" ({refused:,} links not followed)" if refused else ""))


class JsonLinesSink:
    """Every event as one JSON object per line, `{"event": name, "data": payload}`, flushed."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self._out = out
        self._lock = threading.Lock()

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        line = json.dumps({"event": event, "data": payload}, ensure_ascii=False)
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()


class RichSink:
    """A live progress bar (pages handled of pages known, speed, ETA, current stage) with the
    log scrolling above it. Speed and ETA are the engine's own (docs/events.md)."""

    def __init__(self, out: TextIO = sys.stdout, quiet: bool = False) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        self.console = Console(file=out)
        self._quiet = quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(),
            TextColumn("{task.completed}/{task.fields[known]} pages"),
            TextColumn("{task.fields[counts]}"),
            TextColumn("{task.fields[speed]:.1f} pages/s"), TextColumn("ETA {task.fields[eta]}"),
            console=self.console, transient=False)
        self._task = self.progress.add_task("starting", total=None, known="?", counts="", speed=0.0, eta="?")

    def __enter__(self) -> "RichSink":
        self.progress.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.progress.stop()

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        if event == Event.LOG.value and not self._quiet:
            style = {"error": "red", "warning": "yellow"}.get(payload["level"])
            self.console.print(f"[{payload['level']:>7}] {payload['message']}", style=style, markup=False,
                               highlight=False)
        elif event == Event.PROGRESS.value:
            total = payload["total"]
            self.progress.update(
                self._task, description=payload["state"], completed=payload["current"], total=max(total, 1),
                known=f"{total}{'' if payload['total_final'] else '+'}",
                counts=f"{payload['ok']} ok, {payload['failed']} failed, {payload['skipped']} skipped",
                speed=payload["speed"], eta=eta_text(payload["eta"]))
        elif event == Event.STATUS.value:
            self.progress.update(self._task, description=payload["state"])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m crawler", description="Crawl a documentation site to Markdown.")
    parser.add_argument("url", nargs="*", help="start URL; several URLs crawl exactly those pages (a selection)")
    parser.add_argument("--refresh", metavar="CRAWL_DIR", default=None,
                        help="crawl again with the settings of this ended crawl folder, into a new folder beside it, "
                             "reusing unchanged pages; writes changes.json (the other crawl options do not apply)")
    parser.add_argument("--out", default="./crawls", help="data directory (default ./crawls)")
    parser.add_argument("--max-pages", type=int, default=500)
    parser.add_argument("--max-depth", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--per-host-concurrency", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between requests to one host")
    parser.add_argument("--scope", choices=["prefix", "host", "subdomains"], default="prefix")
    parser.add_argument("--include", action="append", default=[], help="glob; repeat for more")
    parser.add_argument("--exclude", action="append", default=[], help="glob; repeat for more")
    parser.add_argument("--content-selector", default=None,
                        help="CSS selector of a page's content (when it matches, only that is kept)")
    parser.add_argument("--exclude-selector", action="append", default=[],
                        help="CSS selector of parts of every page to leave out; repeat for more")
    parser.add_argument("--ignore-robots", action="store_true", help="for sites you own")
    parser.add_argument("--no-sitemaps", action="store_true", help="follow links only")
    parser.add_argument("--max-retries", type=int, default=3)
    parser.add_argument("--user-agent", default=None)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--allow-private-targets", action="store_true")
    parser.add_argument("--render", choices=["auto", "never", "always"], default="auto",
                        help="render pages that need JavaScript in headless Chromium: auto (only those that "
                             "need it, the default), never, always")
    parser.add_argument("--quiet", action="store_true", help="progress only, no per-page log")
    parser.add_argument("--json", action="store_true",
                        help="print every event as a JSON line on stdout ({\"event\": ..., \"data\": ...}), "
                             "for scripts; nothing else is printed there")
    parser.add_argument("--owner", default=None,
                        help="session id the crawl belongs to, so a server on the same data directory lists it in "
                             "that browser's history (see README; or CRAWLER_CLI_SESSION; default: 'cli', listed "
                             "for nobody)")
    return parser.parse_args(argv)


def refresh_source(folder: str) -> tuple[Path, CrawlConfig, dict[str, Any]]:
    """The crawl folder to refresh: (its folder, its settings, its crawl.json), or ConfigError."""
    crawl_dir = Path(folder).resolve()
    if not CRAWL_ID_PATTERN.match(crawl_dir.name) or not (crawl_dir / "crawl.json").is_file():
        raise ConfigError(f"--refresh needs a crawl folder (<data-dir>/<crawl id> with a crawl.json), got {folder!r}")
    try:
        meta = read_json(crawl_dir / "crawl.json")
        config = parse_crawl_config(read_json(crawl_dir / "config.json"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the crawl in {folder}: {exc}") from None
    state = meta.get("state")
    if meta.get("kind", "crawl") != "crawl":
        raise ConfigError(f"{crawl_dir.name} is a discovery: only crawls can be refreshed")
    if state not in State._value2member_map_ or not State(state).is_final:
        raise ConfigError(f"crawl {crawl_dir.name} is still {state}: refresh it once it has ended")
    if not any(entry.get("status") == "ok" for entry in iter_manifest(crawl_dir)):
        raise ConfigError(f"crawl {crawl_dir.name} saved no page: there is nothing to refresh")
    return crawl_dir, config, meta


def crawl_config(args: argparse.Namespace) -> CrawlConfig:
    if not args.url:
        raise ConfigError("give a start URL (or several: a selection), or --refresh <crawl folder>")
    return parse_crawl_config({
            "url": args.url[0], "urls": args.url if len(args.url) > 1 else None,
            "max_pages": args.max_pages, "max_depth": args.max_depth, "concurrency": args.concurrency,
            "per_host_concurrency": args.per_host_concurrency, "delay": args.delay, "scope": args.scope,
            "include": args.include, "exclude": args.exclude, "respect_robots": not args.ignore_robots,
            "use_sitemaps": not args.no_sitemaps, "max_retries": args.max_retries,
            "user_agent": args.user_agent, "timeout": args.timeout, "render": args.render,
            "content_selector": args.content_selector, "exclude_selectors": args.exclude_selector,
        })


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    refresh_of: str | None = None
    owner = (args.owner or os.environ.get("CRAWLER_CLI_SESSION", "")).strip()
    data_dir = Path(args.out)
    try:
        if args.refresh:
            if args.url:
                raise ConfigError("--refresh takes its settings from the crawl folder: give no URL with it")
            old_dir, config, meta = refresh_source(args.refresh)
            refresh_of, data_dir = old_dir.name, old_dir.parent
            owner = owner or str(meta.get("owner") or "")
        else:
            config = crawl_config(args)
        check_render_setting(config.render)
        if not args.allow_private_targets:
            for url in dict.fromkeys((config.url, *config.urls)):
                ensure_public_target(url)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    owner = owner or CLI_OWNER
    crawl_id = new_crawl_id()
    crawl_dir = data_dir / crawl_id
    crawl_dir.mkdir(parents=True)
    store = CrawlStore(crawl_dir)
    store.write_meta("config.json", config.to_dict())
    record = CrawlRecord(crawl_id, owner, config, iso_timestamp(), refresh_of=refresh_of)
    write_crawl_meta(crawl_dir, record, State.RUNNING)
    rich_sink = RichSink(quiet=args.quiet) if not args.json and sys.stdout.isatty() else None
    sink: EventSink = (JsonLinesSink() if args.json else rich_sink if rich_sink is not None
                       else TerminalSink(quiet=args.quiet))
    cpu = CpuPool()
    render = RenderPool()
    stop = threading.Event()
    controller = build_controller(record, data_dir, sink, stop, cpu, allow_private_targets=args.allow_private_targets,
                                  render=render)
    signal.signal(signal.SIGINT, lambda *_: controller.request_stop("interrupted (Ctrl-C)"))
    try:
        if rich_sink is not None:
            with rich_sink:
                summary = run_job(controller, record, data_dir)
        else:
            summary = run_job(controller, record, data_dir)
    finally:
        cpu.shutdown()
        render.close()
    final = (f"{summary['state']}: {summary['ok']} pages saved in {crawl_dir} "
             f"({summary['failed']} failed, {summary['skipped']} skipped, {summary['duration']} s)")
    print(final, file=sys.stderr if args.json else sys.stdout)
    if refresh_of and (crawl_dir / CHANGES_FILE).exists():
        counts = read_json(crawl_dir / CHANGES_FILE)["counts"]
        print(f"changes since {refresh_of}: {counts['new']} new, {counts['changed']} changed, "
              f"{counts['removed']} removed, {counts['unchanged']} unchanged, {counts.get('unchecked', 0)} not reached "
              f"({counts['reused']} pages reused "
              f"without extraction); see {crawl_dir / CHANGES_FILE}", file=sys.stderr if args.json else sys.stdout)
    return 0 if summary["state"] != "failed" else 1

if __name__ == "__main__":
    sys.exit(main())
