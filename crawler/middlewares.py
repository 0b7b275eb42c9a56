"""Downloader middlewares: allowed hosts only, retries with backoff, conditional requests."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.settings import BaseSettings
from scrapy.utils.response import response_status_message

logger = logging.getLogger(__name__)

#: The longest wait before a retry, whatever a site's Retry-After asks.
RETRY_MAX_DELAY = 30.0
#: How a refused request's reason starts (the spider records these, unlike robots.txt refusals).
REFUSED = "refused"


class ConditionalRequestMiddleware:
    """Sends ``If-None-Match`` / ``If-Modified-Since`` for article pages fetched before.

    The validators (``ETag``, ``Last-Modified``) are what the store kept from each page's
    last full download, read into the run's plan; a ``304 Not Modified`` answer reaches the spider, which skips it.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.validators: dict[str, tuple[str | None, str | None]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalRequestMiddleware:
        mw = cls(crawler)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    def spider_opened(self) -> None:
        # From the run's plan (built under the writer lock by the job); a worker of distributed
        # mode has no plan of its own: its seeds carry the validators in request meta.
        plan = getattr(self.crawler.spider, "plan", None)
        self.validators = plan.validators if plan is not None else {}

    def process_request(self, request: Request) -> None:
        if not request.meta.get("archive"):  # article pages only
            return
        etag, last_modified = request.meta.get("validators") or self.validators.get(request.url, (None, None))
        if etag:
            request.headers.setdefault(b"If-None-Match", etag.encode("latin-1"))
        if last_modified:
            request.headers.setdefault(b"If-Modified-Since", last_modified.encode("latin-1"))


class AllowedHostsMiddleware:
    """Only the configured site is ever requested: its scheme (http/https), host and port.

    It sees every request, redirects included (Scrapy schedules a redirect as a new
    request), so a redirect to another host, to ``127.0.0.2`` or to ``file://`` is refused
    here with the reason, before any connection is made. A site configured over https is
    never fetched over http: a redirect down to ``http://`` (a stripped or spoofed TLS hop)
    is refused and recorded the same way; an http site may still be sent up to https.
    """

    def __init__(self, crawler: Crawler) -> None:
        base = urlsplit(crawler.settings.get("INFORMBURO_BASE_URL") or "")
        self.netloc = base.netloc.lower()
        self.scheme = base.scheme.lower()
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AllowedHostsMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        spider = self.crawler.spider
        netloc = getattr(spider, "base_netloc", None) or self.netloc
        base_url = getattr(spider, "base_url", None)
        scheme = urlsplit(base_url).scheme.lower() if base_url else self.scheme
        parts = urlsplit(request.url)
        via = request.meta.get("redirect_urls")
        origin = f" (redirected from {via[0]})" if via else ""
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != netloc:
            raise IgnoreRequest(f"{REFUSED} {request.url}: only {netloc} over http(s) is allowed{origin}")
        if scheme == "https" and parts.scheme != "https":
            raise IgnoreRequest(f"{REFUSED} {request.url}: {netloc} is collected over https, never over http{origin}")


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, with a wait before each: ``Retry-After`` when the site sends one
    (429, 503), else exponential backoff; never longer than ``RETRY_MAX_DELAY`` seconds.
    """

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.backoff = settings.getfloat("INFORMBURO_RETRY_BACKOFF")
        self.max_delay = RETRY_MAX_DELAY

    async def process_response(self, request: Request, response: Response) -> Request | Response:  # type: ignore[override]
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        await self._wait(request, response)
        return retry

    async def process_exception(self, request: Request, exception: Exception) -> Request | None:  # type: ignore[override]
        if request.meta.get("dont_retry") or not isinstance(exception, self.exceptions_to_retry):
            return None
        retry = self._retry(request, exception)
        if retry is not None:
            await self._wait(request, None)
        return retry

    def delay(self, request: Request, response: Response | None) -> float:
        """Seconds before the next attempt."""
        attempt = request.meta.get("retry_times", 0)
        wait = self.backoff * 2**attempt
        header = response.headers.get(b"Retry-After") if response is not None else None
        if header:
            text = header.decode("latin-1").strip()
            if text.isdigit():
                wait = float(text)
            else:
                try:
                    wait = (parsedate_to_datetime(text) - datetime.now(UTC)).total_seconds()
                except (TypeError, ValueError):
                    pass
        return max(0.0, min(wait, self.max_delay))

    async def _wait(self, request: Request, response: Response | None) -> None:
        seconds = self.delay(request, response)
        self.crawler.stats.inc_value("informburo/retry_wait_seconds", seconds)
        await asyncio.sleep(seconds)
