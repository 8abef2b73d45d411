"""CPU-heavy stages (parsing and extraction) in a process pool shared by all crawls.

Why processes: trafilatura costs tens of milliseconds of pure-Python CPU per page. In threads it
holds the GIL, starves the threads that serve the dashboard, and has upstream crash reports under
concurrent use. In processes it uses every core, and a crash takes down one worker, not the server.

A worker tells the parent when a page moves from parsing to extracting through a pipe, so the
dashboard sees the real stage. Each note is one 12-byte write, which POSIX makes atomic on a
pipe: no lock is shared between processes, so a worker killed at any instant cannot leave the
channel blocked for the others (a multiprocessing.Queue's lock could be left held).

If a worker dies, the pool is rebuilt and the pages that were in it are tried again, each alone;
a page that keeps killing workers fails alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import logging
import multiprocessing
import os
import signal
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from crawler.engine.errors import FetchFailed, StopRequested
from crawler.engine.extract import count_words, extract_markdown, looks_not_found, reset_caches
from crawler.engine.greenio import cooperative_pipe, worker_start_method
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


def _load_trim() -> Callable[[], object] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None
    return lambda: trim(0)


_malloc_trim = _load_trim()


def _trim_heap() -> None:
    if _malloc_trim is not None:
        _malloc_trim()


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

_stage_writer: Any = None
_jobs_done = 0
_JOB_ID = struct.Struct("!Q")
_STOP_RELAY = 0


def _init_worker(stage_writer: Any, owner_pid: int | None = None) -> None:
    global _stage_writer
    _stage_writer = stage_writer
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    if owner_pid is not None:
        threading.Thread(target=_exit_with_owner, args=(owner_pid,), name="owner-watch", daemon=True).start()


def _exit_with_owner(owner_pid: int, interval: float = 1.0) -> None:
    """A worker outlives its server only when the server was killed (kill -9, OOM): the pool's
    queues keep it blocked forever. It checks on its owner and leaves when the owner is gone."""
    while True:
        time.sleep(interval)
        try:
            os.kill(owner_pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:  # the pid now belongs to someone else's process: ours is gone
            os._exit(0)


def analyze_page(job_id: int, body: bytes, encoding: str | None, url: str, extract: bool = True,
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
    if _stage_writer is not None:
        _stage_writer.send_bytes(_JOB_ID.pack(job_id))
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
        _trim_heap()
    words = count_words(markdown)
    return PageAnalysis(title, links, canonical, markdown, words, parsed - started, extracted - parsed,
                        site_name, description, looks_not_found(title, markdown, words), nav, heading_ids,
                        markdown_url, definition_ids)


def _warm_up() -> int:
    return os.getpid()


# ---- parent side ---------------------------------------------------------------------------


class _RebuildablePool:
    """A ProcessPoolExecutor that is replaced, once per breakage, when a worker dies."""

    def __init__(self, name: str, workers: int, context: Any, stage_writer: Any, lock: threading.Lock) -> None:
        self.name = name
        self.workers = workers
        self._context = context
        self._stage_writer = stage_writer
        # Shared by every pool of a CpuPool: submitting may start worker processes, and
        # multiprocessing's start-up path is not safe to run twice at once under eventlet
        # (two green threads on one OS thread both "hold" its resource tracker's lock).
        self._lock = lock
        self._generation = 0
        self._closed = False
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(self.workers, mp_context=self._context, initializer=_init_worker,
                                       initargs=(self._stage_writer, os.getpid()))
        cooperative_pipe(executor._call_queue._writer.fileno())  # type: ignore[attr-defined]  # private: no public way to the executor's pipe
        return executor

    def submit(self, fn: Callable[..., Any], *args: Any) -> tuple[Future, int]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the CPU pool is shut down")
            return self._executor.submit(fn, *args), self._generation

    def rebuild(self, broken_generation: int) -> None:
        """Replace the broken executor once, however many pages noticed the breakage."""
        with self._lock:
            if self._closed or self._generation != broken_generation:
                return
            old = self._executor
            self._executor = self._new_executor()
            self._generation += 1
        log.warning("a worker process of the %s CPU pool died; the pool was rebuilt", self.name)
        old.shutdown(wait=False, cancel_futures=True)

    def recycle(self) -> None:
        """Fresh worker processes for the next pages: the old ones finish what they hold, then exit
        (and give back the heap they grew on large pages, which a live process keeps)."""
        with self._lock:
            if self._closed:
                return
            old = self._executor
            self._executor = self._new_executor()
            self._generation += 1
        old.shutdown(wait=False, cancel_futures=False)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            executor = self._executor
        executor.shutdown(wait=True, cancel_futures=True)


class CpuPool:
    """The shared pool for parsing and extraction, its quarantine, and the stage relay.

    When a worker dies, every page that was in the pool gets BrokenProcessPool: the culprit and
    innocent bystanders alike. Each of them is then retried alone in a one-worker quarantine
    pool, one page at a time, so the bystanders succeed and only the page that really kills its
    worker fails. The main pool keeps serving other pages meanwhile.
    """

    QUARANTINE_ATTEMPTS = 2

    def __init__(self, workers: int | None = None, start_method: str | None = None) -> None:
        """`start_method`: a multiprocessing start method; None: greenio.worker_start_method()."""
        self.workers = max(1, workers or os.cpu_count() or 1)
        start_method = start_method or worker_start_method()
        self._context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            # Import the heavy modules once in the fork server, so workers start in milliseconds.
            self._context.set_forkserver_preload(["crawler.engine.cpu", "trafilatura", "lxml.html"])
        self._stage_reader, self._stage_writer = self._context.Pipe(duplex=False)
        self._on_extracting: dict[int, Callable[[], None]] = {}
        self._ids = itertools.count(1)
        self._spawn_lock = threading.Lock()
        self._main = _RebuildablePool("main", self.workers, self._context, self._stage_writer, self._spawn_lock)
        self._quarantine: _RebuildablePool | None = None
        self._quarantine_lock = threading.Lock()
        self._listener = threading.Thread(target=self._relay_stages, name="cpu-stage-relay", daemon=True)
        self._listener.start()

    def warm_up(self) -> None:
        """Start every worker now rather than on the first page of the first crawl."""
        futures = [self._main.submit(_warm_up)[0] for _ in range(self.workers)]
        for future in futures:
            future.result(timeout=60)

    def _relay_stages(self) -> None:
        while True:
            try:
                (job_id,) = _JOB_ID.unpack(self._stage_reader.recv_bytes())
            except (EOFError, OSError):
                return
            if job_id == _STOP_RELAY:
                return
            callback = self._on_extracting.pop(job_id, None)
            if callback is not None:
                try:
                    callback()
                except Exception:  # a progress callback must never kill the relay
                    log.exception("stage callback failed")

    def analyze(self, body: bytes, encoding: str | None, url: str, *, stop: StopSignal,
                on_extracting: Callable[[], None] | None = None, extract: bool = True,
                keep_routes: bool = False, content_selector: str | None = None,
                exclude_selectors: tuple[str, ...] = ()) -> PageAnalysis:
        """Parse (and extract) one page in a worker process; StopRequested if the crawl stops.
        `keep_routes`: the page is on a hash-routed site, its `#/path` links are pages;
        `content_selector`, `exclude_selectors`: the crawl's settings (crawler/engine/markdown.py)."""
        args = (body, encoding, url, extract, keep_routes, content_selector, tuple(exclude_selectors))
        try:
            return self._run_in(self._main, stop, on_extracting, *args)
        except BrokenProcessPool:
            pass
        with self._quarantine_lock:  # one suspect at a time, alone in its own worker
            if self._quarantine is None:
                self._quarantine = _RebuildablePool("quarantine", 1, self._context, self._stage_writer,
                                                    self._spawn_lock)
            for _attempt in range(self.QUARANTINE_ATTEMPTS):
                try:
                    return self._run_in(self._quarantine, stop, on_extracting, *args)
                except BrokenProcessPool:
                    continue
        raise WorkerCrashed(f"extraction crashed its worker process ({1 + self.QUARANTINE_ATTEMPTS} attempts, "
                            "the last ones alone in a quarantine worker)")

    def _run_in(self, pool: _RebuildablePool, stop: StopSignal, on_extracting: Callable[[], None] | None,
                *args: Any) -> PageAnalysis:
        """One attempt, waiting in short slices so a stop is seen at once; rebuilds a broken pool."""
        job_id = next(self._ids)
        if on_extracting is not None:
            self._on_extracting[job_id] = on_extracting
        future, generation = pool.submit(analyze_page, job_id, *args)
        try:
            while True:
                if stop.is_set():
                    future.cancel()
                    raise StopRequested()
                try:
                    analysis = future.result(timeout=0.05)
                except FutureTimeout:
                    continue
                # The relay may not have passed the stage on yet: the page did go through
                # extraction, so report it now rather than skip a stage.
                pending = self._on_extracting.pop(job_id, None)
                if pending is not None:
                    pending()
                return analysis
        except BrokenProcessPool:
            pool.rebuild(generation)
            raise
        finally:
            self._on_extracting.pop(job_id, None)

    def recycle(self) -> None:
        """Replace the extraction workers with fresh ones (pages they are working on finish)."""
        self._main.recycle()

    def shutdown(self) -> None:
        self._main.shutdown()
        if self._quarantine is not None:
            self._quarantine.shutdown()
        self._stage_writer.send_bytes(_JOB_ID.pack(_STOP_RELAY))
