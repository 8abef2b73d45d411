"""What a site publishes for models itself, on the real server: its llms.txt kept and offered as a
download, a page's own Markdown version saved instead of its HTML's with `prefer_site_markdown`,
and the hostile cases (an HTML page or binary data served as the file, a redirect to another host,
a path robots.txt disallows, a file far over its size cap, a Markdown version on another host)."""

from __future__ import annotations

import json

import pytest
import requests

from crawler.folder.reader import iter_manifest, page_body
from tests.support.flat_site import PUBLISHED, SITE_MARKDOWN_WORD, FlatSite
from tests.support.server import ServerProcess, crawl_over_rest
from tests.support.site import Site


def manifest(server: ServerProcess, crawl_id: str) -> dict[str, dict]:
    return {entry["url"]: entry for entry in iter_manifest(server.data_dir / crawl_id)}


def saved_text(server: ServerProcess, crawl_id: str, entry: dict) -> str:
    return page_body((server.data_dir / crawl_id / entry["path"]).read_text(encoding="utf-8"))


def detail(server: ServerProcess, http: requests.Session, crawl_id: str) -> dict:
    return http.get(f"{server.base}/api/crawls/{crawl_id}", timeout=5).json()


@pytest.mark.parametrize("server", ["threading"], indirect=True)
def test_the_sites_llms_txt_is_kept_and_its_markdown_preferred_when_asked(server, make_client):
    client = make_client(connect=False)
    site = FlatSite().start()
    try:
        preferred = crawl_over_rest(server.base, client.http, site.url(), render="never", prefer_site_markdown=True)
        plain = crawl_over_rest(server.base, client.http, site.url(), render="never")
    finally:
        site.stop()

    # The site's llms.txt, as published, in the summary, the folder and the downloads.
    summary = detail(server, client.http, preferred)["summary"]
    body = PUBLISHED["llms.txt"][1].encode()
    assert summary["site_files"] == {"llms.txt": {"url": site.url("llms.txt"), "bytes": len(body), "truncated": False}}
    assert (server.data_dir / preferred / "site" / "llms.txt").read_bytes() == body
    download = client.http.get(f"{server.base}/api/crawls/{preferred}/download", params={"format": "site-llms"},
                               timeout=10)
    assert download.status_code == 200 and download.content == body
    assert download.headers["Content-Type"].startswith("text/plain")
    assert f"-{preferred}-site-llms.txt" in download.headers["Content-Disposition"]
    # Its llms-full.txt is an HTML page: not the file, so nothing to download.
    missing = client.http.get(f"{server.base}/api/crawls/{preferred}/download", params={"format": "site-llms-full"},
                              timeout=10)
    assert missing.status_code == 404 and "published no llms-full.txt" in missing.json()["error"]
    bad = client.http.get(f"{server.base}/api/crawls/{preferred}/download", params={"format": "site-../x"}, timeout=10)
    assert bad.status_code == 400 and "site-llms" in bad.json()["error"]
    # The crawl's own llms.txt is still its own.
    own = client.http.get(f"{server.base}/api/crawls/{preferred}/download", params={"format": "llms"}, timeout=10)
    assert own.status_code == 200 and "Its own index" not in own.text and "## Getting started" in own.text

    # prefer_site_markdown: the Quick guide's own Markdown is what its file holds.
    pages = manifest(server, preferred)
    quick = pages[site.url("Quick-guide.html")]
    assert quick["site_markdown"] == site.url("Quick-guide.md") and quick["from_site_markdown"] is True
    text = saved_text(server, preferred, quick)
    assert SITE_MARKDOWN_WORD in text and "cross compilation" not in text
    # Getting Meson names its .md, which answers an HTML page: its own HTML is converted.
    meson = pages[site.url("Getting-meson.html")]
    assert meson["site_markdown"] == site.url("Getting-meson.md") and "from_site_markdown" not in meson
    assert "How to install the build system" in saved_text(server, preferred, meson)
    # Built-in options names a Markdown version on another host: not the page's, never fetched.
    assert "site_markdown" not in pages[site.url("Builtin-options.html")]
    assert site.counts["/Builtin-options.md"] == 0

    # Without the setting the version is noted, not used.
    quick_plain = manifest(server, plain)[site.url("Quick-guide.html")]
    assert quick_plain["site_markdown"] == site.url("Quick-guide.md") and "from_site_markdown" not in quick_plain
    assert "cross compilation" in saved_text(server, plain, quick_plain)
    assert SITE_MARKDOWN_WORD not in saved_text(server, plain, quick_plain)
    assert detail(server, client.http, plain)["config"]["prefer_site_markdown"] is False


