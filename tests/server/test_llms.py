"""llms.txt and llms-full.txt: the format's rules, every stored page once, the Optional section,
the size report, and the two download formats of the real server."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from crawler.folder.reader import iter_manifest
from crawler.outputs.llms import (
    LLMS_FULL_TXT,
    LLMS_TXT,
)
from tests.support.llms import check_llms_txt
from tests.support.server import wait_until

# ---- a checker of the llms.txt format (llmstxt.org) --------------------------------------------





def all_links(parsed: dict[str, Any]) -> list[str]:
    return [item["url"] for items in parsed["sections"].values() for item in items]


def stored(folder: Path) -> list[dict[str, Any]]:
    return [e for e in iter_manifest(folder) if e["status"] == "ok"]


def listed_url(entry: dict[str, Any]) -> str:
    return entry.get("canonical") or entry["url"]


# ---- downloads through the real server -----------------------------------------------------------


@pytest.mark.parametrize("server", ["threading"], indirect=True)
def test_llms_downloads_through_the_real_server(server, make_client, make_site):
    site = make_site(pages=15, history_pages=True)
    client = make_client()
    crawl_id = client.start({"url": site.url(0), "concurrency": 4})
    assert client.wait_finished(crawl_id)["state"] == "completed"
    folder = server.data_dir / crawl_id
    wait_until(lambda: (folder / LLMS_FULL_TXT).exists(), timeout=10, message="llms files written at the end")
    pages = stored(folder)
    api = f"{server.base}/api/crawls/{crawl_id}/download"

    llms = client.http.get(api, params={"format": "llms"})
    assert llms.status_code == 200 and llms.headers["Content-Type"].startswith("text/plain")
    assert llms.headers["Content-Disposition"] == f'attachment; filename="127.0.0.1-{crawl_id}-llms.txt"'
    parsed = check_llms_txt(llms.content.decode("utf-8"))
    assert sorted(all_links(parsed)) == sorted(listed_url(e) for e in pages)
    assert list(parsed["sections"])[-1] == "Optional"

    full = client.http.get(api, params={"format": "llms-full"})
    assert full.status_code == 200
    assert full.headers["Content-Disposition"] == f'attachment; filename="127.0.0.1-{crawl_id}-llms-full.txt"'
    sources = re.findall(r"^Source: <([^>\n]+)>$", full.content.decode("utf-8"), flags=re.MULTILINE)
    assert sources == all_links(parsed)

    # Files written into the folder are served as they are, until the manifest changes.
    (folder / LLMS_TXT).write_text("# stored copy\n", encoding="utf-8")
    (folder / LLMS_FULL_TXT).write_text("stored full copy\n", encoding="utf-8")
    os.utime(folder / "manifest.jsonl", ns=(1, 1))
    assert client.http.get(api, params={"format": "llms"}).text == "# stored copy\n"
    assert client.http.get(api, params={"format": "llms-full"}).text == "stored full copy\n"
    os.utime(folder / "manifest.jsonl")  # now: the stored copies are older than the manifest
    assert client.http.get(api, params={"format": "llms"}).content == llms.content
    assert client.http.get(api, params={"format": "llms-full"}).content == full.content

    for fmt in ("zip", "jsonl", "markdown"):
        assert client.http.get(api, params={"format": fmt}).status_code == 200
    wrong = client.http.get(api, params={"format": "llms.txt"})
    assert wrong.status_code == 400
    assert all(name in wrong.json()["error"] for name in ("zip", "jsonl", "markdown", "llms", "llms-full"))


@pytest.mark.parametrize("server", ["threading"], indirect=True)
def test_llms_download_of_another_sessions_crawl_is_unknown(server, make_client, make_site):
    site = make_site(pages=3)
    owner, other = make_client(), make_client(connect=False)
    crawl_id = owner.start({"url": site.url(0)})
    owner.wait_finished(crawl_id)
    api = f"{server.base}/api/crawls/{crawl_id}/download"
    assert owner.http.get(api, params={"format": "llms"}).status_code == 200
    for fmt in ("llms", "llms-full"):
        assert other.http.get(api, params={"format": fmt}).status_code == 404
