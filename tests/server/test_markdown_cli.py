"""Faithful Markdown through a real terminal crawl: soft 404s skipped, selectors applied."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.site import Route, Site

FIXTURES = Path(__file__).resolve().parents[1] / "sites" / "generators"


class StaticSite(Site):
    """A built site's folder on the tests' one local server, answering 200 with its 404 page for a
    missing path (as a static host with a catch-all does)."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def answer(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        file = (self.root / path.lstrip("/")).resolve()
        if file.is_dir():
            file = file / "index.html"
        if not file.is_relative_to(self.root.resolve()) or not file.is_file():
            file = self.root / "404.html"
        kind = "text/html; charset=utf-8" if file.suffix == ".html" else "application/octet-stream"
        Route(200, file.read_bytes(), {"Content-Type": kind}).send(handler)


@pytest.fixture
def mkdocs_site() -> Iterator[str]:
    site = StaticSite(FIXTURES / "mkdocs" / "html").start()
    yield site.base
    site.stop()


def test_a_crawl_skips_a_soft_404_and_saves_faithful_pages(tmp_path, mkdocs_site):
    result = run_cli(f"{mkdocs_site}/", f"{mkdocs_site}/guide/", f"{mkdocs_site}/no-such-page/", "--out", str(tmp_path),
                     "--allow-private-targets", "--quiet", "--exclude-selector", ".admonition.warning")
    assert result.returncode == 0, result.stderr
    (crawl,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    entries = {e["url"]: e for e in map(json.loads, (crawl / "manifest.jsonl").read_text().splitlines())}
    missing = entries[f"{mkdocs_site}/no-such-page/"]
    assert (missing["status"], missing["reason"]) == ("skipped", "not_found")
    guide = (crawl / entries[f"{mkdocs_site}/guide/"]["path"]).read_text()
    assert "**conda**\n\n```bash\nconda install -c conda-forge gadgets\n```" in guide
    assert "> **Note:**" in guide and "Deprecated" not in guide, "exclude_selectors applied"
    assert json.loads((crawl / "config.json").read_text())["exclude_selectors"] == [".admonition.warning"]
    refused = run_cli(f"{mkdocs_site}/", "--out", str(tmp_path / "x"), "--content-selector", "div[")
    assert refused.returncode == 2 and "not a valid CSS selector" in refused.stderr
