"""The `crawler-mcp` command: the crawled sites as an MCP server over stdio, for an editor or a
desktop assistant on the machine that holds the crawls.

    crawler-mcp --data-dir ./crawls                         # read-only tools over every crawl
    crawler-mcp --data-dir ./crawls --allow-crawls          # ... and crawl_site, refresh_site, crawl_status

With `--allow-crawls` this process runs the crawls itself, with the embedded engine, in the data
directory (its own crawl service: the same validation, limits and address policy as the web
server's; `--allow-private-targets` as there). The crawls it starts belong to `--owner` (a
session id from `/api/session`, to see them in that browser's history; default `local`), and the
local user may refresh and follow any crawl of the data directory. When the client hangs up, the
crawls still running stop as `interrupted`, resumable from the dashboard, nothing saved lost.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context

from crawler.engine.cpu import CpuPool
from crawler.outputs.mcp.__main__ import arguments, data_dir_of, serve
from crawler.render import RenderPool
from crawler.service import CrawlService, MemoryCrawlStates
from crawler.service.history import read_history
from crawler.service.local import LocalBackend
from crawler.service.mcp_crawls import ServiceCrawls

DEFAULT_OWNER = "local"


class NoListeners:
    """Nobody watches a stdio server's crawls live: crawl_status reads the store their events fill."""

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        pass


class LocalUserCrawls:
    """The crawl tools' starter over stdio: one local user, the owner of what it starts."""

    def __init__(self, crawls: ServiceCrawls, owner: str) -> None:
        self._crawls = crawls
        self._owner = owner

    def start(self, context: Context | None, settings: dict[str, Any]) -> dict[str, Any]:
        return self._crawls.start(self._owner, settings)

    def refresh(self, context: Context | None, crawl_id: str) -> dict[str, Any]:
        return self._crawls.refresh(self._owner, crawl_id)

    def status(self, context: Context | None, crawl_id: str) -> dict[str, Any]:
        return self._crawls.status(self._owner, crawl_id)


def parse(argv: list[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = arguments()
    parser.add_argument("--allow-crawls", action="store_true",
                        help="also offer crawl_site, refresh_site and crawl_status: this process then runs the "
                             "crawls, in the data directory")
    parser.add_argument("--allow-private-targets", action="store_true",
                        help="with --allow-crawls: allow loopback/private/link-local addresses (as the server's flag)")
    parser.add_argument("--owner", default=DEFAULT_OWNER,
                        help="with --allow-crawls: the session the crawls started here belong to (GET /api/session "
                             f"in the browser whose history should list them; default {DEFAULT_OWNER!r})")
    parser.add_argument("--max-running-crawls", type=int, default=2,
                        help="with --allow-crawls: crawls run at once (default 2); more wait in a queue")
    return parser, parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    parser, args = parse(argv)
    data_dir = data_dir_of(parser, args)
    if not args.allow_crawls:
        return serve(data_dir, args.search_index)
    owner = str(args.owner).strip()
    if not owner or len(owner) > 200:
        parser.error("--owner must be a session id (1 to 200 characters)")
    if args.max_running_crawls < 1:
        parser.error("--max-running-crawls must be at least 1")
    cpu = CpuPool(None, start_method="forkserver")
    render = RenderPool()
    states = MemoryCrawlStates()
    states.add_missing(read_history(Path(data_dir)))
    backend = LocalBackend(data_dir, states, cpu, lambda _owner: NoListeners(),
                           allow_private_targets=args.allow_private_targets, max_running=args.max_running_crawls,
                           max_per_session=args.max_running_crawls, render=render)
    service = CrawlService(data_dir, states, backend, allow_private_targets=args.allow_private_targets)
    try:
        return serve(data_dir, args.search_index, LocalUserCrawls(ServiceCrawls(service, any_owner=True), owner))
    finally:
        service.shutdown()
        cpu.shutdown()
        render.close()


if __name__ == "__main__":
    raise SystemExit(main())
