"""The dashboard's JavaScript unit tests (tests/js/*.test.mjs, Node's built-in test runner), run
from pytest so that the project's one test command covers them too."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
JS_TESTS = PROJECT_ROOT / "tests" / "unit" / "js"


def node_summary(output: str) -> str:
    """'tests 17 · pass 16 · fail 1 …' from the TAP report's closing lines."""
    counts = re.findall(r"^# (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)$", output, re.M)
    return " · ".join(f"{name} {n}" for name, n in counts) or "no summary line in node's output"


def test_javascript_unit_tests_pass() -> None:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed (scripts/test installs Debian's nodejs): the JS unit tests did not run")
    files = sorted(str(p.relative_to(PROJECT_ROOT)) for p in JS_TESTS.glob("*.test.mjs"))
    assert files, f"no *.test.mjs under {JS_TESTS}"
    # The files are named one by one: newer Node versions read the arguments of --test as globs.
    proc = subprocess.run(
        [node, "--test", "--test-reporter=tap", *files],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )
    output = proc.stdout + proc.stderr
    summary = node_summary(output)
    failed = [line for line in output.splitlines() if line.lstrip().startswith("not ok")]
    assert proc.returncode == 0 and not failed, (
        f"node --test failed ({summary}):\n" + "\n".join(failed) + "\n\n" + output[-6000:]
    )
    passed = re.search(r"^# pass (\d+)$", output, re.M)
    assert passed and int(passed.group(1)) > 0, f"node ran no test ({summary})"
