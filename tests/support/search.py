"""A crawl folder written directly, page by page, for the search tests."""

from __future__ import annotations

from pathlib import Path

from crawler.folder.writer import CrawlStore


def store_pages(data_dir: Path, crawl_id: str, pages: dict[str, tuple[str, str]]) -> CrawlStore:
    """Save pages (url → (title, markdown)) through the engine's own store."""
    store = CrawlStore(data_dir / crawl_id)
    store.open()
    for url, (title, text) in pages.items():
        store.save_page(url=url, document=f"# {title}\n\nSource: <{url}>\n\n{text}\n", title=title, depth=0,
                        http_status=200, words=len(text.split()), fetched_at="2026-11-27T10:00:00.000Z")
    return store
