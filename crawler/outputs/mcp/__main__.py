"""crawler-mcp --data-dir ./crawls: the crawled sites as an MCP server over stdio.

Meant to be started by an MCP client (an editor, a desktop assistant) on the machine that holds
the crawls: it serves every crawl in the data directory. It keeps the search index up to date
itself (`<data-dir>/.search-mcp.sqlite`, its own beside a web server's on the same directory).

This module serves the read-only tools. The `crawler-mcp` command is crawler/mcp_stdio.py, which
adds `--allow-crawls` (the crawl tools, with a crawl service of its own) and otherwise runs this."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from crawler.outputs.mcp.library import CrawlStarter, DocsLibrary, FolderSites, build_server
from crawler.outputs.search import open_search

MCP_INDEX_FILE = ".search-mcp.sqlite"  # kept apart from a web server's .search.sqlite


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crawler-mcp",
                                     description="Serve crawled documentation sites to MCP clients over stdio.")
    parser.add_argument("--data-dir", default=os.environ.get("CRAWLER_DATA_DIR", "./crawls"),
                        help="where the crawls are (default ./crawls, or CRAWLER_DATA_DIR)")
    parser.add_argument("--search-index", default=None,
                        help=f"the search index file (default <data-dir>/{MCP_INDEX_FILE}: its own, so that it "
                             "never writes the file a web server on the same data directory is using)")
    return parser


def data_dir_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Path:
    # stdout carries the protocol: every log line goes to stderr.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data_dir = Path(args.data_dir).resolve()
    if not data_dir.is_dir():
        parser.error(f"no such data directory: {data_dir}")
    return data_dir


def main(argv: list[str] | None = None) -> int:
    parser = arguments()
    args = parser.parse_args(argv)
    return serve(data_dir_of(parser, args), args.search_index)


def serve(data_dir: Path, search_index: str | None, crawls: CrawlStarter | None = None) -> int:
    """Serve over stdio until the client hangs up; with `crawls`, the crawl tools too."""
    index, indexer = open_search(data_dir, Path(search_index) if search_index else data_dir / MCP_INDEX_FILE)
    # Let the first pass finish, so the first answers see every page stored so far; but a large
    # index built from scratch must not make the client's handshake time out: at most 20 s.
    deadline = time.monotonic() + 20
    while indexer.passes == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        build_server(DocsLibrary(data_dir, index, FolderSites(data_dir)), crawls).run("stdio")
    finally:
        indexer.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
