"""The terminal entry point: same engine, no server."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import PROJECT_ROOT


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
