"""The browser tier: the dashboard and rendered pages in Chromium, through Playwright. Every test here carries the `browser` marker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.browser import open_dashboard
from tests.support.server import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def watch(browser: Browser, app_server: ServerProcess) -> Iterator[Page]:
    tab, errors = open_dashboard(browser, app_server.base)
    try:
        yield tab
    finally:
        tab.context.close()
    assert not errors, f"script errors on the dashboard: {errors}"
