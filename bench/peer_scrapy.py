"""The peer: a Scrapy spider doing the same job as the crawler, as a Scrapy user would write it.

Same start URL and scope (under the start URL's directory), same concurrency, robots.txt obeyed,
non-HTML skipped, and each page turned into Markdown by trafilatura with the same options and
written to disk with the same file layout as the crawler's store.

    python bench/peer_scrapy.py URL --out DIR [--concurrency 16] [--max-pages N]

Prints one JSON line at the end: {"pages": n, "seconds": crawl time from open to close}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import scrapy
import trafilatura
from scrapy.crawler import CrawlerProcess
from scrapy.linkextractors import LinkExtractor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from crawler.engine.extract import page_document
from crawler.engine.urls import scope_prefix
from crawler.folder.writer import relative_page_path


class DocsSpider(scrapy.Spider):
    name = "docs"

    def __init__(self, start_url: str, out: str, **kwargs):
        super().__init__(**kwargs)
        self.start_urls = [start_url]
        self.out = Path(out)
        prefix = scope_prefix(start_url)
        host = start_url.split("/")[2]
        self.links = LinkExtractor(allow=rf"^https?://{host}{prefix}", deny_extensions=[])
        self.pages = 0
        self.opened = 0.0

    def parse(self, response):
        if not isinstance(response, scrapy.http.HtmlResponse):
            return
        markdown = trafilatura.extract(
            response.text, url=response.url, output_format="markdown", include_formatting=True,
            include_links=True, include_tables=True, include_comments=False, favor_recall=True) or ""
        title = response.css("title::text").get()
        target = self.out / relative_page_path(response.url)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page_document(title, response.url, markdown), encoding="utf-8")
        self.pages += 1
        for link in self.links.extract_links(response):
            yield response.follow(link.url, callback=self.parse)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--out", required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-pages", type=int, default=0)
    args = parser.parse_args()
    process = CrawlerProcess(settings={
        "CONCURRENT_REQUESTS": args.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": args.concurrency,
        "ROBOTSTXT_OBEY": True,
        "DOWNLOAD_DELAY": 0,
        "LOG_LEVEL": "WARNING",
        "TELNETCONSOLE_ENABLED": False,
        "CLOSESPIDER_PAGECOUNT": args.max_pages,
        "USER_AGENT": "ScrapyPeer (+benchmark)",
    })
    crawler = process.create_crawler(DocsSpider)
    timing: dict[str, float] = {}
    crawler.signals.connect(lambda **_: timing.__setitem__("opened", time.monotonic()),
                            signal=scrapy.signals.spider_opened, weak=False)
    crawler.signals.connect(lambda **_: timing.__setitem__("closed", time.monotonic()),
                            signal=scrapy.signals.spider_closed, weak=False)
    process.crawl(crawler, start_url=args.url, out=args.out)
    process.start()
    spider = crawler.spider
    print(json.dumps({"pages": spider.pages, "seconds": timing["closed"] - timing["opened"]}), flush=True)


if __name__ == "__main__":
    main()
