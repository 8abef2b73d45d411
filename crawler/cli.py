"""Crawl from a terminal, no server: ``crawler https://docs.example.org/ --out ./crawls``.

The same engine as the dashboard, with a sink that shows progress: a live bar (pages, speed,
ETA) through rich when stdout is a terminal, plain lines when it is not, or the event stream as
JSON lines with ``--json`` (for scripts). Ctrl-C stops the crawl the same way the Stop button
does: everything saved so far is kept. So does a reader that goes away (``--json | head``, a
closed terminal): stdout or stderr found closed (by a write, or for a pipe as soon as its
reader leaves) stops the crawl quietly, and the process exits with 141 (128 + SIGPIPE, what a
shell reports for ``yes | head``).

The crawl folder is written like the server's (``crawl.json`` included), so a server on the same
data directory lists it in the history of the session named by ``--owner`` (by default the
fixed owner ``cli``, which no browser session has: such crawls stay on disk only).

``crawler --refresh <crawl folder>`` crawls the same site again with the same settings
into a new folder beside it, reusing the pages that did not change, and writes ``changes.json``
(what is new, changed, removed, unchanged).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import select
import signal
import stat
import sys
import threading
from pathlib import Path
from typing import Any, Protocol, TextIO, cast

from crawler.engine.config import ConfigError, CrawlConfig, parse_crawl_config
from crawler.engine.cpu import CpuPool
from crawler.engine.events import CrawlKind, Event, EventSink, PageStatus, State, iso_timestamp
from crawler.engine.netguard import ensure_public_target
from crawler.folder.paths import is_crawl_id
from crawler.folder.reader import iter_manifest, read_json
from crawler.folder.writer import CrawlStore, make_private_dirs
from crawler.outputs.changes import CHANGES_FILE
from crawler.render import RenderPool, check_render_setting
from crawler.service import new_crawl_id
from crawler.service.history import write_crawl_meta
from crawler.service.job import build_controller, run_job
from crawler.service.records import CrawlRecord

CLI_OWNER = "cli"
OUTPUT_CLOSED_EXIT = 141  # 128 + SIGPIPE: the shell's code for a command whose reader left (`yes | head`)


class TextOut(Protocol):
    """What the plain sinks write to: a text stream, or a GuardedStream around one."""

    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...


class GuardedStream:
    """stdout or stderr, such that a reader going away cannot break the crawl.

    Python ignores SIGPIPE, so a write to a pipe nobody reads any more raises BrokenPipeError
    (EIO on a terminal that was closed, ValueError on a stream closed in-process). The first
    such write points the descriptor at /dev/null (so nothing at exit tries again: no "Exception
    ignored" line), calls `on_closed` once, and this write and every later one are dropped.
    Any other error is raised as before."""

    def __init__(self, stream: TextIO, name: str, on_closed: Any) -> None:
        self._stream = stream
        self.name = name
        self._on_closed = on_closed
        self._lock = threading.Lock()
        self.gone = False
        try:
            self._terminal = stream.isatty()
        except (OSError, ValueError):
            self._terminal = False

    def _reader_left(self, exc: BaseException) -> bool:
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            return True
        if isinstance(exc, ValueError):  # "I/O operation on closed file", not an encoding error
            return bool(getattr(self._stream, "closed", False))
        return isinstance(exc, OSError) and exc.errno == errno.EIO and self._terminal

    def went_away(self) -> None:
        with self._lock:
            if self.gone:
                return
            self.gone = True
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._stream.fileno())
                os.close(devnull)
            except (OSError, ValueError):
                pass
        self._on_closed(self)

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except (OSError, ValueError) as exc:
                if not self._reader_left(exc):
                    raise
                self.went_away()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except (OSError, ValueError) as exc:
                if not self._reader_left(exc):
                    raise
                self.went_away()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding... for print() and rich
        return getattr(self._stream, name)


def watch_pipes(streams: list[GuardedStream], done: threading.Event) -> None:
    """Notice a pipe whose reader left even while nothing is written to it (without --json,
    stdout only gets the closing line): the write end of such a pipe polls as an error."""
    if not hasattr(select, "poll"):
        return
    poller = select.poll()
    by_fd: dict[int, GuardedStream] = {}
    for stream in streams:
        try:
            fd = stream.fileno()
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                poller.register(fd, 0)  # no event asked for: POLLERR and POLLHUP come anyway
                by_fd[fd] = stream
        except (OSError, ValueError):
            continue
    while by_fd and not done.is_set():
        for fd, _ in poller.poll(250):
            poller.unregister(fd)
            by_fd.pop(fd).went_away()


class TerminalSink:
    """Plain lines: log lines as they come and a one-line progress summary when it changes."""

    def __init__(self, out: TextOut = sys.stderr, quiet: bool = False) -> None:
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


def eta_shown(payload: dict[str, Any]) -> str:
    """The ETA as the crawl knows it: a range with `≈` while the total is an estimate (`≈ 15s–25s`)."""
    if payload["eta"] is None:
        return "?"
    if payload["total_final"]:
        return eta_text(payload["eta"])
    low_high = payload.get("eta_range")
    if low_high:
        low, high = eta_text(low_high[0]), eta_text(low_high[1])
        return f"≈ {low}" if low == high else f"≈ {low}–{high}"
    return f"≈ {eta_text(payload['eta'])}"


def known_shown(payload: dict[str, Any]) -> str:
    """Pages known, and while links may add more, where the total will likely end (`901+ of ≈ 1,100–1,400`)."""
    total = payload["total"]
    if payload["total_final"]:
        return f"{total}"
    low_high = payload.get("total_range")
    if not low_high:
        return f"{total}+"
    low, high = low_high
    return f"{total}+ of ≈ {low:,}" if low == high else f"{total}+ of ≈ {low:,}–{high:,}"


def progress_line(payload: dict[str, Any]) -> str:
    """One plain line of progress; the ETA and the total as ranges with `≈` while the total may still grow."""
    refused = sum((payload.get("refused") or {}).values())
    return (f"{payload['current']}/{known_shown(payload)} pages, "
            f"{payload['ok']} ok, {payload['failed']} failed, {payload['skipped']} skipped, "
            f"{payload['speed']:.1f} pages/s, ETA {eta_shown(payload)}"
            + (f" ({refused:,} links not followed)" if refused else ""))


class JsonLinesSink:
    """Every event as one JSON object per line, `{"event": name, "data": payload}`, flushed."""

    def __init__(self, out: TextOut = sys.stdout) -> None:
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

    def __enter__(self) -> RichSink:
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
                known=known_shown(payload),
                counts=f"{payload['ok']} ok, {payload['failed']} failed, {payload['skipped']} skipped",
                speed=payload["speed"], eta=eta_shown(payload))
        elif event == Event.STATUS.value:
            self.progress.update(self._task, description=payload["state"])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="crawler", description="Crawl a documentation site to Markdown.",
        epilog="Ctrl-C stops the crawl and keeps what was saved; so does a reader that goes away (stdout or "
               "stderr closed, e.g. `--json | head`). Exit status: 0 the crawl ended (completed or stopped), "
               "1 it failed, 2 bad input, 141 (128 + SIGPIPE) it was stopped because its output was closed.")
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
    parser.add_argument("--prefer-site-markdown", action="store_true",
                        help="save a page's own Markdown version (an .md the page names) instead of converting its HTML")
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
    if not is_crawl_id(crawl_dir.name) or not (crawl_dir / "crawl.json").is_file():
        raise ConfigError(f"--refresh needs a crawl folder (<data-dir>/<crawl id> with a crawl.json), got {folder!r}")
    try:
        meta = read_json(crawl_dir / "crawl.json")
        config = parse_crawl_config(read_json(crawl_dir / "config.json"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the crawl in {folder}: {exc}") from None
    state = meta.get("state")
    if meta.get("kind", CrawlKind.CRAWL) != CrawlKind.CRAWL:
        raise ConfigError(f"{crawl_dir.name} is a discovery: only crawls can be refreshed")
    if state not in State._value2member_map_ or not State(state).is_final:
        raise ConfigError(f"crawl {crawl_dir.name} is still {state}: refresh it once it has ended")
    if not any(entry.get("status") == PageStatus.OK for entry in iter_manifest(crawl_dir)):
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
            "prefer_site_markdown": args.prefer_site_markdown,
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
    make_private_dirs(crawl_dir, exist_ok=False)
    store = CrawlStore(crawl_dir)
    store.write_meta("config.json", config.to_dict())
    record = CrawlRecord(crawl_id, owner, config, iso_timestamp(), refresh_of=refresh_of)
    write_crawl_meta(crawl_dir, record, State.RUNNING)

    controller: Any = None
    closed: list[str] = []
    stop = threading.Event()

    def output_closed(stream: GuardedStream) -> None:
        """A reader went away: end the crawl as Ctrl-C does (what was saved is kept)."""
        closed.append(stream.name)
        if controller is not None:
            controller.request_stop(f"output closed: the reader of {stream.name} went away")
        else:
            stop.set()

    real_stdout, real_stderr = sys.stdout, sys.stderr
    stdout = GuardedStream(real_stdout, "stdout", output_closed)
    stderr = GuardedStream(real_stderr, "stderr", output_closed)
    sys.stdout, sys.stderr = stdout, stderr  # print(), warnings and logging's last resort too
    watching = threading.Event()
    try:
        # rich asks its file for isatty, fileno, encoding...: a GuardedStream hands those to its stream
        rich_sink = RichSink(cast(TextIO, stdout), quiet=args.quiet) if not args.json and stdout.isatty() else None
        sink: EventSink = (JsonLinesSink(stdout) if args.json else rich_sink if rich_sink is not None
                           else TerminalSink(stderr, quiet=args.quiet))
        cpu = CpuPool()
        render = RenderPool()
        controller = build_controller(record, data_dir, sink, stop, cpu,
                                      allow_private_targets=args.allow_private_targets, render=render)
        if closed:  # gone before the controller existed
            controller.request_stop(f"output closed: the reader of {closed[0]} went away")
        signal.signal(signal.SIGINT, lambda *_: controller.request_stop("interrupted (Ctrl-C)"))
        threading.Thread(target=watch_pipes, args=([stdout, stderr], watching), name="watch-pipes",
                         daemon=True).start()
        try:
            if rich_sink is not None:
                with rich_sink:
                    summary = run_job(controller, record, data_dir)
            else:
                summary = run_job(controller, record, data_dir)
        finally:
            watching.set()
            cpu.shutdown()
            render.close()
        # The closing lines go where they always do, or to the other stream if that one is gone.
        preferred, other = (stderr, stdout) if args.json else (stdout, stderr)
        out = other if preferred.gone else preferred
        print(f"{summary['state']}: {summary['ok']} pages saved in {crawl_dir} "
              f"({summary['failed']} failed, {summary['skipped']} skipped, {summary['duration']} s)", file=out)
        if refresh_of and (crawl_dir / CHANGES_FILE).exists():
            counts = read_json(crawl_dir / CHANGES_FILE)["counts"]
            print(f"changes since {refresh_of}: {counts['new']} new, {counts['changed']} changed, "
                  f"{counts['removed']} removed, {counts['unchanged']} unchanged, "
                  f"{counts.get('unchecked', 0)} not reached ({counts['reused']} pages reused "
                  f"without extraction); see {crawl_dir / CHANGES_FILE}", file=out)
        stdout.flush()
        stderr.flush()
    finally:
        watching.set()
        sys.stdout, sys.stderr = real_stdout, real_stderr
    if closed:
        return OUTPUT_CLOSED_EXIT
    return 0 if summary["state"] != State.FAILED else 1

if __name__ == "__main__":
    sys.exit(main())
