"""A crawl's pages as Markdown at stable URLs (/api/crawls/<id>/md/<file>.md) and an llms.txt whose
items point at them; the same access rules as every route, and no way out of pages/."""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from crawler.folder.paths import markdown_file
from tests.support.flat_site import PAGES, FlatSite
from tests.support.llms import check_llms_txt
from tests.support.server import crawl_over_rest


@pytest.fixture
def flat_site() -> Iterator[FlatSite]:
    site = FlatSite().start()
    yield site
    site.stop()


def raw_get(base: str, path: str, cookie: str) -> tuple[int, str, str]:
    """GET with the path sent exactly as written (no client-side dot-segment removal)."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.putheader("Cookie", cookie)
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, answer.getheader("Content-Type") or "", answer.read().decode("utf-8", "replace")
    finally:
        connection.close()


@pytest.mark.parametrize("server", ["threading"], indirect=True)
def test_pages_as_markdown_at_stable_urls_and_nothing_else(server, make_client, flat_site):
    owner, stranger = make_client(connect=False), make_client(connect=False)
    crawl_id = crawl_over_rest(server.base, owner.http, flat_site.url(), render="never")
    cookie = "; ".join(f"{c.name}={c.value}" for c in owner.http.cookies)
    prefix = f"/api/crawls/{crawl_id}/md/"

    status, kind, text = raw_get(server.base, prefix + "Quick-guide.md", cookie)
    assert status == 200 and kind.startswith("text/markdown"), (status, kind)
    assert text.startswith("# Quick guide") and f"Source: <{flat_site.url('Quick-guide.html')}>" in text

    # llms.txt on the server: every item points at a Markdown URL that answers.
    status, kind, llms = raw_get(server.base, prefix + "llms.txt", cookie)
    assert status == 200 and kind.startswith("text/plain")
    parsed = check_llms_txt(llms)
    links = [item["url"] for items in parsed["sections"].values() for item in items]
    assert len(links) == len(PAGES) + 1
    for link in links:
        assert link.startswith(server.base + prefix) and link.endswith(".md"), link
        assert raw_get(server.base, urlsplit(link).path, cookie)[0] == 200, link

    # Someone else's crawl is not there, whatever the name.
    assert stranger.http.get(server.base + prefix + "Quick-guide.md", timeout=5).status_code == 404
    assert stranger.http.get(server.base + prefix + "llms.txt", timeout=5).status_code == 404

    # No name leads out of pages/, and a name that is no saved page is a 404 with a way on.
    crawl_dir = server.data_dir / crawl_id
    os.symlink("/etc/passwd", crawl_dir / "pages" / "escape.md")
    os.symlink(crawl_dir / "manifest.jsonl", crawl_dir / "pages" / "manifest.md")
    for name in ("../manifest.jsonl", "../config.json", "..%2fconfig.json", "%2e%2e/%2e%2e/etc/passwd.md",
                 "%2E%2E%2F..%2F..%2Fetc%2Fpasswd.md", "/etc/passwd.md", "%2fetc%2fpasswd.md", "escape.md",
                 "manifest.md", "./Quick-guide.md", "x/../Quick-guide.md", "Quick-guide.md%00.md",
                 "..\\..\\config.md", "Quick-guide", "Quick-guide.html", "nope.md", "." * 2000 + ".md",
                 "a/" * 600 + "b.md"):
        status, _, body = raw_get(server.base, prefix + name, cookie)
        # (`md//etc` is redirected to `md/etc`, Werkzeug merging the slashes: still inside pages/)
        assert status in (400, 404) or (status == 308 and name.lower().startswith(("/", "%2f"))), (name, status)
        assert "root:" not in body and '"url"' not in body and "max_pages" not in body, name
    status, _, body = raw_get(server.base, prefix + "nope.md", cookie)
    assert status == 404 and "md/llms.txt lists its pages" in body
    # A malformed crawl id never reaches the folder.
    assert raw_get(server.base, "/api/crawls/..%2f..%2fetc/md/passwd.md", cookie)[0] == 404


def test_markdown_file_allows_only_plain_relative_md_names(tmp_path):
    pages = tmp_path / "pages" / "docs"
    pages.mkdir(parents=True)
    (pages / "a.md").write_text("# A\n")
    (tmp_path / "secret.md").write_text("no\n")
    assert markdown_file(tmp_path, "docs/a.md") == (pages / "a.md").resolve()
    for name in ("docs/../docs/a.md", "../secret.md", "/docs/a.md", "docs//a.md", "docs\\a.md", "docs/a.md\x00",
                 "docs/a", "docs/b.md", "docs", "", None, 7, "x" * 2000 + ".md", "docs/./a.md"):
        assert markdown_file(tmp_path, name) is None, name
