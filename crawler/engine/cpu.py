"""CPU-heavy stages (parsing and extraction) in worker processes shared by all crawls.

Why processes: trafilatura costs tens of milliseconds of pure-Python CPU per page. In threads it
holds the GIL, starves the threads that serve the dashboard, and has upstream crash reports under
concurrent use. In processes it uses every core, and a crash takes down one worker, not the server.

Each worker has a pipe of its own, and the thread processing a page talks to it directly: it
writes the page, reads a note when the page moves from parsing to extracting (so the dashboard
sees the real stage), then the result. Nothing else is shared between processes, so a worker
killed at any instant leaves nothing blocked for the others, and only the page it held is tried
again (in a fresh worker); a page that keeps killing workers fails alone.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from crawler.engine.errors import FetchFailed, StopRequested
from crawler.engine.extract import count_words, extract_markdown, looks_not_found, reset_caches
from crawler.engine.greenio import cooperative_pipe, is_patched, worker_start_method
from crawler.engine.heap import share_inherited, trim_heap
from crawler.engine.parse import (
    find_canonical,
    find_definition_ids,
    find_heading_ids,
    find_links,
    find_markdown_alternate,
    find_nav_path,
    find_site_meta,
    find_title,
    parse_document,
)
from crawler.engine.signals import StopSignal

log = logging.getLogger(__name__)

# Test-only fault injection: a page containing this marker makes its worker process exit, the
# way a segfault in a C extension would. Unset (the default), it costs one dict lookup per page.
CRASH_MARKER_ENV = "CRAWLER_FAULT_CRASH_MARKER"
# Test-only fault injection, same style: a page containing this marker makes extraction raise,
# the way a bug in trafilatura on one odd page would. The worker survives; the page fails.
EXTRACT_ERROR_MARKER_ENV = "CRAWLER_FAULT_EXTRACT_ERROR_MARKER"
RESET_CACHES_EVERY = 500
# After a page this large, the worker gives the heap its tree grew back to the system (glibc keeps
# freed memory otherwise, and two workers that each met a large page hold it all the crawl long).
TRIM_AFTER_BYTES = 256 * 1024
# A worker whose resident memory has grown by more than this since it started leaves after the page
# it answers, and a fresh one takes its place: what the heap kept of the pages it met (freed but
# scattered, so not given back) goes with it. High, because a fresh worker is not free (~60 ms of
# CPU for its start and its first page, measured on Django's documentation) and a worker on large
# pages needs tens of MB (+24 MB sent half of Django's pages to a fresh worker and doubled the
# crawl's CPU per page; at +64 MB none of its first 120 pages did): a bound for the pathological
# case, not a routine.
LEAVE_AFTER_GROWTH_BYTES = 64 * 2**20


@dataclass
class PageAnalysis:
    title: str | None
    links: list[str]
    canonical: str | None
    markdown: str
    words: int
    parse_seconds: float
    extract_seconds: float
    site_name: str | None = None  # og:site_name, for llms.txt
    description: str | None = None  # <meta name="description">, for llms.txt
    not_found: bool = False  # the content is a "not found" screen (a soft 404)
    nav: list[str] | None = None  # the groups above the page in the site's navigation, for llms.txt
    heading_ids: list[list[str]] | None = None  # [heading text, the site's id] pairs, for section anchors
    markdown_url: str | None = None  # the page's own Markdown version, when it names one
    definition_ids: list[list[str]] | None = None  # [term text, the site's id] of its <dt id=…>, for sections


class WorkerCrashed(Exception):
    """Extraction killed its worker process on every attempt."""


class AnalysisFailed(FetchFailed):
    """Parsing or extraction raised on this page: the page fails with code `parse_error` or
    `extract_error`, the worker and the crawl go on.

    A FetchFailed, so the crawl records it like any other failed page (reason and code, no
    retry: the same bytes would raise again). Raised in a worker process, so it pickles itself
    with the arguments its constructor takes.
    """

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(reason, None, f"{stage}_error")
        self.stage = stage

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.stage, self.reason))

    @classmethod
    def from_exception(cls, stage: str, exc: BaseException) -> AnalysisFailed:
        text = str(exc) or "no message"
        text = text if len(text) <= 300 else text[:297] + "..."
        return cls(stage, f"{stage} error: {type(exc).__name__}: {text}")


# ---- worker-process side -------------------------------------------------------------------

_stage_note: Callable[[], None] | None = None  # tells the parent the page moved on to extracting
_jobs_done = 0
_EXTRACTING = "extracting"  # the stage note, sent ahead of the page's result


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _resident_bytes() -> int:
    """This process's resident memory (Linux; 0 elsewhere, where a worker then never leaves).
    Read after every page: one small read of /proc."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


