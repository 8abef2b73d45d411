"""Fixtures shared by every tier: the shared real server (threading mode; eventlet on request),
clients, local doc sites, the extraction pool, a small disk, and the browser. What they are built
from lives in tests/support/. Each tier's conftest.py marks its tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from crawler.engine.cpu import CpuPool
from crawler.render import RenderPool
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, expect, sync_playwright
from tests.support.changing_site import ChangingSite, first_version
from tests.support.render import browsers_below
from tests.support.render_sites import RenderSites
from tests.support.server import SERVER_MODES, Client, ServerProcess, wait_until
from tests.support.site import CRASH_MARKER, DocSite, SiteOptions
from tests.support.webhooks import Receiver

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


def _server(mode: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp(f"server-{mode}") / "crawls"
    proc = ServerProcess(data_dir, "--allow-private-targets", "--server", mode,
                         env={"CRAWLER_FAULT_CRASH_MARKER": CRASH_MARKER})
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def threading_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from _server("threading", tmp_path_factory)


@pytest.fixture(scope="session")
def eventlet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Started only if a test asks for the eventlet mode."""
    yield from _server("eventlet", tmp_path_factory)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> ServerProcess:
    """The shared real server, threading mode. A test whose point is the server mode or the transport
    runs in both: @pytest.mark.parametrize("server", SERVER_MODES, indirect=True). Each test uses its
    own sessions on it."""
    mode = getattr(request, "param", "threading")
    assert mode in SERVER_MODES, mode
    return request.getfixturevalue(f"{mode}_server")


@pytest.fixture(scope="session")
def app_server(threading_server: ServerProcess) -> ServerProcess:
    """The shared threading-mode server, for tests that take it directly (no mode to choose)."""
    return threading_server


@pytest.fixture(scope="session")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with `--cpu-workers 2`, for what it reports about its processes (API and dashboard)."""
    proc = ServerProcess(tmp_path_factory.mktemp("two-workers") / "crawls", "--cpu-workers", "2")
    yield proc
    proc.stop()


@pytest.fixture
def make_client(server: ServerProcess) -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(connect: bool = True) -> Client:
        client = Client(server.base, connect=connect)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def app_client(app_server: ServerProcess) -> Iterator[Client]:
    """A client with its own session on the shared threading server."""
    made = Client(app_server.base)
    yield made
    made.close()


@pytest.fixture
def changing_site() -> Iterator[ChangingSite]:
    """A small site whose pages a test can edit between a crawl and its refresh."""
    served = ChangingSite(first_version())
    yield served
    served.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver the test runs."""
    made = Receiver()
    yield made
    made.stop()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 300 KB filesystem (tmpfs), mounted for the test and unmounted after it: a full disk."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mountpoint)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a small tmpfs needs root (CAP_SYS_ADMIN), as in CI: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


@pytest.fixture(scope="module")
def cpu() -> Iterator[CpuPool]:
    """One extraction process pool for the engine-level tests of a module."""
    pool = CpuPool(1)
    yield pool
    pool.shutdown()


@pytest.fixture
def make_site() -> Iterator[Callable[..., DocSite]]:
    sites: list[DocSite] = []

    def make(**options: Any) -> DocSite:
        site = DocSite(SiteOptions(**options)).start()
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium (/usr/bin/chromium) through Playwright, one per module."""
    if sync_playwright is None:
        pytest.skip("the playwright Python package is not installed (pip install -r requirements-dev.txt)")
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, server: ServerProcess) -> Iterator[Page]:
    """A fresh browser profile (so a fresh session cookie) with the dashboard open and connected.

    Script errors on the page fail the test."""
    context = browser.new_context(viewport=VIEWPORT, base_url=server.base)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto("/")
    expect(tab.locator("#connection")).to_have_text("Connected")
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"script errors on the dashboard: {errors}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers that follow from what a test uses, whatever its tier: `browser` for a test that drives
    Chromium through Playwright, `render` for the rendering tests outside the unit tier."""
    unit = Path(__file__).parent / "unit"
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
        if "render" in item.path.stem and not item.path.is_relative_to(unit):
            item.add_marker(pytest.mark.render)


@pytest.fixture
def no_chromium_left() -> Iterator[None]:
    """Every test ends with no Chromium below this process (the render modules use it on every test)."""
    yield
    wait_until(lambda: not browsers_below(os.getpid()), timeout=10, message="Chromium processes to exit")


@pytest.fixture
def make_pool() -> Iterator[Callable[..., RenderPool]]:
    pools: list[RenderPool] = []

    def make(**options: Any) -> RenderPool:
        pool = RenderPool(**options)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


@pytest.fixture(scope="module")
def sites() -> Iterator[RenderSites]:
    """The sites that only exist after JavaScript runs (tests/support/render_sites.py)."""
    site = RenderSites(slow_seconds=3.0).start()
    yield site
    site.stop()
