"""Memory of this process and its children, and the guard that pauses crawling near a limit.

The guard samples the process tree (this process and every descendant: the extraction workers)
a few times a second. Above `PAUSE_AT` of the limit it sets its pause signal: the controllers it
is given to hand out no new pages (pages in flight finish; nothing is lost or failed). Below
`RESUME_AT` it clears the signal and crawling goes on. The guard is a host's, not the engine's:
the controller only reads ``is_set()`` and ``reason``.

Waiting alone rarely brings memory down: a process keeps the heap it grew (CPython and glibc
hand little back), so an extraction worker that parsed a few large pages stays large. While
paused, the guard therefore asks its host to release memory (`relieve`: collect garbage, return
free heap to the system, replace the extraction workers with fresh ones) every
`RELIEVE_EVERY` seconds. If memory still does not fall under the resume mark for `GIVE_UP_AFTER`
seconds, what is left is the host's resting size, not the crawls': the guard resumes, says so,
and pauses again only if memory grows `REGROWTH` of the limit above that level, so crawling is
never held forever by a limit set too close to what the server needs at rest.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable

import psutil

from crawler.engine.heap import trim_heap

log = logging.getLogger(__name__)

PAUSE_AT = 0.80
RESUME_AT = 0.70
RELIEVE_EVERY = 2.0
GIVE_UP_AFTER = 20.0
REGROWTH = 0.10
SIZE_PATTERN = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(i?B)?\s*$", re.IGNORECASE)
UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def parse_size(text: str) -> int:
    """`2GB`, `512MB`, `1.5G`, `800M`, `1048576` → bytes (powers of 1024); ValueError otherwise."""
    match = SIZE_PATTERN.match(str(text))
    if not match:
        raise ValueError(f"a memory size looks like 2GB, 512MB or 1.5G, got {text!r}")
    size = int(float(match.group(1)) * UNITS[match.group(2).upper()])
    if size < 1024 * 1024:
        raise ValueError(f"a memory limit must be at least 1MB, got {text!r}")
    return size


def format_size(size: float) -> str:
    """Bytes for a person: 1.7 GB, 512 MB (powers of 1024, one decimal below 10)."""
    for unit, factor in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024)):
        if size >= factor:
            value = size / factor
            return f"{value:.1f} {unit}".replace(".0 ", " ") if value < 10 else f"{value:.0f} {unit}"
    return f"{int(size)} B"


def _memory_of(process: psutil.Process) -> int:
    """PSS where the system gives it (shared pages split fairly between the processes sharing
    them, so the tree's sum is not inflated by what forked workers share), else RSS."""
    try:
        info = process.memory_full_info()
        return int(getattr(info, "pss", 0) or info.rss)
    except psutil.AccessDenied:
        return int(process.memory_info().rss)


RENDER_MODULE = "crawler.render.process"  # the render process's command line names it
RESOURCE_TRACKER_MODULE = "multiprocessing.resource_tracker"
FORK_SERVER_MODULE = "multiprocessing.forkserver"


class ProcessTree:
    """This process and its descendants: memory and CPU per process, for the guard and the API.

    Processes are kept between calls so that `cpu_percent` measures since the previous call."""

    def __init__(self, pid: int | None = None) -> None:
        self.root = psutil.Process(pid or os.getpid())
        self._known: dict[int, psutil.Process] = {self.root.pid: self.root}
        self._lock = threading.Lock()
        self._roles: dict[str, Callable[[], int | None]] = {}  # role → its process's current pid

    def add_role(self, role: str, pid_of: Callable[[], int | None]) -> None:
        """Name a child the command line cannot tell apart (the search indexer is started as the
        extraction workers are): `pid_of` says its current pid, which changes if it is restarted."""
        self._roles[role] = pid_of

    def _named_pids(self) -> dict[int, str]:
        named = {}
        for role, pid_of in self._roles.items():
            pid = pid_of()
            if pid is not None:
                named[pid] = role
        return named

    def processes(self) -> list[psutil.Process]:
        with self._lock:
            try:
                current = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                current = [self.root]
            alive = {}
            for process in current:
                alive[process.pid] = self._known.get(process.pid, process)
            self._known = alive
            return list(alive.values())

    def _browser_pids(self, processes: list[psutil.Process]) -> set[int]:
        """The render process (crawler/render/process.py) and everything under it: Playwright's
        driver and Chromium."""
        pids: set[int] = set()
        for process in processes:
            try:
                if RENDER_MODULE in " ".join(process.cmdline()):
                    pids.add(process.pid)
                    pids.update(child.pid for child in process.children(recursive=True))
            except psutil.Error:
                continue
        return pids

    @staticmethod
    def _helper_pids(processes: list[psutil.Process]) -> set[int]:
        """multiprocessing's own processes, which do no extraction: the resource tracker, and the
        fork server. The extraction workers are forked from the fork server and so carry its
        command line; the fork server is the one whose parent does not."""
        commands: dict[int, str] = {}
        parents: dict[int, int] = {}
        for process in processes:
            try:
                commands[process.pid] = " ".join(process.cmdline())
                parents[process.pid] = process.ppid()
            except psutil.Error:
                continue
        return {pid for pid, command in commands.items()
                if RESOURCE_TRACKER_MODULE in command
                or (FORK_SERVER_MODULE in command and FORK_SERVER_MODULE not in commands.get(parents[pid], ""))}

    def _roles_of(self, processes: list[psutil.Process]) -> dict[int, str]:
        """The role of every process that is not an extraction worker."""
        roles = {pid: "helper" for pid in self._helper_pids(processes)}
        roles.update((pid, "browser") for pid in self._browser_pids(processes))
        roles.update(self._named_pids())
        roles[self.root.pid] = "server"
        return roles

    def sample(self) -> list[dict[str, float | int | str]]:
        """One row per process: pid, role (`server` for this one, `browser` for the render process
        and its Chromium, `helper` for multiprocessing's fork server and resource tracker, a role
        named with `add_role` (`indexer`: the search index's writer), `worker` for the other
        descendants: the extraction workers), memory in bytes, CPU seconds used so far and CPU
        percent since the last sample."""
        rows = []
        processes = self.processes()
        roles = self._roles_of(processes)
        for process in processes:
            role = roles.get(process.pid, "worker")
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    rows.append({"pid": process.pid, "role": role,
                                 "memory_bytes": _memory_of(process),
                                 "cpu_seconds": round(times.user + times.system, 3),
                                 "cpu_percent": process.cpu_percent(None)})
            except psutil.Error:  # it ended between the listing and the reading
                continue
        return rows

    def memory(self) -> int:
        total = 0
        for process in self.processes():
            try:
                total += _memory_of(process)
            except psutil.Error:
                continue
        return total


class MemoryGuard:
    """Pauses crawling while the process tree uses more than 80 % of `limit` bytes, until it is
    back under 70 %. Use it as the controllers' pause signal (``is_set()``, ``reason``)."""

    def __init__(self, limit: int, *, interval: float = 0.5, measure: Callable[[], int] | None = None,
                 on_change: Callable[[bool, str], None] | None = None, relieve: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, give_up_after: float = GIVE_UP_AFTER) -> None:
        self.limit = int(limit)
        self.interval = interval
        self._measure = measure or ProcessTree().memory
        self._on_change = on_change
        self._relieve = relieve
        self._clock = clock
        self._give_up_after = give_up_after
        self._paused_at = 0.0
        self._relieved_at = 0.0
        self._floor = 0  # the resting size the guard gave up on, if it did: pause again only above it
        self.gave_up = 0
        self._paused = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self.reason = ""
        self.pauses = 0
        self.last = 0
        self.peak = 0

    def is_set(self) -> bool:
        return self._paused.is_set()

    def start(self) -> MemoryGuard:
        self._thread = threading.Thread(target=self._run, name="memory-guard", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join(2 * self.interval + 1)

    def check(self) -> bool:
        """Take one sample and act on it; True while paused."""
        used = self._measure()
        now = self._clock()
        self.last, self.peak = used, max(self.peak, used)
        text = f"memory at {format_size(used)} of {format_size(self.limit)}"
        pause_above = max(PAUSE_AT * self.limit, self._floor + REGROWTH * self.limit if self._floor else 0)
        if not self._paused.is_set() and used > pause_above:
            self.reason = f"paused: {text}; pages in flight finish, new ones wait"
            self.pauses += 1
            self._paused_at = self._relieved_at = now
            self._paused.set()
            log.warning("crawling %s (pauses above %d %% of the limit)", self.reason, PAUSE_AT * 100)
            self._changed(True)
        elif self._paused.is_set() and used < RESUME_AT * self.limit:
            self.reason = f"resumed: {text}"
            self._floor = 0
            self._paused.clear()
            log.warning("crawling %s (resumes below %d %% of the limit)", self.reason, RESUME_AT * 100)
            self._changed(False)
        elif self._paused.is_set() and now - self._paused_at >= self._give_up_after:
            self.reason = (f"resumed: {text} after {self._give_up_after:g} s paused; this is the resting size, "
                           "not the crawls' (the limit is too close to it)")
            self._floor = used
            self.gave_up += 1
            self._paused.clear()
            log.warning("crawling %s", self.reason)
            self._changed(False)
        elif self._paused.is_set() and self._relieve is not None and now - self._relieved_at >= RELIEVE_EVERY:
            self._relieved_at = now
            try:
                self._relieve()
            except Exception:  # relief is best effort
                log.exception("could not release memory")
        return self._paused.is_set()

    def _changed(self, paused: bool) -> None:
        if self._on_change is not None:
            try:
                self._on_change(paused, self.reason)
            except Exception:  # a listener's failure must not stop the guard
                log.exception("memory guard listener failed")

    def _run(self) -> None:
        while not self._closing.is_set():
            try:
                self.check()
            except Exception:  # measuring failed once: try again next time
                log.exception("memory guard could not sample the process tree")
            self._closing.wait(self.interval)


def release_memory(cpu: object | None = None) -> None:
    """What a paused host can do to give memory back: collect garbage, hand free heap back to the
    system (glibc's malloc_trim), replace the extraction workers with fresh processes."""
    import gc

    gc.collect()
    trim_heap()
    recycle = getattr(cpu, "recycle", None)
    if recycle is not None:
        recycle()