def hostile_site() -> Site:
    site = Site()
    home = ('<html><head><title>Hostile docs</title><link rel="alternate" type="text/markdown" href="/docs/index.md">'
            '</head><body><main><h1>Hostile docs</h1><p>The home page of a site whose files for models try '
            'everything.</p><a href="/docs/binary.html">Binary</a></main></body></html>')
    site.route("/robots.txt", "User-agent: *\nDisallow: /llms-full.txt\n", headers={"Content-Type": "text/plain"})
    site.route("/llms.txt", ("# Huge\n" + "x" * 99 + "\n") * 21_000, headers={"Content-Type": "text/plain"})
    site.route("/llms-full.txt", "# never asked for: robots.txt disallows it\n", headers={"Content-Type": "text/plain"})
    site.route("/docs/llms-full.txt", status=302, headers={"Location": "http://localhost:9/llms-full.txt"})
    site.route("/docs/", home)
    site.route("/docs/index.md", "# Hostile docs\n\n<script>alert(1)</script> [x](javascript:alert(2))\n",
               headers={"Content-Type": "text/markdown; charset=utf-8"})
    site.route("/docs/binary.html", '<html><head><title>Binary</title><link rel="alternate" type="text/markdown" '
               'href="binary.md"></head><body><main><h1>Binary</h1><p>A page whose Markdown version is an '
               'image.</p></main></body></html>')
    site.route("/docs/binary.md", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, headers={"Content-Type": "text/markdown"})
    return site.start()


@pytest.mark.parametrize("server", ["threading"], indirect=True)
def test_a_hostile_sites_files_are_capped_guarded_and_kept_as_bytes(server, make_client):
    client = make_client(connect=False)
    site = hostile_site()
    try:
        crawl_id = crawl_over_rest(server.base, client.http, site.base + "/docs/", render="never",
                                   prefer_site_markdown=True)
    finally:
        site.stop()
    folder = server.data_dir / crawl_id
    files = json.loads((folder / "site" / "files.json").read_text())
    # Cut at 1 MiB, and said so; robots.txt kept the crawler off /llms-full.txt; the redirect to
    # another host was not followed.
    assert set(files) == {"llms.txt"} and files["llms.txt"]["truncated"] is True
    assert (folder / "site" / "llms.txt").stat().st_size == 1024 * 1024
    assert site.counts["/llms-full.txt"] == 0 and site.counts["/docs/llms-full.txt"] == 1
    summary = detail(server, client.http, crawl_id)["summary"]
    assert summary["site_files"]["llms.txt"]["truncated"] is True and "llms-full.txt" not in summary["site_files"]
    log = " ".join(line["message"] for line in detail(server, client.http, crawl_id)["recent_log"])
    assert "the site publishes its own llms.txt" in log and "cut at 1,024 KiB" in log
    assert "/llms-full.txt: not fetched (disallowed by robots.txt)" in log

    pages = manifest(server, crawl_id)
    home = pages[site.base + "/docs/"]
    assert home["from_site_markdown"] is True
    # The site's Markdown is kept as text; the reader shows its markup as text and its link inert.
    assert "<script>alert(1)</script>" in saved_text(server, crawl_id, home)
    answer = client.http.get(f"{server.base}/api/crawls/{crawl_id}/page", params={"url": site.base + "/docs/"},
                             timeout=5).json()
    assert "<script>" not in answer["html"] and "&lt;script&gt;" in answer["html"] and "href" not in answer["html"]
    # A Markdown version that is binary data is not used.
    binary = pages[site.base + "/docs/binary.html"]
    assert binary["site_markdown"] == site.base + "/docs/binary.md" and "from_site_markdown" not in binary
    assert "A page whose Markdown version is an image" in saved_text(server, crawl_id, binary)