def _serve(connection: Connection, owner_pid: int, leave_after_growth: int) -> None:
    """A worker process: analyze the pages its pipe brings, one at a time, until the pipe closes
    or says None. Each answer is (True, PageAnalysis, leaving) or (False, the exception, leaving),
    `leaving` when the worker has grown too large and ends after this answer."""
    global _stage_note
    share_inherited()
    started_with = _resident_bytes()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    os.set_blocking(connection.fileno(), True)  # a pipe made by an eventlet-patched server comes non-blocking
    threading.Thread(target=_exit_with_owner, args=(owner_pid,), name="owner-watch", daemon=True).start()
    _stage_note = lambda: connection.send(_EXTRACTING)  # noqa: E731 - one line, bound to this pipe
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):  # the server closed its end, or is gone
            return
        if job is None:
            return
        try:
            answer: tuple[bool, Any, bool] = (True, analyze_page(*job), False)
        except Exception as exc:  # noqa: BLE001 - handed to the page's caller, as an executor does
            answer = (False, exc, False)
        leaving = _resident_bytes() - started_with > leave_after_growth
        try:
            connection.send((answer[0], answer[1], leaving))
        except (EOFError, OSError):
            return
        except Exception:  # noqa: BLE001 - the exception would not pickle: say what it was
            connection.send((False, RuntimeError(f"{type(answer[1]).__name__}: {answer[1]}"), leaving))
        del job, answer
        if leaving:
            return


def _exit_with_owner(owner_pid: int, interval: float = 1.0) -> None:
    """A worker outlives its server only when the server was killed (kill -9, OOM) and something
    else still holds the pipe's other end. It checks on its owner and leaves when the owner is gone."""
    while True:
        time.sleep(interval)
        try:
            os.kill(owner_pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:  # the pid now belongs to someone else's process: ours is gone
            os._exit(0)


def analyze_page(body: bytes, encoding: str | None, url: str, extract: bool = True,
                 keep_routes: bool = False, content_selector: str | None = None,
                 exclude_selectors: tuple[str, ...] = ()) -> PageAnalysis:
    """Parse once, find title, links and canonical URL, then extract Markdown from the same tree."""
    global _jobs_done
    marker = os.environ.get(CRASH_MARKER_ENV)
    if marker and marker.encode() in body:
        os._exit(70)
    started = time.perf_counter()
    try:
        tree = parse_document(body, encoding)
        title = find_title(tree)
        links = find_links(tree, url, keep_routes)
        canonical = find_canonical(tree, url)
        site_name, description = find_site_meta(tree)
        nav = find_nav_path(tree, url)
        heading_ids = find_heading_ids(tree)
        definition_ids = find_definition_ids(tree)
        markdown_url = find_markdown_alternate(tree, url, links)
    except Exception as exc:  # noqa: BLE001 - a parser bug on one odd page fails that page only
        raise AnalysisFailed.from_exception("parse", exc) from None
    parsed = time.perf_counter()
    if not extract:
        return PageAnalysis(title, links, canonical, "", 0, parsed - started, 0.0, site_name, description, nav=nav,
                            heading_ids=heading_ids, markdown_url=markdown_url, definition_ids=definition_ids)
    if _stage_note is not None:
        _stage_note()
    try:
        error_marker = os.environ.get(EXTRACT_ERROR_MARKER_ENV)
        if error_marker and error_marker.encode() in body:
            raise RuntimeError(f"fault injected by {EXTRACT_ERROR_MARKER_ENV}")
        markdown = extract_markdown(tree, url, content_selector, exclude_selectors)
    except Exception as exc:  # noqa: BLE001 - a converter bug on one odd page fails that page only
        raise AnalysisFailed.from_exception("extract", exc) from None
    extracted = time.perf_counter()
    _jobs_done += 1
    if _jobs_done % RESET_CACHES_EVERY == 0:
        reset_caches()
    if len(body) >= TRIM_AFTER_BYTES:
        del tree
        trim_heap()
    words = count_words(markdown)
    return PageAnalysis(title, links, canonical, markdown, words, parsed - started, extracted - parsed,
                        site_name, description, looks_not_found(title, markdown, words), nav, heading_ids,
                        markdown_url, definition_ids)


# ---- parent side ---------------------------------------------------------------------------

# How a worker's pipe fails under its reader: the worker died (EOF, a reset), or the pool shut
# down and closed the pipe while a thread was reading it (multiprocessing then fails inside its
# read with TypeError or ValueError).
_PIPE_GONE = (EOFError, OSError, TypeError, ValueError)


class _Worker:
    """One worker process and the parent's end of its pipe; used by one page at a time."""

    def __init__(self, context: Any, generation: int, leave_after_growth: int) -> None:
        self.connection, child = context.Pipe(duplex=True)
        self.process = context.Process(target=_serve, args=(child, os.getpid(), leave_after_growth),
                                       name="crawler-cpu-worker",
                                       daemon=True)
        self.process.start()
        child.close()
        cooperative_pipe(self.connection.fileno())
        self.generation = generation
        # Under real threads, one poll object for the pipe's whole life: Connection.poll builds a
        # selector on every call, ~0.2 ms of the server's CPU a page. Eventlet's green `select`
        # has no poll(); there the connection's own (green) poll waits.
        self._poller: Any = None
        if not is_patched() and hasattr(select, "poll"):
            self._poller = select.poll()
            self._poller.register(self.connection.fileno(), select.POLLIN)

    def ready(self, timeout: float) -> bool:
        """Whether the worker wrote something (or its end closed) within `timeout` seconds."""
        if self._poller is None:
            return self.connection.poll(timeout)
        return bool(self._poller.poll(timeout * 1000))

    def retire(self) -> None:
        """Ask it to leave once it has nothing in hand (it exits on None or on a closed pipe)."""
        try:
            self.connection.send(None)
        except (OSError, ValueError):
            pass
        self.connection.close()

    def kill(self) -> None:
        """End a worker that died or must not finish its page; reap it (no zombie is left)."""
        self.connection.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)


