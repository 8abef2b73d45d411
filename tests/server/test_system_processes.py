"""The processes the server reports: `--cpu-workers 2` is two extraction workers, whatever else
multiprocessing starts (its fork server, its resource tracker) and the search indexer, in /api/system, /metrics and the
dashboard's Server panel (tests/browser/test_system_processes.py). A real server, started as a person would."""

from __future__ import annotations

import re

import psutil
import pytest
import requests

from tests.support.server import ServerProcess, wait_until


@pytest.fixture(params=["threading", "eventlet"])
def two_workers_in(request, two_workers, tmp_path):
    """The shared two-worker server (threading), and one under eventlet: its workers too must be
    forked from the fork server, sharing its imported modules, not spawned each with its own."""
    if request.param == "threading":
        yield two_workers
        return
    server = ServerProcess(tmp_path / "crawls", "--cpu-workers", "2", "--server", "eventlet")
    yield server
    server.stop()


def test_api_system_lists_exactly_the_extraction_workers(two_workers_in):
    two_workers = two_workers_in
    system = requests.get(two_workers.base + "/api/system", timeout=10).json()
    workers = system["workers"]
    assert len(workers) == 2 and {w["role"] for w in workers} == {"worker"}, workers
    helpers = system["helpers"]
    # The fork server and the resource tracker are there, apart, and not called workers.
    assert {h["role"] for h in helpers} == {"helper"} and len(helpers) == 2, helpers
    commands = {h["pid"]: " ".join(psutil.Process(h["pid"]).cmdline()) for h in helpers}
    assert any("multiprocessing.forkserver" in c for c in commands.values()), commands
    assert any("multiprocessing.resource_tracker" in c for c in commands.values()), commands
    server = system["server"]["pid"]
    for worker in workers:  # each worker is forked from the fork server, not the server itself
        assert psutil.Process(worker["pid"]).ppid() in commands and worker["pid"] != server
    # The search index's writer: a process of its own, also from the fork server, niced below the crawl.
    indexer = system["indexer"]
    assert len(indexer) == 1 and indexer[0]["role"] == "indexer", indexer
    child = psutil.Process(indexer[0]["pid"])
    assert child.ppid() in commands and child.nice() == psutil.Process(server).nice() + 10
    every = [system["server"], *workers, *helpers, *indexer]
    assert system["memory_bytes"] >= sum(row["memory_bytes"] for row in every) * 0.9

    metrics = requests.get(two_workers.base + "/metrics", timeout=10).text
    assert re.search(r'^crawler_processes\{process="worker"\} 2\.0$', metrics, re.M), metrics
    assert re.search(r'^crawler_processes\{process="helper"\} 2\.0$', metrics, re.M)
    assert re.search(r'^crawler_processes\{process="indexer"\} 1\.0$', metrics, re.M)


@pytest.mark.parametrize("mode", ["threading", "eventlet"])
def test_the_start_output_has_the_address_and_no_development_server_warning(tmp_path, mode):
    server = ServerProcess(tmp_path / "crawls", "--cpu-workers", "1", "--server", mode)
    try:
        requests.get(server.base + "/api/health", timeout=5)
    finally:
        server.stop()
    output = server.log_path.read_text(errors="replace")
    assert f"Crawler Dashboard on http://127.0.0.1:{server.port}/ (data in " in output, output
    for warning in ("development server", "production deployment", "production web server", "Serving Flask app"):
        assert warning not in output, output


def test_the_search_indexer_process_does_not_outlive_a_killed_server(tmp_path):
    server = ServerProcess(tmp_path / "crawls", "--cpu-workers", "1")
    try:
        indexer = requests.get(server.base + "/api/system", timeout=10).json()["indexer"]
        child = psutil.Process(indexer[0]["pid"])
    finally:
        server.process.kill()  # kill -9: no clean-up of its own
        server.stop()
    wait_until(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, timeout=15,
               message="the indexer gone with its server")
