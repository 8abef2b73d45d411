"""The crawl tools over stdio: `crawler-mcp --allow-crawls` runs the crawls itself in the data
directory, with the same checks as the web server; without the flag it offers none of them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.support.changing_site import ChangingSite, first_version
from tests.support.mcp import CRAWL_TOOLS, TOOLS, call_all, stdio_session


def test_without_the_flag_there_are_no_crawl_tools(tmp_path):
    data_dir = tmp_path / "crawls"
    data_dir.mkdir()
    tools, [(failed, text)] = stdio_session(["--data-dir", str(data_dir)], [("crawl_site", {"url": "http://x.org/"})])
    assert tools == TOOLS and failed and "crawl_site" in text


def test_with_the_flag_a_crawl_runs_in_the_data_dir_and_is_followed_to_its_end(tmp_path):
    data_dir = tmp_path / "crawls"
    data_dir.mkdir()
    site = ChangingSite(first_version())
    try:
        async def follow(client: Any) -> list[tuple[bool, str]]:
            crawl_id = json.loads(started[0][1])["crawl_id"]
            for _ in range(300):
                [(failed, text)] = await call_all(client, [("crawl_status", {"crawl_id": crawl_id})])
                if failed or json.loads(text)["done"]:
                    break
                await asyncio.sleep(0.1)
            return [(failed, text), *await call_all(client, [("list_sites", {})])]

        started: list[tuple[bool, str]] = []

        async def between(client: Any) -> list[tuple[bool, str]]:
            started.extend(await call_all(client, [("crawl_site", {"url": site.url("/docs/"), "max_pages": 5})]))
            assert not started[0][0], started
            return await follow(client)

        tools, answers = stdio_session(["--data-dir", str(data_dir), "--allow-crawls", "--allow-private-targets",
                                        "--owner", "my-session-id"],
                                       [("crawl_site", {"url": "http://127.0.0.1:9/", "max_pages": 0})], between=between)
        assert tools == TOOLS | CRAWL_TOOLS
        refused, status, sites = answers
        assert refused[0] and "max_pages must be between 1 and 100000" in refused[1]
        assert not status[0], status
        done = json.loads(status[1])
        assert done["state"] == "completed" and done["pages"]["ok"] == 5
        crawl_id = done["crawl_id"]
        assert crawl_id in sites[1]
        meta = json.loads((data_dir / crawl_id / "crawl.json").read_text())
        assert meta["owner"] == "my-session-id" and meta["state"] == "completed"
        assert len(list((data_dir / crawl_id / "pages").rglob("*.md"))) == 5
    finally:
        site.stop()


def test_the_address_policy_holds_over_stdio_too(tmp_path):
    data_dir = tmp_path / "crawls"
    data_dir.mkdir()
    _, answers = stdio_session(["--data-dir", str(data_dir), "--allow-crawls"],
                               [("crawl_site", {"url": "http://127.0.0.1:9/docs/"}),
                                ("crawl_site", {"url": "http://169.254.169.254/latest/"})])
    assert all(failed and "refusing to crawl" in text for failed, text in answers), answers
    assert [p.name for p in data_dir.iterdir() if p.is_dir()] == []
