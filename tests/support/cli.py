"""The terminal crawl as a test runs it: python -m crawler in a subprocess."""

from __future__ import annotations

import subprocess
import sys

from tests.support.server import PROJECT_ROOT


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crawler", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
