"""The terminal entry point: same engine, no server."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

from crawler.engine.events import PAYLOAD_FIELDS, Event
from tests.conftest import PROJECT_ROOT, Client, ServerProcess, wait_until


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crawler", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_crawls_a_site_into_the_data_dir(tmp_path, make_site):
    site = make_site(pages=15)
    result = run_cli(site.url(0), "--out", str(tmp_path), "--allow-private-targets", "--quiet", "--max-pages", "10")
    assert result.returncode == 0, result.stderr
    assert "completed: 10 pages saved" in result.stdout
    (crawl_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    summary = json.loads((crawl_dir / "summary.json").read_text())
    assert summary["ok"] == 10 and len(list((crawl_dir / "pages").rglob("*.md"))) == 10


def test_cli_explains_bad_input(tmp_path):
    result = run_cli("ftp://example.org/", "--out", str(tmp_path))
    assert result.returncode == 2 and "http:// or https://" in result.stderr
    result = run_cli("http://localhost:1/", "--out", str(tmp_path))
    assert result.returncode == 2 and "--allow-private-targets" in result.stderr


def test_cli_prints_plain_progress_lines_when_stdout_is_not_a_terminal(tmp_path, make_site):
    site = make_site(pages=15, latency=0.02, extra_links=False)
    result = run_cli(site.url(0), "--out", str(tmp_path), "--allow-private-targets", "--max-pages", "10")
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout + result.stderr  # no terminal codes in a pipe
    progress = [line for line in result.stderr.splitlines() if " pages/s, ETA " in line]
    assert progress and progress[-1].startswith("10/10 pages, 10 ok")
    assert "completed: 10 pages saved" in result.stdout


def test_cli_json_prints_the_event_stream_as_json_lines(tmp_path, make_site):
    site = make_site(pages=15)
    result = run_cli(site.url(0), "--out", str(tmp_path), "--allow-private-targets", "--max-pages", "10", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]  # every line is one JSON object
    assert all(set(line) == {"event", "data"} for line in lines)
    names = [line["event"] for line in lines]
    assert set(names) <= {event.value for event in Event} and names[-1] == Event.FINISHED.value
    progress = [line["data"] for line in lines if line["event"] == Event.PROGRESS.value]
    assert progress and all(set(p) == set(PAYLOAD_FIELDS[Event.PROGRESS]) for p in progress)
    assert lines[-1]["data"]["summary"]["ok"] == 10 and lines[-1]["data"]["state"] == "completed"
    assert "completed: 10 pages saved" in result.stderr


def test_cli_draws_a_live_bar_on_a_terminal(tmp_path, make_site):
    site = make_site(pages=40, latency=0.05, extra_links=False)
    main, child = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "crawler", site.url(0), "--out", str(tmp_path),
                                "--allow-private-targets", "--max-pages", "30", "--quiet"],
                               cwd=PROJECT_ROOT, stdin=child, stdout=child, stderr=child, close_fds=True,
                               env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "200"})
    os.close(child)
    output = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(main)
    assert process.wait(60) == 0, output.decode(errors="replace")
    text = output.decode(errors="replace")
    assert "\x1b[" in text  # drawn with terminal codes: redrawn in place, not printed line by line
    assert "━" in text and "pages/s" in text and "ETA " in text
    assert "30/30 pages" in text and "30 ok" in text
    assert "completed: 30 pages saved" in text


def test_cli_crawl_is_listed_in_its_owners_history_on_a_server(tmp_path, make_site):
    """A terminal crawl into a server's data directory, for a browser's session: that session's
    list shows it (with downloads) while the server runs; any other session does not see it."""
    site = make_site(pages=12)
    server = ServerProcess(tmp_path / "crawls", "--allow-private-targets")
    try:
        owner, other = Client(server.base, connect=False), Client(server.base, connect=False)
        session_id = owner.http.get(server.base + "/api/session", timeout=10).json()["session_id"]
        assert owner.http.get(server.base + "/api/crawls", timeout=10).json()["crawls"] == []
        result = run_cli(site.url(0), "--out", str(tmp_path / "crawls"), "--allow-private-targets", "--quiet",
                         "--max-pages", "5", "--owner", session_id)
        assert result.returncode == 0, result.stderr
        (crawl_dir,) = (tmp_path / "crawls").glob("2*")
        meta = json.loads((crawl_dir / "crawl.json").read_text())
        assert meta["owner"] == session_id and meta["state"] == "completed"
        rows = wait_until(lambda: owner.http.get(server.base + "/api/crawls", timeout=10).json()["crawls"],
                          timeout=10, message="the terminal crawl in its owner's list")
        assert [(r["crawl_id"], r["state"], r["ok"]) for r in rows] == [(crawl_dir.name, "completed", 5)]
        download = owner.http.get(server.base + rows[0]["downloads"]["jsonl"], timeout=10)
        assert download.status_code == 200 and len(download.text.splitlines()) >= 5
        assert other.http.get(server.base + "/api/crawls", timeout=10).json()["crawls"] == []
        owner.close()
        other.close()
    finally:
        server.stop()


def test_cli_crawl_without_an_owner_belongs_to_nobody_on_the_dashboard(tmp_path, make_site):
    site = make_site(pages=5)
    result = run_cli(site.url(0), "--out", str(tmp_path), "--allow-private-targets", "--quiet")
    assert result.returncode == 0, result.stderr
    (crawl_dir,) = tmp_path.glob("2*")
    assert json.loads((crawl_dir / "crawl.json").read_text())["owner"] == "cli"
