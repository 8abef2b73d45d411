"""Sitemap discovery: robots.txt `Sitemap:` lines and /sitemap.xml, indexes nested, gzip or not.

Link following alone misses pages nobody links to; a sitemap alone misses pages it forgot.
The crawler uses both. Parsing is defensive: entity expansion and network access are off (a
sitemap is untrusted XML), sizes and counts are capped, and one broken sitemap only costs its
own URLs.
"""

from __future__ import annotations

import gzip
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

import requests
from lxml import etree

from crawler.engine.errors import StopRequested
from crawler.engine.fetch import read_body
from crawler.engine.signals import StopSignal
from crawler.engine.urls import origin

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit, uncompressed
MAX_SITEMAP_FILES = 500
MAX_NESTING = 5
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class SitemapResult:
    """What discovery found: page URLs in order, and notes for the live log."""

    page_urls: list[str] = field(default_factory=list)
    sitemaps_read: int = 0
    notes: list[tuple[str, str]] = field(default_factory=list)  # (level, message)


def parse_sitemap(data: bytes) -> tuple[str, list[str]]:
    """('index' | 'urlset', the <loc> values) of one sitemap document."""
    if data[:2] == GZIP_MAGIC:
        data = _gunzip(data)
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    root = etree.fromstring(data, parser=parser)
    if root is None:
        raise ValueError("not an XML sitemap")
    kind = "index" if etree.QName(root).localname.lower() == "sitemapindex" else "urlset"
    locs = [node.text.strip() for node in root.iter("{*}loc", "loc") if node.text and node.text.strip()]
    return kind, locs


def _gunzip(data: bytes) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
        out = handle.read(MAX_SITEMAP_BYTES + 1)
    if len(out) > MAX_SITEMAP_BYTES:
        raise ValueError("sitemap larger than 50 MB uncompressed")
    return out


def candidate_sitemaps(start_url: str, robots_sitemaps: list[str]) -> list[str]:
    """Sitemaps named in robots.txt, then the conventional /sitemap.xml; no duplicates."""
    candidates = [urljoin(start_url, url) for url in robots_sitemaps]
    candidates.append(origin(start_url) + "/sitemap.xml")
    return list(dict.fromkeys(candidates))


def discover_sitemap_urls(session: requests.Session, start_url: str, robots_sitemaps: list[str], *,
                          timeout: float, stop: StopSignal,
                          on_progress: Callable[[SitemapResult], None] | None = None) -> SitemapResult:
    """Read sitemaps breadth first (indexes before the sitemaps they list), collecting page URLs."""
    result = SitemapResult()
    seen: set[str] = set()
    queue: list[tuple[str, int]] = [(url, 0) for url in candidate_sitemaps(start_url, robots_sitemaps)]
    explicitly_listed = set(urljoin(start_url, url) for url in robots_sitemaps)
    while queue:
        if stop.is_set():
            raise StopRequested()
        url, level = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        if result.sitemaps_read >= MAX_SITEMAP_FILES:
            result.notes.append(("warning", f"stopped reading sitemaps after {MAX_SITEMAP_FILES} files"))
            break
        try:
            kind, locs = parse_sitemap(_download(session, url, timeout, stop))
        except StopRequested:
            raise
        except _NoSitemap as exc:
            if url in explicitly_listed or level > 0:
                result.notes.append(("warning", f"sitemap {url} unavailable: {exc}"))
            continue
        except (requests.RequestException, OSError, ValueError, etree.XMLSyntaxError) as exc:
            result.notes.append(("warning", f"sitemap {url} could not be read: {exc}"))
            continue
        result.sitemaps_read += 1
        if kind == "index":
            if level >= MAX_NESTING:
                result.notes.append(("warning", f"sitemap index {url} nested too deep; ignored"))
                continue
            queue.extend((urljoin(url, loc), level + 1) for loc in locs)
            result.notes.append(("info", f"sitemap index {url}: {len(locs)} sitemaps"))
        else:
            result.page_urls.extend(urljoin(url, loc) for loc in locs)
            result.notes.append(("info", f"sitemap {url}: {len(locs)} pages"))
        if on_progress is not None:
            on_progress(result)
    return result


class _NoSitemap(Exception):
    pass


def _download(session: requests.Session, url: str, timeout: float, stop: StopSignal) -> bytes:
    with session.get(url, timeout=timeout, stream=True) as response:
        if response.status_code >= 400:
            raise _NoSitemap(f"HTTP {response.status_code}")
        content_type = (response.headers.get("Content-Type") or "").lower()
        if "html" in content_type:
            raise _NoSitemap("the server answered with an HTML page")
        return read_body(response, stop, time.monotonic() + 3 * timeout, MAX_SITEMAP_BYTES)
