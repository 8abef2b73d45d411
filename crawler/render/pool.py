"""The server's side of rendering: one render process per server process (per worker in cluster
mode), started on first need, shared by every crawl of the process.

The render process (crawler/render/process.py) owns Playwright and Chromium; this side only
writes JSON lines to its stdin and reads answers from its stdout in one reader thread. That works
the same under the threading server and under eventlet (where these threads are green threads
and the pipes cooperative), and it is how Chromium dies with its owner: when this process exits
or is killed, the render process sees its stdin close, kills Chromium and leaves.

A caller waits for its page in slices of 50 ms and checks the crawl's stop signal in between: a
stop abandons the page at once and tells the render process to cancel it.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.engine.errors import FetchFailed, StopRequested, TransientFailure
from crawler.engine.fetch import PageSkipped
from crawler.render.browser import render_unavailable_reason
from crawler.render.policy import BrowserPolicy, endpoint_keys

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
GRACE = 10.0  # beyond the page's deadline, before the render process counts as hung


class RenderFailed(FetchFailed):
    """The browser could not render the page (`code`: render_timeout, render_error, render_unavailable)."""


@dataclass
class RenderResult:
    html: str
    http_status: int
    url: str
    content_type: str | None = None
    hash_routes: bool = False
    slow_down: bool = False
    blocked: list[str] = field(default_factory=list)
    seconds: float = 0.0


class _Waiter:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.started: float | None = None  # when the render process began rendering the page
        self.answer: dict[str, Any] | None = None


class RenderPool:
    """`render()` from any crawl thread; `close()` ends the render process (and its Chromium)."""

    def __init__(self, max_pages: int | None = None, *, allowed: frozenset[str] = frozenset(),
                 denied: frozenset[str] = frozenset(), memory_limit: int | None = None,
                 idle_seconds: float | None = None) -> None:
        self.max_pages = max(1, max_pages or os.cpu_count() or 1)
        self.allowed = frozenset(allowed)
        self.denied = frozenset(denied)
        self.memory_limit = memory_limit
        self.idle_seconds = idle_seconds  # Chromium closes after this long without a page (default 60 s)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._waiters: dict[int, _Waiter] = {}
        self._ids = itertools.count(1)
        self._ready = threading.Event()
        self._closed = False
        self.browsers_started = 0
        self.recycled = 0

    # ---- configuration ----

    def deny_origin(self, host: str, port: int) -> None:
        """Refuse a service of this machine (the dashboard, Redis) to every page (`0.0.0.0`/`::`
        mean any local address of that port; a name is resolved now)."""
        self.deny(endpoint_keys(host, port))

    def deny(self, endpoints: set[str] | frozenset[str]) -> None:
        """Refuse these "address:port" keys to every page from the next page on."""
        self.denied = self.denied | frozenset(endpoints)

    def unavailable_reason(self) -> str | None:
        return render_unavailable_reason()

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    # ---- the render process ----

    def _ensure_started(self) -> subprocess.Popen:
        with self._lock:
            if self._closed:
                raise RenderFailed("the render service is shut down", code="render_unavailable")
            process = self._process
            if process is not None and process.poll() is None:
                ready = self._ready
            else:
                env = {**os.environ, "CRAWLER_RENDER_PAGES": str(self.max_pages)}
                if self.memory_limit:
                    env["CRAWLER_RENDER_MEMORY_LIMIT"] = str(self.memory_limit)
                if self.idle_seconds is not None:
                    env["CRAWLER_RENDER_IDLE_SECONDS"] = str(self.idle_seconds)
                env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
                process = subprocess.Popen([sys.executable, "-m", "crawler.render.process"], cwd=str(PROJECT_ROOT),
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
                self._process = process
                ready = self._ready = threading.Event()
                reader = threading.Thread(target=self._read, args=(process, ready), name="render-reader",
                                          daemon=True)
                reader.start()
        if not ready.wait(START_TIMEOUT):
            self._kill(process)
            raise RenderFailed("the render service did not start", code="render_unavailable")
        if process.poll() is not None:
            raise RenderFailed("the render service exited at start", code="render_unavailable")
        return process

    def _read(self, process: subprocess.Popen, ready: threading.Event) -> None:
        assert process.stdout is not None
        try:
            for line in process.stdout:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                event = message.get("event")
                if event == "ready":
                    ready.set()
                elif event == "browser":
                    self.browsers_started += 1
                elif event == "started":
                    waiter = self._waiters.get(int(message["id"]))
                    if waiter is not None:
                        waiter.started = time.monotonic()
                elif event == "recycled":
                    self.recycled += 1
                    log.warning("the browser used %d MB, above its limit: replaced by a fresh one",
                                int(message.get("memory", 0)) // (1024 * 1024))
                elif "id" in message:
                    waiter = self._waiters.pop(int(message["id"]), None)
                    if waiter is not None:
                        waiter.answer = message
                        waiter.done.set()
        finally:
            ready.set()
            # The process is gone: every page it held fails (and may be tried again).
            process.wait()
            with self._lock:
                if self._process is process:
                    self._process = None
                waiters = list(self._waiters.items())
                for key, _ in waiters:
                    self._waiters.pop(key, None)
            for _, waiter in waiters:
                waiter.answer = {"ok": False, "code": "render_crashed", "transient": True,
                                 "reason": "the render process exited while rendering the page"}
                waiter.done.set()

    def _send(self, process: subprocess.Popen, message: dict[str, Any]) -> None:
        data = (json.dumps(message, ensure_ascii=False) + "\n").encode("utf-8")
        with self._write_lock:
            assert process.stdin is not None
            process.stdin.write(data)
            process.stdin.flush()

    @staticmethod
    def _kill(process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.kill()

    # ---- rendering ----

    def render(self, url: str, *, html: str | None, policy: BrowserPolicy, user_agent: str, respect_robots: bool,
               per_host: int, timeout: float, deadline: float, stop: Any, crawl: str = "") -> RenderResult:
        """Render `url` (from `html` when the page was already fetched) and return the DOM as HTML.
        Pages of one `crawl` share a browser context (its cookies), never another crawl's.

        Raises StopRequested (the crawl stopped: the page is cancelled in the browser),
        TransientFailure (the browser crashed under the page: worth another try) or RenderFailed.
        """
        started = time.monotonic()
        process = self._ensure_started()
        job_id = next(self._ids)
        waiter = _Waiter()
        self._waiters[job_id] = waiter
        message = {"op": "render", "id": job_id, "crawl": crawl, "url": url, "html": html, "deadline": deadline,
                   "policy": policy.with_rules(self.allowed, self.denied).to_json(), "user_agent": user_agent,
                   "respect_robots": respect_robots, "per_host": per_host, "timeout": timeout}
        try:
            self._send(process, message)
        except (OSError, ValueError):
            self._waiters.pop(job_id, None)
            raise TransientFailure("the render process is not reachable", code="render_crashed") from None
        while not waiter.done.wait(0.05):
            if stop.is_set():
                self._waiters.pop(job_id, None)
                try:
                    self._send(process, {"op": "cancel", "id": job_id})
                except (OSError, ValueError):
                    pass
                raise StopRequested()
            if waiter.started is not None and time.monotonic() > waiter.started + deadline + GRACE:
                # The render process is stuck (it answers every page by its deadline): replace it.
                self._waiters.pop(job_id, None)
                log.error("the render process did not answer in time; restarting it")
                self._kill(process)
                raise TransientFailure("the render process stopped answering", code="render_crashed")
        answer = waiter.answer or {}
        if not answer.get("ok"):
            code, reason = answer.get("code") or "render_error", answer.get("reason") or "render failed"
            if code == "stopped":
                raise StopRequested()
            if code == "navigated":  # the page's script took it elsewhere: not this URL's content
                raise PageSkipped(reason, answer.get("status"), code="navigated")
            if answer.get("transient"):
                raise TransientFailure(reason, code=code, slow_down=bool(answer.get("slow_down")))
            raise RenderFailed(reason, code=code)
        return RenderResult(answer.get("html") or "", int(answer.get("status") or 200), answer.get("url") or url,
                            answer.get("content_type"), bool(answer.get("hash_routes")),
                            bool(answer.get("slow_down")), list(answer.get("blocked") or []),
                            time.monotonic() - started)

    def pages_in_flight(self, timeout: float = 5.0) -> int | None:
        """Pages the render process is working on right now (None when it is not running)."""
        process = self._process
        if process is None or process.poll() is not None:
            return None
        job_id = next(self._ids)
        waiter = _Waiter()
        self._waiters[job_id] = waiter
        try:
            self._send(process, {"op": "status", "id": job_id})
        except (OSError, ValueError):
            self._waiters.pop(job_id, None)
            return None
        if not waiter.done.wait(timeout) or not (waiter.answer or {}).get("ok"):
            self._waiters.pop(job_id, None)
            return None
        return int((waiter.answer or {}).get("pages", 0))

    def close(self, timeout: float = 3.0) -> None:
        """End the render process and its Chromium (idempotent)."""
        with self._lock:
            self._closed = True
            process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        try:
            self._send(process, {"op": "quit"})
            assert process.stdin is not None
            process.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
