"""A cluster on one machine for the tests: our own redis-server (free port, no persistence), web
servers started with --redis and `python -m crawler.service.cluster.worker` processes, one shared data dir."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.server import PROJECT_ROOT, ServerProcess, free_port, stop_process, wait_until

LEASE_SECONDS = "3"  # a dead worker's crawl shows `interrupted` within seconds, not the default 15


def redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (scripts/test installs Debian's redis-server)")
    return binary


class RedisServer:
    """A private redis-server: its own port, nothing kept on disk, stopped and started at will."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, timeout=10, message="redis-server to accept connections")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


class WorkerProcess:
    """`python -m crawler.service.cluster.worker`, as the README starts it."""

    def __init__(self, redis_url: str, data_dir: Path, log_dir: Path, *, crawls: int = 2, cpu_workers: int | None = 1,
                 env: dict[str, str] | None = None, allow_private_targets: bool = True) -> None:
        self.log_path = log_dir / f"worker-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "crawler.service.cluster.worker", "--redis", redis_url, "--data-dir", str(data_dir),
             "--crawls", str(crawls), *(["--allow-private-targets"] if allow_private_targets else []),
             *(["--cpu-workers", str(cpu_workers)] if cpu_workers else [])],
            cwd=PROJECT_ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "CRAWLER_LEASE_SECONDS": LEASE_SECONDS, **(env or {})})
        self.id = f"{socket.gethostname()}:{self.process.pid}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9: no goodbye, no cleanup (its extraction processes go with it)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        stop_process(self.process, self._log, grace=20)


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (its extraction workers, their fork server...), from /proc."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo.extend(children - found)
            found |= children
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()
            and "zombie" not in Path(f"/proc/{pid}/status").read_text(errors="replace").lower()}


def web_server(data_dir: Path, redis_url: str, *extra: str) -> ServerProcess:
    return ServerProcess(data_dir, "--allow-private-targets", "--redis", redis_url, *extra,
                         env={"CRAWLER_LEASE_SECONDS": LEASE_SECONDS})


def health(server: ServerProcess) -> dict[str, Any]:
    return requests.get(server.base + "/api/health", timeout=5).json()


def wait_for_workers(server: ServerProcess, workers: list[WorkerProcess], timeout: float = 60) -> None:
    ids = {worker.id for worker in workers}

    def ready() -> bool:
        for worker in workers:
            if worker.process.poll() is not None:
                raise AssertionError(f"worker exited:\n{worker.log()}")
        return ids <= {w["id"] for w in health(server).get("workers", [])}

    wait_until(ready, timeout=timeout, interval=0.2, message=f"workers {sorted(ids)} to report")
