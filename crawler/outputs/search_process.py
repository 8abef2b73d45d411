"""The search index's writer in a child process of its own, at a lower CPU priority.

Indexing costs a few milliseconds of pure-Python CPU per page (sections, plain text, FTS5
inserts). In the server's own process that CPU holds the GIL the crawl's threads and Socket.IO
need, and on a small machine it competes with the extraction workers for the cores. In a child
process niced below them, the crawl takes the CPU first and the index catches up whenever a core
is free: while pages are awaited from the network, and at full speed once the crawl ends.

The child needs nothing but the data directory and the index's path: the crawl folders are the
durable journal it follows (:class:`crawler.outputs.search.SearchIndexer`, unchanged), and the
server reads the index on its own SQLite connections (WAL: readers never wait for the writer).
One pipe joins the two processes, written by the server only:

* a wake byte starts a pass at once (a crawl was deleted: its pages leave the index now);
* a suspect byte says a reader found the file unreadable: the child checks it and rebuilds it
  if it is damaged (`SearchIndex.looks_damaged`, `damaged`);
* end of file (the server stopped, or died: the kernel closes its end) ends the child after the
  batch it is writing.

The child is started through the fork server (or spawned, where this process cannot reach one:
greenio.worker_start_method), never as a plain fork of a threaded or patched process, and imports
only the index's own modules: no Flask, no Socket.IO.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from crawler.engine.greenio import worker_start_method
from crawler.engine.heap import share_inherited
from crawler.engine.priority import INDEXER_NICENESS, lower_priority
from crawler.outputs.search import BATCH_PAGES, POLL_SECONDS, SearchIndex, SearchIndexer, open_search

log = logging.getLogger(__name__)

WAKE = b"w"
SUSPECT = b"s"
RESTART_AFTER = 1.0  # seconds between a child's death and its replacement
RESTART_AT_MOST = 60.0  # a child that keeps dying at start is replaced less and less often, up to this
STOP_SECONDS = 5.0  # how long a stopping child may finish its batch before it is terminated


# ---- the child's side -------------------------------------------------------------------------


def follow_commands(commands: Connection, indexer: SearchIndexer) -> None:
    """Turn the server's bytes into the indexer's own signals; end of file halts it."""
    fileno = commands.fileno()
    while True:
        try:
            data = os.read(fileno, 4096)
        except InterruptedError:
            continue
        except OSError:
            data = b""
        if not data:  # the server closed its end or is gone
            indexer.halt()
            return
        if SUSPECT in data:
            indexer.index.suspect.set()
        indexer.wake()


def run_indexer(data_dir: str, index_path: str, batch: int, interval: float, niceness: int,
                commands: Connection) -> None:
    """The child process: index the data directory until the server closes the pipe."""
    share_inherited()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lower_priority(niceness, "the search indexer")
    index, indexer = open_search(Path(data_dir), Path(index_path), start=False, batch=batch)
    indexer.interval = interval
    threading.Thread(target=follow_commands, args=(commands, indexer), name="indexer-commands",
                     daemon=True).start()
    try:
        indexer.run()
    finally:
        index.close()


# ---- the server's side ------------------------------------------------------------------------


class IndexerProcess:
    """Runs the index's writer in a child process; `start`, `wake` and `stop` as a
    :class:`SearchIndexer` thread offers them, so the server uses either the same way.

    A child that dies (killed, out of memory) is replaced a second later by a watch thread: the
    new one takes up from the offsets the index holds, so no page is lost or indexed twice."""

    def __init__(self, index: SearchIndex, data_dir: Path, *, batch: int = BATCH_PAGES,
                 interval: float = POLL_SECONDS, start_method: str | None = None, niceness: int = INDEXER_NICENESS) -> None:
        self.index = index
        self.data_dir = Path(data_dir)
        self.batch = batch
        self.interval = interval  # seconds between two passes when not woken
        self.niceness = niceness
        self._context: Any = multiprocessing.get_context(start_method or worker_start_method())
        self._lock = threading.Lock()  # guards the process and its pipe
        self._process: Any = None
        self._commands: Connection | None = None
        self._stopping = threading.Event()
        self._watch: threading.Thread | None = None
        self._started_at = 0.0  # when the current child was started (time.monotonic)

    @property
    def pid(self) -> int | None:
        """The current child's pid (the process tree names it `indexer`)."""
        process = self._process
        return process.pid if process is not None else None

    def start(self) -> IndexerProcess:
        self._spawn()
        self._watch = threading.Thread(target=self._keep_running, name="search-indexer-watch", daemon=True)
        self._watch.start()
        return self

    def _spawn(self) -> None:
        """A new child and a new pipe to it (the child holds the reading end only)."""
        reader, writer = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=run_indexer, name="search-indexer", daemon=True,
            args=(str(self.data_dir.absolute()), str(self.index.path.absolute()), self.batch, self.interval,
                  self.niceness, reader))  # absolute: a child may start in another working directory
        with self._lock:
            if self._stopping.is_set():  # stop() came first: start nothing it would not end
                reader.close()
                writer.close()
                return
            process.start()
            reader.close()  # the child's end: the server keeps only its own, so its closing is seen
            os.set_blocking(writer.fileno(), False)  # a wake never waits for a busy child
            self._process, self._commands = process, writer
            self._started_at = time.monotonic()

    def _keep_running(self) -> None:
        """Replace a child that died (not one that was asked to stop). Each child that dies
        within RESTART_AT_MOST seconds of its start waits twice as long for its replacement as the
        one before, so a child that cannot run does not restart in a hot loop."""
        delay = RESTART_AFTER
        while not self._stopping.wait(RESTART_AFTER):
            process = self._process
            if process is None or self._stopping.is_set():
                continue
            if process.is_alive():
                if time.monotonic() - self._started_at >= RESTART_AT_MOST:
                    delay = RESTART_AFTER
                continue
            log.warning("the search indexer process exited (code %s); starting a new one in %g s",
                        process.exitcode, delay)
            self._close_pipe()
            if self._stopping.wait(delay - RESTART_AFTER):
                return
            delay = min(2 * delay, RESTART_AT_MOST)
            try:
                self._spawn()
            except Exception:
                log.exception("could not start the search indexer process")

    def _send(self, command: bytes) -> None:
        with self._lock:
            commands = self._commands
            if commands is None:
                return
            try:
                os.write(commands.fileno(), command)
            except BlockingIOError:  # the pipe is full of wakes the child has not read: it will pass
                pass
            except OSError:  # the child is gone: the watch thread replaces it
                pass

    def wake(self) -> None:
        """Start a pass now (a crawl was deleted: its pages leave the index at once)."""
        self._send(WAKE)

    def suspect(self) -> None:
        """A reader found the file unreadable: the child checks it now, and rebuilds it if damaged.
        `SearchIndex.on_suspect` of the server's index."""
        self.index.suspect.clear()  # the server's flag is the child's to act on
        self._send(SUSPECT)

    def _close_pipe(self) -> None:
        with self._lock:
            commands, self._commands = self._commands, None
        if commands is not None:
            commands.close()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """End the child: it finishes the batch it is writing and exits; one that does not within
        `timeout` is terminated (SQLite rolls back a transaction cut short), then killed."""
        self._stopping.set()
        if self._watch is not None:  # first: it starts no child after this
            self._watch.join(RESTART_AFTER + 1)
        self._close_pipe()
        process = self._process
        if process is not None:
            process.join(timeout)
            if process.is_alive():
                process.terminate()
                process.join(1.0)
            if process.is_alive():
                process.kill()
                process.join(1.0)
        self.index.close()


def open_search_process(data_dir: Path, index_path: Path | None = None, *, batch: int = BATCH_PAGES,
                        interval: float = POLL_SECONDS, start_method: str | None = None,
                        niceness: int = INDEXER_NICENESS) -> tuple[SearchIndex, IndexerProcess]:
    """The index of a data directory for this process's reads, and its writer started in a child
    process. The file and its tables are made here first, so a search right after start finds
    an empty index rather than no file; this process then keeps no writer connection."""
    index, _ = open_search(Path(data_dir), index_path, start=False)
    index.close()
    indexer = IndexerProcess(index, Path(data_dir), batch=batch, interval=interval, start_method=start_method,
                             niceness=niceness)
    index.on_suspect = indexer.suspect
    return index, indexer.start()
