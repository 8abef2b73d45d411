"""docs/architecture.md's module map and the tree agree: every module is named there, and every
module named there exists (the import contracts themselves are checked by lint-imports in CI)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAP = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def test_every_module_of_the_tree_is_in_the_module_map():
    modules = [p for p in (ROOT / "crawler").rglob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    missing = [str(p.relative_to(ROOT)) for p in modules
               if f"`{p.name}`" not in MAP and f"`{p.relative_to(ROOT / 'crawler').as_posix()}`" not in MAP
               and f"`{p.parent.name}/{p.name}`" not in MAP and str(p.relative_to(ROOT)) not in MAP]
    assert not missing, f"modules docs/architecture.md does not name: {missing}"


def test_every_path_the_module_map_names_exists():
    named = set(re.findall(r"crawler/[a-z_/]+\.py", MAP))
    assert named, "the map names module paths"
    assert not [n for n in named if not (ROOT / n).is_file()]
