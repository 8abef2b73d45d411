"""The real server in a subprocess and real Socket.IO clients, for the server, browser and cluster
tiers and the benchmarks: ServerProcess (`python crawler_app.py` on a free port), Client (one user
session: REST cookies and a recording Socket.IO connection) and small helpers (free_port,
wait_until, crawl_over_rest)."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import engineio
import requests
import socketio

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, message: str = "") -> Any:
    """Poll with a deadline (never a bare sleep); return the first truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message or predicate}")
        time.sleep(interval)


def crawl_over_rest(base: str, http: requests.Session, url: str, **settings: Any) -> str:
    """Start a crawl through POST /api/crawls as the session of `http` and wait for it to complete."""
    response = http.post(base + "/api/crawls", json={"url": url, **settings}, timeout=10)
    assert response.status_code == 202, response.text
    crawl_id = response.json()["crawl_id"]
    wait_until(lambda: http.get(f"{base}/api/crawls/{crawl_id}", timeout=5).json()["state"] == "completed",
               timeout=60, message="the crawl to complete")
    return crawl_id


def stop_process(process: subprocess.Popen, log: Any, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; closes the process's log file."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log.close()


class ServerProcess:
    """`python crawler_app.py` on a free port, as a person would start it."""

    def __init__(self, data_dir: Path, *extra_args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.args = extra_args
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "crawler_app.py"), "--port", str(self.port),
             "--data-dir", str(data_dir), *extra_args],
            cwd=PROJECT_ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})})
        try:
            wait_until(self._healthy, timeout=60, interval=0.1, message="the server to answer /api/health")
        except AssertionError:
            self.stop()
            raise AssertionError(f"server did not start:\n{self.log_path.read_text(errors='replace')}") from None

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"server exited:\n{self.log_path.read_text(errors='replace')}")
        try:
            return requests.get(self.base + "/api/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        stop_process(self.process, self._log)


class _InOrderEngineIO(engineio.Client):
    """Engine.IO's client hands each message to a thread of its own, so two events that arrive
    back to back may be recorded in either order (a test saw a crawl's log seqs out of order on
    a busy machine). This one handles each in the thread that reads the connection, in the order
    they arrived: the handlers here only record."""

    def _receive_packet(self, pkt: Any) -> None:
        if pkt.packet_type == engineio.packet.MESSAGE:
            self._trigger_event("message", pkt.data, run_async=False)
        else:
            super()._receive_packet(pkt)


class _InOrderClient(socketio.Client):
    def _engineio_client_class(self) -> type[engineio.Client]:
        return _InOrderEngineIO


class Client:
    """One user session: a cookie jar for REST and a Socket.IO connection that records events."""

    def __init__(self, base: str, connect: bool = True, cookies: Any = None) -> None:
        self.base = base
        self.http = requests.Session()
        if cookies is not None:  # the same browser coming back: it presents the cookie it has
            self.http.cookies.update(cookies)
        assert self.http.get(base + "/api/health", timeout=5).status_code == 200
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.sio = _InOrderClient(reconnection=False)
        self.sio.on("*", self._record)
        if connect:
            self.connect()

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)

    def connect(self) -> None:
        self.sio.connect(self.base, headers={"Cookie": self.cookie_header}, transports=["websocket"],
                         wait_timeout=10)

    def _record(self, event: str, data: Any = None) -> None:
        with self._lock:
            self.events.append((time.monotonic(), event, data))

    def of(self, event: str, crawl_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [d for _, name, d in self.events
                    if name == event and (crawl_id is None or d.get("crawl_id") == crawl_id)]

    def timed(self, event: str, crawl_id: str) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return [(t, d) for t, name, d in self.events if name == event and d.get("crawl_id") == crawl_id]

    def call(self, event: str, data: Any, timeout: float = 10) -> Any:
        return self.sio.call(event, data, timeout=timeout)

    def start(self, config: dict[str, Any]) -> str:
        ack = self.call("start_crawl", config)
        assert ack["ok"], ack
        return ack["crawl_id"]

    def wait_finished(self, crawl_id: str, timeout: float = 60) -> dict[str, Any]:
        finished = wait_until(lambda: self.of("crawler_finished", crawl_id), timeout=timeout,
                              message=f"crawler_finished of {crawl_id}")
        return finished[0]

    def close(self) -> None:
        if self.sio.connected:
            # Engine.IO closes its WebSocket with websocket-client's default wait of 3 s for the
            # server's close frame, a frame its own read loop takes first, so the wait always runs
            # out: send the close frame and hang up without it (3 s off every test's teardown).
            ws = getattr(self.sio.eio, "ws", None)
            if ws is not None:
                ws.close = functools.partial(ws.close, timeout=0)
            self.sio.disconnect()
        self.http.close()

# The two ways the server can run. Most tests use the shared threading server; a test whose point is
# the mode or the transport runs in both (see the `server` fixture in tests/conftest.py).
SERVER_MODES = ("threading", "eventlet")
