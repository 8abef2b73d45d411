"""Pages that only exist after JavaScript runs: rendered in a real Chromium, only when needed.

The engine runs directly (a CrawlController with a RecordingSink) against the local sites of
tests/support/render_sites.py (a Docsify site, an app shell filled by fetch(), a server-rendered site, hostile
pages); a few tests run the real server where the server matters (kill -9, no browser, eventlet).
After every test, no Chromium is left below this process: processes are counted with psutil.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from crawler.engine.cpu import CpuPool
from crawler.engine.events import Event
from crawler.engine.netguard import non_public_reason
from crawler.render import (
    RenderPool,
)
from tests.support.render import RENDER_TESTS, Crawl, browsers_below, gone
from tests.support.render_sites import APP_PAGES, DOCSIFY_PAGES, PLAIN_PAGES, RenderSites
from tests.support.server import PROJECT_ROOT, Client, ServerProcess, wait_until
from tests.support.site import Site

pytestmark = RENDER_TESTS


# ---------------------------------------------------------------- crawling with a real Chromium


def test_a_docsify_site_is_rendered_route_by_route(tmp_path: Path, cpu: CpuPool, sites: RenderSites,
                                                   make_pool: Callable[..., RenderPool]) -> None:
    crawl = Crawl(tmp_path, cpu, make_pool(), url=sites.base + "/docsify/", max_pages=30)
    summary = crawl.run()
    assert summary["state"] == "completed", crawl.logs()
    home = sites.base + "/docsify/"
    expected = {home} | {f"{home}#/{page}" for page in DOCSIFY_PAGES if page != "README"}
    ok = crawl.ok()
    assert set(ok) == expected and summary["ok"] == len(expected) == 12
    assert summary["rendered"] == 12 and summary["failed"] == summary["skipped"] == 0
    for url, entry in ok.items():
        slug = url.partition("#/")[2] or "README"
        assert entry["rendered"] is True and entry["render_reason"] in ("docsify", "host")
        assert f"page:{slug}" in crawl.text(entry)  # the Markdown of that route, not the shell
        assert entry["path"] == ("pages/docsify/index.md" if slug == "README" else f"pages/docsify/{slug}.md")
    stages = crawl.stages_of(f"{home}#/guide/axes")
    assert stages[:2] == ["fetching", "rendering"] and stages[-1] == "done" and "storing" in stages
    assert summary["stage_seconds"]["render"] > 0
    assert any("rendering them in the browser directly" in line for line in crawl.logs())


def test_an_app_shell_filled_by_fetch_is_rendered_and_its_links_followed(
        tmp_path: Path, cpu: CpuPool, sites: RenderSites, make_pool: Callable[..., RenderPool]) -> None:
    crawl = Crawl(tmp_path, cpu, make_pool(), url=sites.base + "/app/")
    summary = crawl.run()
    ok = crawl.ok()
    assert summary["state"] == "completed" and len(ok) == APP_PAGES == summary["rendered"]  # links exist only rendered
    for url, entry in ok.items():
        number = 0 if url.endswith("/app/") else int(url.rsplit("-", 1)[1].removesuffix(".html"))
        assert f"Marker app:{number}." in crawl.text(entry) and entry["rendered"] is True
    progress = crawl.sink.of(Event.PROGRESS)[-1]
    assert progress["rendered"] == APP_PAGES and "rendering" in progress["stages"]


def test_with_never_such_pages_are_skipped_and_a_plain_site_with_auto_renders_nothing(
        tmp_path: Path, cpu: CpuPool, sites: RenderSites, make_pool: Callable[..., RenderPool]) -> None:
    pool = make_pool()
    app = [sites.base + "/app/"] + [f"{sites.base}/app/page-{i}.html" for i in range(1, APP_PAGES)]
    never = Crawl(tmp_path, cpu, pool, url=app[0], urls=app + [sites.base + "/docsify/"], render="never")
    summary = never.run()
    assert summary["skipped"] == APP_PAGES + 1 == summary["skip_reasons"]["needs_javascript"]
    assert all(entry["rendered"] is False and entry["render_reason"] in ("noscript", "docsify")
               for entry in never.entries)
    plain = Crawl(tmp_path, cpu, pool, url=sites.base + "/plain/")
    summary = plain.run()
    assert summary["ok"] == PLAIN_PAGES and summary["rendered"] == 0
    assert all(entry["rendered"] is False and "render_reason" not in entry for entry in plain.entries)
    assert pool.pid is None  # no browser was ever started


def test_a_stop_ends_renders_in_flight_within_a_second(tmp_path: Path, cpu: CpuPool, sites: RenderSites,
                                                       make_pool: Callable[..., RenderPool]) -> None:
    pool = make_pool()
    urls = [f"{sites.base}/slow/page-{i}.html" for i in range(1, 7)]  # their text takes 3 s to arrive
    crawl = Crawl(tmp_path, cpu, pool, url=urls[0], urls=urls, concurrency=4)
    runner = threading.Thread(target=crawl.run)
    runner.start()
    wait_until(lambda: (pool.pages_in_flight(timeout=1) or 0) >= 2, timeout=30, interval=0.1,
               message="pages being rendered")
    stopped = time.monotonic()
    crawl.controller.request_stop()
    runner.join(5)
    assert not runner.is_alive() and time.monotonic() - stopped < 1.0
    wait_until(lambda: pool.pages_in_flight(timeout=1) == 0, timeout=1.0, interval=0.05,
               message="the browser to drop the stopped pages")
    assert time.monotonic() - stopped < 1.5 and crawl.summary["state"] == "stopped"


def test_a_script_that_never_ends_fails_its_page_at_the_deadline(tmp_path: Path, cpu: CpuPool, sites: RenderSites,
                                                                 make_pool: Callable[..., RenderPool]) -> None:
    urls = [sites.base + "/loop/forever", sites.base + "/app/page-1.html"]
    # A deadline of 4 s (twice the timeout): the next page, rendered by the same browser, must not
    # miss it on a busy machine (tests run three at a time).
    crawl = Crawl(tmp_path, cpu, make_pool(), url=urls[0], urls=urls, timeout=2, max_retries=0)
    started = time.monotonic()
    summary = crawl.run()
    assert time.monotonic() - started < 16  # the loop's page waits out its 4 s deadline, no more
    loop = next(entry for entry in crawl.entries if entry["url"] == urls[0])
    assert loop["status"] == "failed" and loop["reason"] == "render_timeout" and loop["render_reason"] == "app_shell"
    assert crawl.ok().get(urls[1], {}).get("rendered") is True, [(e["url"], e["error"]) for e in crawl.entries]  # the browser goes on
    assert summary["ok"] == 1 and summary["failed"] == 1


class Secret:
    """A service on a private address the rendered pages must never reach; counts its visitors."""

    def __init__(self) -> None:
        self.site = Site().route("/", b"secret", headers={"Access-Control-Allow-Origin": "*"}, prefix=True).start()
        self.port = self.site.port

    @property
    def hits(self) -> int:
        return sum(self.site.counts.values())

    def close(self) -> None:
        self.site.stop()


def test_a_page_cannot_reach_private_addresses_or_the_dashboard(tmp_path: Path, cpu: CpuPool,
                                                                make_pool: Callable[..., RenderPool]) -> None:
    secret = Secret()
    site = RenderSites(reach_targets=(f"http://127.0.0.1:{secret.port}/admin",
                                      f"http://localhost:{secret.port}/metadata")).start()
    try:
        # Private targets refused, except the test site itself (its address and port only).
        only_the_site = make_pool(allowed=frozenset({f"127.0.0.1:{site.port}"}))
        crawl = Crawl(tmp_path, cpu, only_the_site, url=site.base + "/reach/one", max_pages=1,
                      address_policy=lambda address: None if address == "127.0.0.1" else non_public_reason(address))
        crawl.run()
        text = crawl.text(crawl.ok()[site.base + "/reach/one"])
        assert f"refused http://127.0.0.1:{secret.port}/admin" in text
        assert f"refused http://localhost:{secret.port}/metadata" in text
        assert any("refused" in line and "loopback" in line for line in crawl.logs())
        # Private targets allowed (--allow-private-targets), but the dashboard's own address never.
        dashboard = make_pool(denied=frozenset({f"127.0.0.1:{secret.port}"}))
        crawl = Crawl(tmp_path, cpu, dashboard, url=site.base + "/reach/two", max_pages=1)
        crawl.run()
        assert f"refused http://127.0.0.1:{secret.port}/admin" in crawl.text(crawl.ok()[site.base + "/reach/two"])
        assert secret.hits == 0
        assert site.requests["/reach/img"] == 0  # images are not loaded
    finally:
        site.stop()
        secret.close()


@pytest.mark.slow
def test_a_browser_crash_fails_only_its_pages_and_the_crawl_completes(
        tmp_path: Path, cpu: CpuPool, make_pool: Callable[..., RenderPool]) -> None:
    site = RenderSites(slow_seconds=1.0).start()
    pool = make_pool()
    try:
        urls = [f"{site.base}/slow/page-{i}.html" for i in range(1, 7)]
        crawl = Crawl(tmp_path, cpu, pool, url=urls[0], urls=urls, concurrency=2)
        runner = threading.Thread(target=crawl.run)
        runner.start()
        wait_until(lambda: site.count("/slow-data/") >= 1, timeout=30, interval=0.05,
                   message="a page being rendered")
        main = [p for p in browsers_below(pool.pid or 0) if "node" in p.parent().name().lower()]
        assert len(main) == 1, "the browser's main process"
        main[0].kill()
        runner.join(60)
        summary = crawl.summary
        assert summary is not None and summary["state"] == "completed"
        assert summary["ok"] + summary["failed"] == len(urls) and summary["ok"] >= len(urls) - 2
        assert pool.browsers_started >= 2  # a fresh browser took over
    finally:
        site.stop()


def test_a_browser_above_its_memory_limit_is_replaced_and_rendering_goes_on(
        tmp_path: Path, cpu: CpuPool, sites: RenderSites, make_pool: Callable[..., RenderPool]) -> None:
    pool = make_pool(memory_limit=1)  # one byte: every browser is over it as soon as it is looked at
    urls = [f"{sites.base}/app/page-{i}.html" for i in range(1, 4)]
    for url in urls:
        crawl = Crawl(tmp_path, cpu, pool, url=url, max_pages=1)
        assert crawl.run()["rendered"] == 1
        wait_until(lambda: pool.recycled >= urls.index(url) + 1, timeout=10, message="the browser to be replaced")
    assert pool.browsers_started == len(urls)  # each page found a fresh browser


def test_kill_9_of_the_render_process_takes_chromium_with_it_and_the_next_page_starts_anew(
        tmp_path: Path, cpu: CpuPool, sites: RenderSites, make_pool: Callable[..., RenderPool]) -> None:
    pool = make_pool()
    assert Crawl(tmp_path, cpu, pool, url=sites.base + "/app/page-1.html", max_pages=1).run()["rendered"] == 1
    assert pool.pid is not None
    below = psutil.Process(pool.pid).children(recursive=True)  # Playwright's driver and Chromium
    assert browsers_below(pool.pid)
    os.kill(pool.pid, signal.SIGKILL)
    wait_until(lambda: gone(below), timeout=5, interval=0.05, message="Chromium to exit with its render process")
    assert Crawl(tmp_path, cpu, pool, url=sites.base + "/app/page-2.html", max_pages=1).run()["rendered"] == 1


def test_an_idle_browser_is_closed_and_the_next_page_starts_one(
        tmp_path: Path, cpu: CpuPool, sites: RenderSites, make_pool: Callable[..., RenderPool]) -> None:
    pool = make_pool(idle_seconds=0.5)
    for number in (1, 2):
        crawl = Crawl(tmp_path, cpu, pool, url=f"{sites.base}/app/page-{number}.html", max_pages=1)
        assert crawl.run()["rendered"] == 1
        wait_until(lambda: not browsers_below(pool.pid or 0), timeout=10, message="the idle browser to close")
        assert pool.pid is not None  # the render process stays, without a browser
    assert pool.browsers_started == 2


def test_without_a_browser_auto_skips_such_pages_and_says_so_once(
        tmp_path: Path, cpu: CpuPool, sites: RenderSites, make_pool: Callable[..., RenderPool],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRAWLER_CHROMIUM", "none")
    pool = make_pool()
    urls = [f"{sites.base}/app/page-{i}.html" for i in range(1, 4)] + [sites.base + "/plain/"]
    crawl = Crawl(tmp_path, cpu, pool, url=urls[0], urls=urls)
    summary = crawl.run()
    assert summary["skip_reasons"] == {"needs_javascript": 3} and summary["ok"] == 1
    assert sum("cannot be rendered" in line for line in crawl.logs()) == 1
    assert pool.pid is None
    cli = subprocess.run([sys.executable, "-m", "crawler", sites.base + "/app/", "--render", "always",
                          "--allow-private-targets", "--out", str(tmp_path / "cli")], cwd=PROJECT_ROOT,
                         env={**os.environ, "CRAWLER_CHROMIUM": "none"}, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 2 and "render is set to always" in cli.stderr


# ---------------------------------------------------------------- the real server


def test_kill_9_of_the_server_leaves_no_chromium(tmp_path: Path, sites: RenderSites) -> None:
    server = ServerProcess(tmp_path / "crawls", "--allow-private-targets", "--server", "threading")
    try:
        client = Client(server.base, connect=False)
        urls = [f"{sites.base}/slow/page-{i}.html" for i in range(1, 5)]
        answer = client.http.post(server.base + "/api/crawls", json={"url": urls[0], "urls": urls}, timeout=10)
        assert answer.status_code == 202, answer.text
        browsers = wait_until(lambda: browsers_below(server.process.pid), timeout=30, interval=0.1,
                              message="Chromium below the server")
        below = psutil.Process(server.process.pid).children(recursive=True)
        # /api/system shows the browser apart from the extraction workers.
        system = client.http.get(server.base + "/api/system", timeout=10).json()
        shown = {row["pid"]: row["role"] for row in system["browser"]}
        assert set(shown.values()) == {"browser"} and {b.pid for b in browsers} & set(shown)
        assert not {b.pid for b in browsers} & {row["pid"] for row in system["workers"]}
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        wait_until(lambda: gone(browsers) and gone(below), timeout=10, interval=0.1,
                   message="Chromium and the render process to exit with their server")
        client.http.close()
    finally:
        server.stop()


def test_rendering_under_the_eventlet_server(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "crawls", "--allow-private-targets", "--server", "eventlet")
    site = RenderSites(reach_targets=(server.base + "/api/health",)).start()
    client = Client(server.base)
    try:
        crawl_id = client.start({"url": site.base + "/app/", "urls": [site.base + "/app/", site.base + "/reach/x"]})
        summary = client.wait_finished(crawl_id, timeout=90)["summary"]
        assert summary["ok"] == 2 and summary["rendered"] == 2, summary
        folder = server.data_dir / crawl_id
        manifest = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
        reach = next(entry for entry in manifest if entry["url"].endswith("/reach/x"))
        assert f"refused {server.base}/api/health" in (folder / reach["path"]).read_text()
        browsers = browsers_below(server.process.pid)
    finally:
        client.close()
        server.stop()
        site.stop()
    wait_until(lambda: gone(browsers), timeout=10, message="Chromium to exit with its server")
