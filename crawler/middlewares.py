"""Downloader middlewares: conditional requests, so unchanged article pages are not downloaded again."""

from __future__ import annotations

import logging

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.http import Request

from storage.db import http_validators

logger = logging.getLogger(__name__)


class ConditionalRequestMiddleware:
    """Sends ``If-None-Match`` / ``If-Modified-Since`` for article pages fetched before.

    The validators (``ETag``, ``Last-Modified``) are what the store kept from each page's
    last full download; a ``304 Not Modified`` answer reaches the spider, which skips it.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.db_path = crawler.settings.get("INFORMBURO_DB")
        self.validators: dict[str, tuple[str | None, str | None]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalRequestMiddleware:
        mw = cls(crawler)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    def spider_opened(self) -> None:
        self.validators = http_validators(self.db_path)

    def process_request(self, request: Request) -> None:
        if not request.meta.get("archive"):  # article pages only
            return
        etag, last_modified = self.validators.get(request.url, (None, None))
        if etag:
            request.headers.setdefault(b"If-None-Match", etag.encode("latin-1"))
        if last_modified:
            request.headers.setdefault(b"If-Modified-Since", last_modified.encode("latin-1"))
