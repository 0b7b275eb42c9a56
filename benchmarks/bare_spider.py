"""The baseline crawler: bare Scrapy fetching a list of URLs and yielding nothing.

``python -m benchmarks.bare_spider --urls FILE -s NAME=VALUE ...`` runs Scrapy's defaults
plus the given settings (the benchmark passes ours: no delay, no AutoThrottle, the same
concurrency and robots.txt policy), so the only difference from ``informburo crawl`` is
our work: page objects, pipelines, SQLite, the raw-page archive, the listing walk.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response
from scrapy.settings import Settings


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, urls_file: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        with open(urls_file, encoding="utf-8") as fh:
            self.urls = [line.strip() for line in fh if line.strip()]

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.urls:
            yield scrapy.Request(url, callback=self.parse)

    def parse(self, response: Response) -> None:
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", required=True)
    parser.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    settings = Settings()
    settings.setdict(dict(pair.split("=", 1) for pair in args.set), priority="cmdline")
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(BareSpider)
    process.crawl(crawler, urls_file=args.urls)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    print(f"bare: {stats.get('response_received_count', 0)} pages, finish_reason={stats.get('finish_reason')}")


if __name__ == "__main__":
    main()
