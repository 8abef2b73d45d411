"""The downloads as a reader uses them: a zip whose pages link to each other by relative path
(the unpacked folder is browsable offline), with llms.txt and llms-full.txt, and one Markdown
file that gives each page's title once."""

from __future__ import annotations

import json
import posixpath
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from crawler.engine.config import public_settings
from crawler.folder.reader import iter_manifest, read_json, site_files
from crawler.outputs.llms import (
    LLMS_FULL_TXT,
    LLMS_TXT,
    current_file,
    iter_llms_full_text,
    iter_llms_txt_text,
)

# A Markdown link or image target: `](url)`, `](<url>)`, with an optional title after the URL.
_TARGET = re.compile(r"\]\((<[^>\n]*>|[^)\s]+)((?:\s+\"[^\"\n]*\")?)\)")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def saved_pages(crawl_dir: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """(manifest entry, file) of every saved page in crawl order; never a path outside pages/."""
    pages_dir = (crawl_dir / "pages").resolve()
    for entry in iter_manifest(crawl_dir):
        if entry.get("status") != "ok" or not isinstance(entry.get("path"), str):
            continue
        page = (crawl_dir / entry["path"]).resolve()
        if page.is_relative_to(pages_dir) and page.is_file():
            yield entry, page


def _key(url: str) -> str:
    """A URL as pages are looked up: no fragment, no trailing `index.html`."""
    url = url.split("#", 1)[0]
    for suffix in ("/index.html", "/index.htm"):
        if url.endswith(suffix):
            return url[: -len(suffix) + 1]
    return url


def page_paths(entries: list[dict[str, Any]]) -> dict[str, str]:
    """URL (and canonical URL) of every saved page → its file's path in the crawl folder."""
    paths: dict[str, str] = {}
    for entry in entries:
        for url in (entry.get("url"), entry.get("canonical")):
            if isinstance(url, str):
                paths.setdefault(_key(url), entry["path"])
    return paths


def relative_links(markdown: str, own_path: str, paths: dict[str, str]) -> str:
    """Links to pages of the crawl become relative paths to their .md files (fragment kept);
    other links stay absolute; code blocks are left untouched."""
    own_dir = posixpath.dirname(own_path)

    def replace(match: re.Match[str]) -> str:
        raw = match.group(1)
        url = raw[1:-1] if raw.startswith("<") else raw
        target = paths.get(_key(url))
        if target is None:
            return match.group(0)
        fragment = "#" + url.split("#", 1)[1] if "#" in url else ""
        relative = posixpath.relpath(target, own_dir or ".") + fragment
        return f"]({relative.replace(' ', '%20')}{match.group(2)})"

    out: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        opened = _FENCE.match(line.lstrip()) if fence is None else None
        if fence is not None:
            if line.strip().startswith(fence) and set(line.strip()) == {fence[0]}:
                fence = None
            out.append(line)
        elif opened:
            fence = opened.group(1)
            out.append(line)
        else:
            out.append(_TARGET.sub(replace, line))
    return "\n".join(out)


def build_zip(crawl_dir: Path, stem: str) -> Any:
    """The crawl as a zip (spooled to disk past 16 MB): its pages with links between them made
    relative, the manifest, the settings, the summary, llms.txt and llms-full.txt, and under
    `site/` the site's own llms.txt and llms-full.txt when it published them."""
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 - returned open, send_file closes it
    entries = [entry for entry, _ in saved_pages(crawl_dir)]
    paths = page_paths(entries)
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in ("manifest.jsonl", "summary.json"):
            if (crawl_dir / name).exists():
                archive.write(crawl_dir / name, f"{stem}/{name}")
        if (crawl_dir / "config.json").exists():  # without the webhook's secret
            settings = read_json(crawl_dir / "config.json")
            settings = public_settings(settings) if isinstance(settings, dict) else settings
            archive.writestr(f"{stem}/config.json", json.dumps(settings, indent=2, ensure_ascii=False))
        for entry, page in saved_pages(crawl_dir):
            text = page.read_text(encoding="utf-8", errors="replace")
            archive.writestr(f"{stem}/{entry['path']}", relative_links(text, entry["path"], paths))
        if entries:
            _write_llms(archive, crawl_dir, stem)
        for name, kept in site_files(crawl_dir).items():  # the site's own, as fetched, apart from the crawl's
            archive.write(kept["file"], f"{stem}/site/{name}")
    spool.seek(0)
    return spool


def _write_llms(archive: zipfile.ZipFile, crawl_dir: Path, stem: str) -> None:
    # The zip's llms.txt links each page to its Markdown file beside it (as llmstxt.org suggests),
    # so it is written for the zip; llms-full.txt is the stored one when it is current.
    _write_chunks(archive, f"{stem}/{LLMS_TXT}",
                  lambda: iter_llms_txt_text(crawl_dir, link=lambda page: page.path))
    stored = current_file(crawl_dir, LLMS_FULL_TXT)
    if stored is not None:
        archive.write(stored, f"{stem}/{LLMS_FULL_TXT}")
    else:
        _write_chunks(archive, f"{stem}/{LLMS_FULL_TXT}", lambda: iter_llms_full_text(crawl_dir))


def _write_chunks(archive: zipfile.ZipFile, name: str, chunks: Callable[[], Any]) -> None:
    with archive.open(name, "w") as handle:
        for chunk in chunks():
            handle.write(chunk.encode("utf-8"))


def combined_markdown(crawl_dir: Path) -> Iterator[str]:
    """All saved pages in crawl order, read one at a time, each under ONE H1: the page's own
    first heading when its content starts with one (the title as its author wrote it), else the
    stored title (else its URL); then its `Source:` line and its content."""
    for entry, page in saved_pages(crawl_dir):
        yield single_heading(page.read_text(encoding="utf-8", errors="replace"), entry["url"]) + "\n\n---\n\n"


def single_heading(document: str, url: str) -> str:
    """A stored page (`# title`, `Source: <url>`, content) with one H1 instead of two."""
    text = document.strip()
    heading = None
    if text.startswith("# "):
        heading, _, text = text.partition("\n")
        text = text.strip()
    source = None
    if text.startswith("Source: <"):
        source, _, text = text.partition("\n")
        text = text.strip()
    if text.startswith("# "):
        heading, _, text = text.partition("\n")
        text = text.strip()
    parts = [heading or f"# {url}", source, text]
    return "\n\n".join(part for part in parts if part)
