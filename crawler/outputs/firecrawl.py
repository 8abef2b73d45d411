"""A crawl folder as Firecrawl's v2 answers see it: its saved pages as documents (Markdown, HTML,
links, metadata), paged, and a discovery's URLs as a map's links (docs/api.md
"Firecrawl-compatible API").

Read from the folder alone (manifest, saved pages, `links.jsonl`, `discovered.jsonl`), so it
works the same for a crawl that runs, ended, was resumed, or ran on another machine.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

from crawler.folder.reader import LINKS_FILE, iter_manifest, read_page
from crawler.outputs.browse import SavedPage, render_markdown, saved_pages

PAGE_SIZE = 100  # documents in one answer of a crawl's status, as Firecrawl pages them
MAX_PAGE_SIZE = 1_000  # the most a `limit` may ask for
MAX_ANSWER_BYTES = 10 * 1024 * 1024  # and at most this much JSON of documents (one document always fits)
BASE64_IMAGE = re.compile(r"(!\[[^\]\n]*\])\(\s*<?data:[^)\s>]*>?(?:\s+\"[^\"\n]*\")?\s*\)")
BASE64_REMOVED = "(<Base64-Image-Removed>)"


def without_base64_images(markdown: str) -> str:
    """Images inlined as `data:` URLs replaced by a marker, as Firecrawl's removeBase64Images does."""
    return BASE64_IMAGE.sub(lambda match: match.group(1) + BASE64_REMOVED, markdown)


def _links_by_url(crawl_dir: Path) -> dict[str, list[str]]:
    links: dict[str, list[str]] = {}
    for entry in iter_manifest(crawl_dir, LINKS_FILE):
        if isinstance(entry.get("url"), str) and isinstance(entry.get("links"), list):
            links[entry["url"]] = [link for link in entry["links"] if isinstance(link, str)]
    return links


def document(crawl_dir: Path, entry: dict[str, Any], formats: list[str], remove_base64_images: bool = True,
             links: dict[str, list[str]] | None = None) -> dict[str, Any] | None:
    """One saved page as a Firecrawl document, or None when its file is gone."""
    markdown = read_page(crawl_dir, entry.get("path"))
    if markdown is None:
        return None
    if remove_base64_images:
        markdown = without_base64_images(markdown)
    url = entry["url"]
    doc: dict[str, Any] = {}
    if "markdown" in formats:
        doc["markdown"] = markdown
    if "html" in formats:
        doc["html"] = render_markdown(markdown, entry.get("canonical") or url)
    if "links" in formats:
        doc["links"] = (links if links is not None else _links_by_url(crawl_dir)).get(url, [])
    metadata: dict[str, Any] = {"title": entry.get("title") or None, "sourceURL": url,
                                "url": entry.get("canonical") or url, "statusCode": entry.get("http_status"),
                                "contentType": "text/html"}
    for key, name in (("description", "description"), ("site_name", "ogSiteName")):
        if isinstance(entry.get(key), str) and entry[key]:
            metadata[name] = entry[key]
    doc["metadata"] = metadata
    return doc


@dataclass
class DocumentPage:
    documents: list[dict[str, Any]]
    next_skip: int  # where the next page starts
    more: bool  # saved pages beyond this answer exist now


def document_page(crawl_dir: Path, skip: int, limit: int, formats: list[str],
                  remove_base64_images: bool = True, max_bytes: int = MAX_ANSWER_BYTES) -> DocumentPage:
    """The saved pages from the `skip`-th on, in crawl order: at most `limit` of them and about
    `max_bytes` of JSON (always at least one, however large). The pages are the reader's list
    (crawler/outputs/browse.py: followed as the manifest grows, so a running crawl's status, asked
    for again and again, costs only its new lines); each page's record is read back by offset."""
    pages = saved_pages(crawl_dir).pages
    chosen = pages[skip:skip + limit]
    if not chosen:
        return DocumentPage([], skip, False)
    links = _links_by_url(crawl_dir) if "links" in formats else None
    documents: list[dict[str, Any]] = []
    size = 0
    with open(Path(crawl_dir) / "manifest.jsonl", "rb") as manifest:
        for page in chosen:
            entry = _record_at(manifest, page)
            doc = document(crawl_dir, entry, formats, remove_base64_images, links)
            if doc is None:
                doc = {"metadata": {"sourceURL": page.url, "url": page.canonical or page.url,
                                    "error": "the page's file is gone"}}
            weight = len(json.dumps(doc, ensure_ascii=False))
            if documents and size + weight > max_bytes:
                break
            documents.append(doc)
            size += weight
    end = skip + len(documents)
    return DocumentPage(documents, end, end < len(pages))


def _record_at(manifest: BinaryIO, page: SavedPage) -> dict[str, Any]:
    """The manifest record of a saved page (what the reader's list keeps of it, if it cannot be read)."""
    manifest.seek(page.line_offset)
    try:
        entry = json.loads(manifest.readline())
    except ValueError:
        entry = None
    if not isinstance(entry, dict) or entry.get("url") != page.url:
        entry = {"url": page.url, "path": page.path, "title": page.title, "canonical": page.canonical}
    return entry


def outcome(crawl_dir: Path) -> dict[str, Any] | None:
    """The manifest line of a one-page crawl's page (how it ended), or None before it has one."""
    for entry in iter_manifest(crawl_dir):
        if isinstance(entry.get("url"), str) and entry.get("status"):
            return entry
    return None


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def map_links(crawl_dir: Path, *, limit: int, sitemap_only: bool = False, strip_query: bool = True,
              search: str | None = None) -> list[dict[str, Any]]:
    """A discovery's URLs as a map's links, in the order they were found: `{"url", "title"?,
    "description"?}`. `sitemap_only`: only those the sitemaps listed; `strip_query`: URLs that
    differ only by their query are one; `search`: only those whose URL, title or description
    holds every word of it (case-insensitive)."""
    known: dict[str, dict[str, Any]] = {}
    for entry in iter_manifest(crawl_dir):
        if isinstance(entry.get("url"), str):
            known[entry["url"]] = entry
    words = search.casefold().split() if search else []
    links: list[dict[str, Any]] = []
    seen: set[str] = set()
    for found in iter_manifest(crawl_dir, "discovered.jsonl"):
        url = found.get("url")
        if not isinstance(url, str) or (sitemap_only and found.get("source") != "sitemap"):
            continue
        listed = _without_query(url) if strip_query else url
        if listed in seen:
            continue
        page = known.get(url, {})
        link: dict[str, Any] = {"url": listed}
        for key in ("title", "description"):
            if isinstance(page.get(key), str) and page[key]:
                link[key] = page[key]
        if words:
            text = " ".join((listed, link.get("title", ""), link.get("description", ""))).casefold()
            if not all(word in text for word in words):
                continue
        seen.add(listed)
        links.append(link)
        if len(links) >= limit:
            break
    return links
