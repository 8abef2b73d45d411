"""Where things are in the data directory and in a crawl folder, and the rules that keep every path
inside: one function each (a well-formed crawl id, a path inside a folder, a crawl's folder, a
saved page's file), called by the writer, the reader, every output and every host.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from pathlib import Path
from typing import Any, TypeGuard

PAGES_DIR = "pages"
CRAWL_ID_PATTERN = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")  # 20261123-184012-a1b2c3, always fullmatch'd


def is_crawl_id(value: object) -> TypeGuard[str]:
    """Whether `value` is a well-formed crawl id, exactly `YYYYMMDD-HHMMSS-xxxxxx`: the one check
    for every id that names a folder, whether it came from a request, Redis or a job message
    (no `..`, slash, backslash, absolute path or trailing newline can pass)."""
    return isinstance(value, str) and CRAWL_ID_PATTERN.fullmatch(value) is not None


def inside(root: Path, path: Path) -> Path | None:
    """`path` resolved (symbolic links followed) if it stays inside `root`, else None: the one
    containment check for a path that must name something in the data directory or a crawl folder.

    `root` is resolved once per process (a resolve is a system call per path segment, and the
    writer and the indexer check a path per page); `path` every time. A root that later resolves
    elsewhere only makes the check refuse: what passes is inside where the root first led."""
    target = Path(path).resolve()
    return target if target.is_relative_to(_resolved(str(root))) else None


@functools.lru_cache(maxsize=256)
def _resolved(root: str) -> Path:
    return Path(root).resolve()


def crawl_folder(data_dir: Path, crawl_id: Any) -> Path:
    """The folder of crawl `crawl_id` in `data_dir`; ValueError for an id that is not well formed
    (or, through a symbolic link, names a folder outside the data directory)."""
    if not is_crawl_id(crawl_id):
        raise ValueError(f"not a crawl id: {str(crawl_id)[:100]!r}")
    if inside(data_dir, Path(data_dir) / crawl_id) is None:
        raise ValueError(f"crawl folder {crawl_id} leads outside the data directory")
    return Path(data_dir) / crawl_id


def page_file(crawl_dir: Path, relative: object) -> Path | None:
    """The file a manifest's `path` names, or None when it is no path or would lead outside the
    crawl's `pages/` folder (`..`, an absolute path, a link out). The one home of this rule: the
    writer, the reader, search, llms.txt, the report and the downloads all go through it."""
    if not isinstance(relative, str) or not relative:
        return None
    crawl_dir = Path(crawl_dir)
    pages = crawl_dir / PAGES_DIR
    plain = _below_without_links(pages, relative)
    if plain is not None:  # the usual case, in a few system calls
        return plain
    file = inside(pages, crawl_dir / relative)
    return file if file is not None and file != _resolved(str(pages)) else None


def _below_without_links(pages: Path, relative: str) -> Path | None:
    """`pages/a/b.md` as a file under the real `pages/` folder when each of its segments is a plain
    name (no `..`, `.`, empty segment, backslash or NUL) and none of those that exist is a
    symbolic link: then nothing can lead it elsewhere, and it is checked with one `lstat` a segment
    (a full resolve takes one for every segment from `/`, each a wait for the GIL under threads).
    None: not that simple; page_file then resolves it in full."""
    head, _, rest = relative.partition("/")
    if head != PAGES_DIR or not rest or "\\" in rest or "\0" in rest:
        return None
    names = rest.split("/")
    if any(name in ("", ".", "..") for name in names):
        return None
    file = str(_resolved(str(pages)))
    exists = True
    for name in names:
        file = f"{file}/{name}"
        if exists:
            try:
                mode = os.lstat(file).st_mode
            except FileNotFoundError:
                exists = False  # what is below a missing folder is missing too: nothing to follow
                continue
            except OSError:
                return None
            if stat.S_ISLNK(mode):
                return None
    return Path(file)


SITE_DIR = "site"  # what the site publishes for models itself, as fetched: its llms.txt and llms-full.txt
SITE_FILE_NAMES = ("llms.txt", "llms-full.txt")
SITE_FILES_INDEX = "files.json"  # in SITE_DIR: each file's URL, size, whether it was cut, when fetched


def site_file(crawl_dir: Path, name: object) -> Path | None:
    """Where the site's own file `name` is kept in a crawl folder (`site/llms.txt`), or None for
    any name but the few a site publishes: no path from outside ever names a file here."""
    return Path(crawl_dir) / SITE_DIR / name if isinstance(name, str) and name in SITE_FILE_NAMES else None


MAX_MARKDOWN_NAME = 1024


def markdown_file(crawl_dir: Path, name: object) -> Path | None:
    """The saved page a Markdown URL names (`docs/guide/index.md` → `pages/docs/guide/index.md`),
    or None: a name that is not a relative `.md` path of plain segments (no `..`, `.`, empty
    segment, backslash, NUL or control character), that leads outside `pages/`, or that names
    no file."""
    if not isinstance(name, str) or not name.endswith(".md") or len(name) > MAX_MARKDOWN_NAME:
        return None
    if name.startswith("/") or "\\" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return None
    if any(segment in ("", ".", "..") for segment in name.split("/")):
        return None
    file = page_file(crawl_dir, f"{PAGES_DIR}/{name}")
    return file if file is not None and file.is_file() else None
