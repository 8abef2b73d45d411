"""CPU-heavy stages (parsing and extraction) in worker processes shared by all crawls.

Why processes: trafilatura costs tens of milliseconds of pure-Python CPU per page. In threads it
holds the GIL, starves the threads that serve the dashboard, and has upstream crash reports under
concurrent use. In processes it uses every core, and a crash takes down one worker, not the server.

Each worker has a pipe of its own, and the thread processing a page talks to it directly: it
writes the page, reads a note when the page moves from parsing to extracting (so the dashboard
sees the real stage), then the result. A worker holds a second page in its pipe while it is on
one, so it goes from page to page without waiting for the server. Nothing else is shared between
processes, so a worker killed at any instant leaves nothing blocked for the others: the page it
was on is tried again (in a fresh worker) and the page queued behind it goes elsewhere with no
attempt counted; a page that keeps killing workers fails alone.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
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
from crawler.engine.priority import WORKER_NICENESS, lower_priority
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
    lower_priority(WORKER_NICENESS, "an extraction worker")
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
    """One worker process and the parent's end of its pipe. It holds up to `QUEUE_DEPTH` pages:
    the one it is on and the next, already in its pipe, so it never waits for the server between
    pages. The threads that gave it pages read their answers in the order the pages were written
    (tickets)."""

    def __init__(self, context: Any, generation: int, leave_after_growth: int) -> None:
        self.connection, child = context.Pipe(duplex=True)
        self.process = context.Process(target=_serve, args=(child, os.getpid(), leave_after_growth),
                                       name="crawler-cpu-worker",
                                       daemon=True)
        self.process.start()
        child.close()
        cooperative_pipe(self.connection.fileno())
        self.generation = generation
        self.held = 0  # pages given to it and not answered yet (the pool's lock)
        self.leaving = False  # it said it leaves after its answer: it gets no page more (the pool's lock)
        self.gone = False  # its pipe failed: the pages behind the one it was on go to another worker
        # Tickets: the order pages are given (the pool's lock), written and answered in. The page
        # whose ticket is `_answered` is the one the worker is on (being written, worked or read).
        self._tickets = 0
        self._written = 0
        self._answered = 0
        self.turn = threading.Condition()  # wakes the reader whose answer is next
        # Under real threads, one poll object for the pipe's whole life: Connection.poll builds a
        # selector on every call, ~0.2 ms of the server's CPU a page. Eventlet's green `select`
        # has no poll(); there the connection's own (green) poll waits.
        self._poller: Any = None
        if not is_patched() and hasattr(select, "poll"):
            self._poller = select.poll()
            self._poller.register(self.connection.fileno(), select.POLLIN)

    def ticket(self) -> int:  # with the pool's lock held
        self._tickets += 1
        return self._tickets - 1

    def write(self, job: tuple[Any, ...], ticket: int, stop: StopSignal | None, wait: float) -> bool:
        """Write the page with `ticket` to the pipe, after the pages given before it; False if
        the worker failed first. StopRequested (nothing written) if `stop` is set while the
        page before it is still being written."""
        with self.turn:
            while self._written != ticket and not self.gone:
                self.turn.wait(wait)
                if stop is not None and stop.is_set() and self._written != ticket and not self.gone:
                    raise StopRequested()
            if self.gone:
                return False
        self.connection.send(job)  # the only writer now: the pages after this one wait for it
        with self.turn:
            self._written += 1
            self.turn.notify_all()
        return True

    def is_next(self, ticket: int) -> bool:
        return self._answered == ticket

    def await_turn(self, ticket: int, stop: StopSignal | None, wait: float) -> bool:
        """Wait until the answer with `ticket` is the next to read; False if the worker failed
        first, StopRequested if `stop` is set before."""
        with self.turn:
            while not self.is_next(ticket) and not self.gone:
                self.turn.wait(wait)
                if stop is not None and stop.is_set() and not self.is_next(ticket) and not self.gone:
                    raise StopRequested()
            return not self.gone

    def answered(self) -> None:
        with self.turn:
            self._answered += 1
            self.turn.notify_all()

    def fail(self) -> bool:
        """Its pipe failed: every reader waiting for its turn is woken to go elsewhere. True for
        the first to say so (the one to end the process)."""
        with self.turn:
            first, self.gone = not self.gone, True
            self.turn.notify_all()
            return first

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

    Each worker has its own pipe: the thread processing a page takes a worker, writes the page to
    its pipe and reads the answer itself (the stage note first). No thread relays work or results
    in between, so under real threads a page's trip costs no wake-up of another thread. A worker
    takes a second page while it is on one (`QUEUE_DEPTH`): the next page is already in its pipe
    when it answers, rather than arriving after the server has read the answer and woken the next
    thread. A worker that dies (a crash in C code on one page) takes down only the page it was
    on: that page is tried again in a fresh worker, and fails alone if it kills that one too; the
    page queued behind it goes to another worker, with no attempt counted against it.
    """

    CRASH_ATTEMPTS = 3
    WAIT = 0.05  # seconds between looks at the stop signal while waiting
    QUEUE_DEPTH = 2  # pages a worker holds: the one it is on and the next
    QUEUE_BYTES = 64 * 1024  # a larger page waits for an idle worker: writing it to a busy one's
    # pipe could block its thread (and its look at the stop signal) until the worker reads it

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
        self._live: set[_Worker] = set()
        self._generation = 0
        # One lock for the workers' bookkeeping and for starting one: starting a process is not
        # safe to run twice at once under eventlet (two green threads on one OS thread both
        # "hold" the resource tracker's lock). `_free` wakes threads waiting for a worker.
        self._lock = threading.Lock()
        self._free = threading.Condition(self._lock)
        self._closed = False

    def warm_up(self) -> None:
        """Start every worker now rather than on the first page of the first crawl."""
        with self._lock:
            while len(self._live) < self.workers and not self._closed:
                self._start()

    def _start(self) -> _Worker:  # with self._lock held
        worker = _Worker(self._context, self._generation, self.leave_after_growth)
        self._live.add(worker)
        return worker

    def analyze(self, body: bytes, encoding: str | None, url: str, *, stop: StopSignal,
                on_extracting: Callable[[], None] | None = None, extract: bool = True,
                keep_routes: bool = False, content_selector: str | None = None,
                exclude_selectors: tuple[str, ...] = ()) -> PageAnalysis:
        """Parse (and extract) one page in a worker process; StopRequested if the crawl stops.
        `keep_routes`: the page is on a hash-routed site, its `#/path` links are pages;
        `content_selector`, `exclude_selectors`: the crawl's settings (crawler/engine/markdown.py)."""
        job = (body, encoding, url, extract, keep_routes, content_selector, tuple(exclude_selectors))
        queue_ok = len(body) <= self.QUEUE_BYTES
        attempts = 0
        while True:
            worker, ticket = self._take(stop, queue_ok)
            try:
                return self._run(worker, ticket, job, stop, on_extracting)
            except _WorkerLost:
                continue  # queued behind a page that took its worker down: not this page's doing
            except _WorkerDied:
                attempts += 1
                if attempts >= self.CRASH_ATTEMPTS:
                    raise WorkerCrashed(f"extraction crashed its worker process ({self.CRASH_ATTEMPTS} attempts, "
                                        "each in a fresh worker)") from None

    def _take(self, stop: StopSignal, queue_ok: bool) -> tuple[_Worker, int]:
        """A worker of the current generation with room for a page: an idle one first, else (for
        a page small enough to queue) one on a single page; started when fewer than `workers` live."""
        room = self.QUEUE_DEPTH if queue_ok else 1
        with self._free:
            while True:
                if stop.is_set():
                    raise StopRequested()
                if self._closed:
                    raise RuntimeError("the CPU pool is shut down")
                chosen = None
                for worker in self._live:
                    if (worker.generation == self._generation and not worker.leaving and worker.held < room
                            and (chosen is None or worker.held < chosen.held)):
                        chosen = worker
                if chosen is not None and chosen.held == 0 and not chosen.process.is_alive():
                    self._live.discard(chosen)  # it died while idle (killed from outside): no page lost
                    chosen.kill()
                    continue
                if (chosen is None or chosen.held) and len(self._live) < self.workers:
                    chosen = self._start()
                if chosen is not None:
                    chosen.held += 1
                    return chosen, chosen.ticket()
                self._free.wait(self.WAIT)

    def _release(self, worker: _Worker) -> None:
        """A page of `worker` is answered (or lost). A worker that said it is leaving (it grew
        too large), that failed, or is of a recycled generation leaves when it holds nothing more."""
        retire = False
        with self._free:
            worker.held -= 1
            if worker.held == 0 and worker in self._live and (
                    worker.leaving or worker.gone or self._closed or worker.generation != self._generation):
                self._live.discard(worker)
                retire = not worker.gone
            self._free.notify_all()
        if retire:
            worker.retire()

    def _fail(self, worker: _Worker) -> None:
        """Its pipe failed or went out of step: kill it, wake whoever waits on it."""
        if not worker.fail():
            return
        with self._free:
            self._live.discard(worker)
            self._free.notify_all()
        worker.kill()

    def _write(self, worker: _Worker, ticket: int, job: tuple[Any, ...], stop: StopSignal | None) -> None:
        """Write the page in its turn; the worker's loss (_WorkerDied / _WorkerLost) if it failed.
        On a stop before its turn, it is written later, for nobody: the pages after it keep their order."""
        try:
            written = worker.write(job, ticket, stop, self.WAIT)
        except StopRequested:
            self._drain_later(worker, ticket, job)
            raise
        except BaseException as exc:  # a page half written leaves the pipe out of step
            self._fail(worker)
            self._release(worker)
            if isinstance(exc, _PIPE_GONE):
                raise self._loss(worker, ticket) from exc
            raise
        if not written:
            self._release(worker)
            raise self._loss(worker, ticket)

    def _run(self, worker: _Worker, ticket: int, job: tuple[Any, ...], stop: StopSignal,
             on_extracting: Callable[[], None] | None) -> PageAnalysis:
        self._write(worker, ticket, job, stop)
        try:
            its_turn = worker.await_turn(ticket, stop, self.WAIT)
        except StopRequested:
            self._drain_later(worker, ticket)
            raise
        if not its_turn:
            self._release(worker)
            raise self._loss(worker, ticket)
        return self._answer(worker, ticket, stop, on_extracting)

    @staticmethod
    def _loss(worker: _Worker, ticket: int) -> Exception:
        """What the end of `worker` means for the page with `ticket`: the page it was on died
        with it (an attempt counted), unless it had said it was leaving; a page behind is lost."""
        return _WorkerDied() if worker.is_next(ticket) and not worker.leaving else _WorkerLost()

    def _answer(self, worker: _Worker, ticket: int, stop: StopSignal | None,
                on_extracting: Callable[[], None] | None) -> PageAnalysis:
        """Read the answer with `ticket` (its turn has come). With `stop` None (a drain), nothing
        interrupts the read."""
        connection = worker.connection
        try:
            while True:
                if stop is not None and not worker.ready(self.WAIT):
                    if stop.is_set():  # the worker finishes the page for nobody, then is free again
                        self._drain_later(worker, ticket)
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
            self._fail(worker)
            self._release(worker)
            raise self._loss(worker, ticket) from exc
        except BaseException:  # anything else mid-answer (an answer that will not unpickle): the worker's pipe is out of step
            if not isinstance(sys.exc_info()[1], StopRequested):
                self._fail(worker)
                self._release(worker)
            raise
        ok, value, leaving = answer
        if leaving:  # before the next reader's turn: the end of its pipe is then no crash of its page
            worker.leaving = True
        worker.answered()
        self._release(worker)
        if ok:
            return value
        raise value

    def _drain_later(self, worker: _Worker, ticket: int, job: tuple[Any, ...] | None = None) -> None:
        threading.Thread(target=self._drain, args=(worker, ticket, job), name="cpu-drain", daemon=True).start()

    def _drain(self, worker: _Worker, ticket: int, job: tuple[Any, ...] | None) -> None:
        """For a page whose crawl stopped: write it (`job`, if it was not written yet) and read its
        answer when its turn comes, for nobody, so the pages behind it get theirs and the worker
        is free again."""
        try:
            if job is not None:
                self._write(worker, ticket, job, None)
            if not worker.await_turn(ticket, None, self.WAIT):
                self._release(worker)
                return
            self._answer(worker, ticket, None, None)
        except Exception:  # noqa: BLE001 - the page's own failure, or its worker's: nobody waits for it
            pass

    def recycle(self) -> None:
        """Replace the extraction workers with fresh ones (the pages a worker holds finish first),
        which gives back the heap they grew on large pages: a live process keeps it."""
        with self._lock:
            if self._closed:
                return
            self._generation += 1
            idle = [worker for worker in self._live if worker.held == 0]
            for worker in idle:
                self._live.discard(worker)
                self._start()
        for worker in idle:
            worker.retire()

    def shutdown(self) -> None:
        with self._free:
            self._closed = True
            live = list(self._live)
            self._live.clear()
            self._free.notify_all()
        for worker in live:
            worker.retire()
        for worker in live:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()


class _WorkerDied(Exception):
    """The worker's pipe closed under a page: the process died on it."""


class _WorkerLost(Exception):
    """The worker died on a page ahead of this one (or left): this page goes to another worker."""
