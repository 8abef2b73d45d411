"""Rendering as the tests watch it: Chromium processes below a process, and a crawl with a render
pool run through the engine with every event recorded."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from crawler.engine.config import parse_crawl_config
from crawler.engine.controller import CrawlController
from crawler.engine.cpu import CpuPool
from crawler.engine.events import Event, RecordingSink
from crawler.folder.reader import iter_manifest
from crawler.folder.writer import CrawlStore
from crawler.render import RenderPool, render_unavailable_reason

BROWSER_NAMES = ("chrom", "headless_shell")


def browsers_below(pid: int) -> list[psutil.Process]:
    """Chromium processes descended from `pid`."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    found = []
    for child in children:
        try:
            if any(name in child.name().lower() for name in BROWSER_NAMES):
                found.append(child)
        except psutil.Error:
            continue
    return found


def gone(processes: list[psutil.Process]) -> bool:
    return not any(process.is_running() and process.status() != psutil.STATUS_ZOMBIE for process in processes)


class Crawl:
    def __init__(self, tmp_path: Path, cpu: CpuPool, pool: RenderPool | None, *,
                 address_policy: Any = None, **settings: Any) -> None:
        self.folder = tmp_path / f"crawl-{time.monotonic_ns()}"
        self.sink = RecordingSink()
        self.stop = threading.Event()
        config = parse_crawl_config({"use_sitemaps": False, "timeout": 5, **settings})
        self.controller = CrawlController("render-test", config, CrawlStore(self.folder), self.sink, self.stop, cpu,
                                          address_policy=address_policy, render=pool)
        self.summary: dict[str, Any] | None = None

    def run(self) -> dict[str, Any]:
        self.summary = self.controller.run()
        return self.summary

    @property
    def entries(self) -> list[dict[str, Any]]:
        return list(iter_manifest(self.folder))

    def ok(self) -> dict[str, dict[str, Any]]:
        return {entry["url"]: entry for entry in self.entries if entry["status"] == "ok"}

    def text(self, entry: dict[str, Any]) -> str:
        return (self.folder / entry["path"]).read_text()

    def logs(self) -> list[str]:
        return [line["message"] for line in self.sink.of(Event.LOG)]

    def stages_of(self, url: str) -> list[str]:
        return [page["stage"] for batch in self.sink.of(Event.PAGE) for page in batch["pages"] if page["url"] == url]


# Every rendering test module: skipped without a browser, and no Chromium left after each test
# (the `no_chromium_left` fixture in tests/conftest.py).
RENDER_TESTS = [pytest.mark.usefixtures("no_chromium_left"),
                pytest.mark.skipif(render_unavailable_reason() is not None,
                                   reason=f"no browser to render with: {render_unavailable_reason()}")]