class CpuPool:
    """Worker processes for parsing and extraction, shared by all crawls.

    Each worker has its own pipe: the thread processing a page takes an idle worker, writes the
    page to its pipe and reads the answer itself (the stage note first). No thread relays work or
    results in between, so under real threads a page's trip costs no wake-up of another thread,
    and a worker that dies (a crash in C code on one page) takes down only the page it held: that
    page is tried again in a fresh worker, and fails alone if it kills that one too.
    """

    CRASH_ATTEMPTS = 3
    WAIT = 0.05  # seconds between looks at the stop signal while waiting

    def __init__(self, workers: int | None = None, start_method: str | None = None,
                 leave_after_growth: int = LEAVE_AFTER_GROWTH_BYTES) -> None:
        """`start_method`: a multiprocessing start method; None: greenio.worker_start_method().
        `leave_after_growth`: bytes of resident memory a worker may gain before it is replaced."""
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.leave_after_growth = leave_after_growth
        start_method = start_method or worker_start_method()
        self._context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            # Import the heavy modules once in the fork server, so workers start in milliseconds,
            # and build what every worker needs the same (crawler/engine/preload.py) to share it.
            self._context.set_forkserver_preload(["crawler.engine.cpu", "trafilatura", "lxml.html",
                                                  "crawler.engine.preload"])
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._live: set[_Worker] = set()
        self._generation = 0
        # Starting a process is not safe to run twice at once under eventlet (two green threads on
        # one OS thread both "hold" the resource tracker's lock): one start at a time.
        self._lock = threading.Lock()
        self._closed = False

    def warm_up(self) -> None:
        """Start every worker now rather than on the first page of the first crawl."""
        with self._lock:
            while len(self._live) < self.workers and not self._closed:
                self._idle.put(self._start())

    def _start(self) -> _Worker:  # with self._lock held
        worker = _Worker(self._context, self._generation, self.leave_after_growth)
        self._live.add(worker)
        return worker

    def _take(self, stop: StopSignal) -> _Worker:
        """An idle worker of the current generation (started when fewer than `workers` live)."""
        while True:
            if stop.is_set():
                raise StopRequested()
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                with self._lock:
                    if self._closed:
                        raise RuntimeError("the CPU pool is shut down") from None
                    if len(self._live) < self.workers:
                        return self._start()
                try:
                    worker = self._idle.get(timeout=self.WAIT)
                except queue.Empty:
                    continue
            if worker.generation == self._generation and worker.process.is_alive():
                return worker
            self._drop(worker)

    def _give_back(self, worker: _Worker, leaving: bool = False) -> None:
        """A worker that answered goes back to the idle ones, unless it said it is leaving (it
        grew too large), the pool is shut down or the worker is of a recycled generation."""
        if leaving or self._closed or worker.generation != self._generation:
            self._drop(worker)
        else:
            self._idle.put(worker)

    def _drop(self, worker: _Worker, dead: bool = False) -> None:
        with self._lock:
            self._live.discard(worker)
        if dead:
            worker.kill()
        else:
            worker.retire()

    def analyze(self, body: bytes, encoding: str | None, url: str, *, stop: StopSignal,
                on_extracting: Callable[[], None] | None = None, extract: bool = True,
                keep_routes: bool = False, content_selector: str | None = None,
                exclude_selectors: tuple[str, ...] = ()) -> PageAnalysis:
        """Parse (and extract) one page in a worker process; StopRequested if the crawl stops.
        `keep_routes`: the page is on a hash-routed site, its `#/path` links are pages;
        `content_selector`, `exclude_selectors`: the crawl's settings (crawler/engine/markdown.py)."""
        job = (body, encoding, url, extract, keep_routes, content_selector, tuple(exclude_selectors))
        for _attempt in range(self.CRASH_ATTEMPTS):
            worker = self._take(stop)
            try:
                return self._run(worker, job, stop, on_extracting)
            except _WorkerDied:
                self._drop(worker, dead=True)
        raise WorkerCrashed(f"extraction crashed its worker process ({self.CRASH_ATTEMPTS} attempts, "
                            "each in a fresh worker)")

    def _run(self, worker: _Worker, job: tuple[Any, ...], stop: StopSignal,
             on_extracting: Callable[[], None] | None) -> PageAnalysis:
        connection = worker.connection
        try:
            connection.send(job)
            while True:
                if not worker.ready(self.WAIT):
                    if stop.is_set():  # the worker finishes the page for nobody, then is free again
                        threading.Thread(target=self._drain, args=(worker,), name="cpu-drain", daemon=True).start()
                        raise StopRequested()
                    continue
                answer = connection.recv()
                if answer == _EXTRACTING:
                    if on_extracting is not None:
                        try:
                            on_extracting()
                        except Exception:  # a progress callback must never cost the page or its worker
                            log.exception("stage callback failed")
                    continue
                break
        except _PIPE_GONE as exc:
            raise _WorkerDied() from exc
        except BaseException:  # anything else mid-answer (an answer that will not unpickle): the worker's pipe is out of step
            if not isinstance(sys.exc_info()[1], StopRequested):
                self._drop(worker, dead=True)
            raise
        ok, value, leaving = answer
        self._give_back(worker, leaving)
        if ok:
            return value
        raise value

    def _drain(self, worker: _Worker) -> None:
        """Read the answer of a page whose crawl stopped, then give the worker back."""
        try:
            while (answer := worker.connection.recv()) == _EXTRACTING:
                pass
        except _PIPE_GONE:
            self._drop(worker, dead=True)
            return
        self._give_back(worker, leaving=answer[2])

    def recycle(self) -> None:
        """Replace the extraction workers with fresh ones (a page a worker is on finishes first),
        which gives back the heap they grew on large pages: a live process keeps it."""
        with self._lock:
            if self._closed:
                return
            self._generation += 1
            idle = []
            while True:
                try:
                    idle.append(self._idle.get_nowait())
                except queue.Empty:
                    break
            for worker in idle:
                self._live.discard(worker)
                self._idle.put(self._start())
        for worker in idle:
            worker.retire()

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            live = list(self._live)
            self._live.clear()
        for worker in live:
            worker.retire()
        for worker in live:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()


class _WorkerDied(Exception):
    """The worker's pipe closed under a page: the process died."""
