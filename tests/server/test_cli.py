"""The terminal entry point: same engine, no server."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

from crawler.engine.events import PAYLOAD_FIELDS, Event
from tests.support.cli import run_cli
from tests.support.server import PROJECT_ROOT, Client, ServerProcess, wait_until


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


# ---- a reader that goes away: `python -m crawler URL --json | head` ----

SIGPIPE_EXIT = 141  # 128 + SIGPIPE: how a shell reports a command its reader left (`yes | head`)


def popen_cli(*args: str, **streams) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "crawler", *args], cwd=PROJECT_ROOT, **streams)


def assert_stopped_and_resumable(data_dir, site, pages: int) -> dict:
    """The folder is what Ctrl-C leaves: saved pages whole, crawl.json and summary.json say
    stopped and why, work left for a resume."""
    from crawler.engine.events import State
    from crawler.engine.resume import can_resume, load_resume_state

    (crawl_dir,) = [p for p in data_dir.iterdir() if p.is_dir()]
    meta = json.loads((crawl_dir / "crawl.json").read_text())
    summary = json.loads((crawl_dir / "summary.json").read_text())
    assert meta["state"] == summary["state"] == "stopped", (meta, summary)
    assert "output closed" in summary["stop_reason"], summary
    assert can_resume(State(meta["state"]), summary)
    saved = [json.loads(line) for line in (crawl_dir / "manifest.jsonl").read_text().splitlines()]
    ok = [entry for entry in saved if entry["status"] == "ok"]
    assert ok and summary["ok"] == len(ok)
    for entry in ok:  # every page in the manifest is whole on disk
        assert (crawl_dir / entry["path"]).read_text().count("Source: ") == 1, entry
        assert len((crawl_dir / entry["path"]).read_text()) > 200, entry
    assert load_resume_state(crawl_dir).pending  # pages left to crawl: a resume continues
    assert sum(site.hits.values()) < pages // 2  # stopped well before the whole site
    return summary


def test_cli_json_into_a_reader_that_closes_stops_quietly(tmp_path, make_site):
    """`--json | head`: the crawl stops as on Ctrl-C, without a traceback, exit 141."""
    pages = 400
    site = make_site(pages=pages, latency=0.1, extra_links=False)  # 20 s at least with 2 workers
    errors = open(tmp_path / "stderr", "w+b")
    process = popen_cli(site.url(0), "--out", str(tmp_path / "crawls"), "--allow-private-targets", "--json",
                        "--concurrency", "2", "--no-sitemaps", stdout=subprocess.PIPE, stderr=errors)
    try:
        saved = 0
        while saved < 3:  # read on until a few pages are saved, like a `head -n` long enough for that
            event = json.loads(process.stdout.readline())
            if event["event"] == Event.PAGE.value:
                saved += sum(page["status"] == "ok" for page in event["data"]["pages"])
        process.stdout.close()  # what `head` does once it has its lines
        code = process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    errors.seek(0)
    stderr = errors.read().decode(errors="replace")
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    assert len(stderr.splitlines()) <= 1, stderr  # at most the one closing line
    assert code == SIGPIPE_EXIT, stderr
    summary = assert_stopped_and_resumable(tmp_path / "crawls", site, pages)
    assert stderr.startswith(f"stopped: {summary['ok']} pages saved"), stderr


def test_cli_progress_into_a_closed_stderr_stops_quietly(tmp_path, make_site):
    """Plain progress lines on stderr (`2>&1 | head`-like): a closed stderr stops the crawl too."""
    pages = 400
    site = make_site(pages=pages, latency=0.1, extra_links=False)
    output = open(tmp_path / "stdout", "w+b")
    process = popen_cli(site.url(0), "--out", str(tmp_path / "crawls"), "--allow-private-targets",
                        "--concurrency", "2", "--no-sitemaps", stdout=output, stderr=subprocess.PIPE)
    try:
        lines = [process.stderr.readline() for _ in range(5)]
        assert all(lines), lines
        process.stderr.close()
        code = process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output.seek(0)
    stdout = output.read().decode(errors="replace")
    assert code == SIGPIPE_EXIT, stdout
    summary = assert_stopped_and_resumable(tmp_path / "crawls", site, pages)
    assert stdout.splitlines() == [stdout.splitlines()[0]] and stdout.startswith(
        f"stopped: {summary['ok']} pages saved"), stdout


def test_cli_stdout_closed_early_stops_quietly(tmp_path, make_site):
    """Without --json nothing goes to stdout until the end: a reader that left is noticed anyway."""
    pages = 400
    site = make_site(pages=pages, latency=0.1, extra_links=False)
    errors = open(tmp_path / "stderr", "w+b")
    process = popen_cli(site.url(0), "--out", str(tmp_path / "crawls"), "--allow-private-targets", "--quiet",
                        "--concurrency", "2", "--no-sitemaps", stdout=subprocess.PIPE, stderr=errors)
    try:
        wait_until(lambda: len(list((tmp_path / "crawls").glob("*/pages/**/*.md"))) >= 3, timeout=30,
                   message="a few saved pages")
        process.stdout.close()
        code = process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    errors.seek(0)
    stderr = errors.read().decode(errors="replace")
    assert "Traceback" not in stderr, stderr
    assert code == SIGPIPE_EXIT, stderr
    summary = assert_stopped_and_resumable(tmp_path / "crawls", site, pages)
    assert stderr.splitlines()[-1].startswith(f"stopped: {summary['ok']} pages saved"), stderr


def test_cli_closed_terminal_stops_quietly(tmp_path, make_site):
    """The live bar on a terminal that is closed (its window shut): the same quiet stop."""
    pages = 400
    site = make_site(pages=pages, latency=0.1, extra_links=False)
    main, child = pty.openpty()
    process = popen_cli(site.url(0), "--out", str(tmp_path / "crawls"), "--allow-private-targets",
                        "--concurrency", "2", "--no-sitemaps", stdin=child, stdout=child, stderr=child,
                        close_fds=True, env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "200"})
    os.close(child)
    try:
        output = b""
        while b"3 ok" not in output:
            output += os.read(main, 65536)
        os.close(main)  # the terminal goes away; writes to it now fail (EIO)
        code = process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == SIGPIPE_EXIT
    assert_stopped_and_resumable(tmp_path / "crawls", site, pages)
