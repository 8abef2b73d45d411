"""Everything the code does differently when the dashboard runs under eventlet, in one place.

`--server eventlet` (opt-in) monkey-patches the whole process: every thread becomes a green
thread on one OS thread, and a stretch of pure Python holds every socket of the server until it
yields to the hub. Under real threads (the default, the CLI, the cluster's workers) each helper
here costs nothing or does nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time


def is_patched() -> bool:
    """True when eventlet has monkey-patched this process (its `os` module, as `monkey_patch()` does)."""
    patcher = sys.modules.get("eventlet.patcher")
    return bool(patcher and patcher.is_monkey_patched("os"))


def yield_to_hub() -> None:
    """Let other threads run now: under eventlet, the hub and every other green thread."""
    time.sleep(0)


def yield_every(iteration: int, every: int = 500) -> None:
    """Yield now and then inside a long loop of pure Python (100,000 selected URLs, a long
    manifest): under eventlet the loop's green thread would otherwise hold the server's
    sockets until the loop ends."""
    if iteration % every == every - 1:
        yield_to_hub()


def worker_start_method() -> str:
    """How to start worker processes: through the fork server (a fresh, unpatched interpreter that
    has imported the heavy modules once, so its children share those pages), wherever this process
    can hand it file descriptors; else spawned fresh. Never a plain fork: this process has threads,
    or is patched by eventlet. An eventlet-patched process reaches the fork server only if it
    imported `multiprocessing.reduction` before patching (`allow_fork_server_under_eventlet`)."""
    try:
        multiprocessing.get_context("forkserver")
    except ValueError:
        return "spawn"
    return "forkserver"


def allow_fork_server_under_eventlet() -> None:
    """Call before `eventlet.monkey_patch()`. multiprocessing decides once, when it imports
    `reduction`, whether sockets can pass file descriptors, by looking for `socket.socket.sendmsg`;
    eventlet's green socket class has no such attribute (its instances pass it on to the real
    socket, which can), so a process that imports it after patching is told it has no fork server
    and starts every worker fresh, each with its own copy of trafilatura and lxml."""
    import multiprocessing.reduction  # noqa: F401  (imported for its decision, made now)


def cooperative_pipe(fileno: int) -> None:
    """Make a pipe this process writes to non-blocking, under eventlet only. There a green
    `os.write` waits until the pipe is writable and then does a real write: on a blocking pipe a
    20 KB page blocks the whole process until the reader takes it, while the reader (a worker
    process) may be waiting for us to read its results. A non-blocking pipe turns that into
    partial writes and cooperative waits."""
    if is_patched():
        os.set_blocking(fileno, False)
