"""The collection pass: home page (sidebar + rates), the news listing, and new article pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import scrapy
from parsel import Selector
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.fields import KZ_TZ, canonical_url, now_kz, parse_datetime, section_of
from crawler.items import PageError
from crawler.pages import parse_article, parse_listing, parse_most_read, parse_rates
from crawler.pages.base import decode_html
from crawler.pages.feed import parse_feed
from crawler.pages.listing import ListingEntry
from pipelines.store import STAT_START_FAILED
from storage.db import known_article_urls, last_walk_completed, recent_article_urls, unresolved_failures

LISTING_PATH = "/novosti"
FEED_PATH = "/rss/pubsubhubbub-feed.xml"
#: What one pass can collect; ``only=`` picks a subset (the daemon's jobs do). ``recheck``
#: re-fetches stored articles published in the last INFORMBURO_RECHECK_DAYS days (edits, views).
PARTS = ("articles", "most_read", "rates", "recheck")
DEFAULT_PARTS = ("articles", "most_read", "rates")


class InformburoSpider(scrapy.Spider):
    """One collection pass over an Informburo-style site.

    Only article pages on the base URL's host are followed; everything else the
    listing links to (tags, authors, other hosts) is left alone.
    """

    name = "informburo"

    def __init__(
        self, base_url: str | None = None, max_pages: int | str | None = None, only: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._base_url_arg = base_url
        self._max_pages_arg = max_pages
        self.parts = set(DEFAULT_PARTS) if not only else {p.strip() for p in only.split(",") if p.strip()}
        unknown = self.parts - set(PARTS)
        if unknown or not self.parts:
            raise ValueError(f"only= takes a comma-separated subset of {', '.join(PARTS)}, not {only!r}")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> InformburoSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.base_url = (spider._base_url_arg or settings.get("INFORMBURO_BASE_URL")).rstrip("/")
        spider.max_pages = int(spider._max_pages_arg or settings.getint("INFORMBURO_MAX_PAGES"))
        if spider.max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        base = urlsplit(spider.base_url)
        if base.scheme not in ("http", "https") or not base.hostname:
            raise ValueError(f"base URL must be an absolute http(s) URL, not {spider.base_url!r}")
        spider.base_netloc = base.netloc.lower()
        spider.allowed_domains = [base.hostname]
        spider.known_urls = known_article_urls(settings.get("INFORMBURO_DB"))
        # After an interrupted or failed walk, go the whole depth: what it missed may lie past stored pages.
        # A backfill walks its whole depth regardless; --until stops it at older entries instead.
        spider.may_stop_early = last_walk_completed(settings.get("INFORMBURO_DB")) and not settings.getbool(
            "INFORMBURO_BACKFILL"
        )
        until = settings.get("INFORMBURO_BACKFILL_UNTIL")
        spider.until = parse_datetime(until) if until else None
        spider.recheck_days = settings.getfloat("INFORMBURO_RECHECK_DAYS")
        spider.retry_days = settings.getfloat("INFORMBURO_RETRY_FAILED_DAYS")
        spider.requested: set[str] = set()
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if self.parts & {"most_read", "rates"}:
            yield scrapy.Request(
                f"{self.base_url}/", callback=self.parse_home, errback=self.fetch_failed, meta={"start_page": True}
            )
        if "articles" in self.parts:
            # Pages that failed in recent runs and are still not stored: try them again.
            since = (datetime.now(KZ_TZ) - timedelta(days=self.retry_days)).isoformat(timespec="seconds")
            failed = unresolved_failures(self.crawler.settings.get("INFORMBURO_DB"), since)
            for request in self._article_requests([ListingEntry(u) for u in failed if self.is_article_url(u)]):
                yield request
            yield scrapy.Request(
                f"{self.base_url}{FEED_PATH}", callback=self.parse_feed, errback=self.feed_failed, priority=1
            )
            yield self._listing_request(1)
        if "recheck" in self.parts:
            since = (datetime.now(KZ_TZ) - timedelta(days=self.recheck_days)).isoformat(timespec="seconds")
            db = self.crawler.settings.get("INFORMBURO_DB")
            stored = [ListingEntry(url) for url in recent_article_urls(db, since) if self.is_article_url(url)]
            for request in self._article_requests(stored):
                yield request

    def _listing_request(self, page: int) -> scrapy.Request:
        url = f"{self.base_url}{LISTING_PATH}" + (f"?page={page}" if page > 1 else "")
        return scrapy.Request(
            url,
            callback=self.parse_listing,
            errback=self.fetch_failed,
            cb_kwargs={"page": page},
            meta={"start_page": page == 1},
        )

    def parse_home(self, response: Response) -> Iterator[Any]:
        """One snapshot of the sidebar and of the rates widget; a missing widget is recorded."""
        captured_at = now_kz()
        widgets = (("most_read", parse_most_read, "most-read sidebar"), ("rates", parse_rates, "currency rates"))
        for part, parse_widget, name in widgets:
            if part not in self.parts:
                continue
            items = parse_widget(response.selector, response.url, captured_at)
            if not items:
                yield PageError(response.url, "parse", f"no {name} on the home page", response.status, captured_at)
            yield from items

    def parse_listing(self, response: Response, page: int) -> Iterator[Any]:
        listing = parse_listing(response.selector, response.url, datetime.now(KZ_TZ))
        articles = [entry for entry in listing.entries if self.is_article_url(entry.url)]
        if not articles:
            yield PageError(response.url, "parse", "listing page has no article links", response.status, now_kz())
            return
        new = [entry for entry in articles if canonical_url(entry.url) not in self.known_urls]
        if self.until:  # a backfill --until leaves out what is older than asked
            new = [e for e in new if not (e.published_at and e.published_at < self.until)]
        yield from self._article_requests(new)
        if not new and self.may_stop_early:
            self.logger.info("Listing page %s holds only stored articles: stopping here", page)
            return
        if self.until and any(e.published_at and e.published_at < self.until for e in articles):
            self.logger.info("Listing page %s reaches back past %s: stopping here", page, self.until)
            return
        if page < self.max_pages and any(_page_number(u) == page + 1 for u in listing.pages):
            yield self._listing_request(page + 1)

    def _article_requests(self, entries: list[ListingEntry]) -> Iterator[scrapy.Request]:
        """One request per article page, by canonical URL (tracking parameters dropped)."""
        for entry in entries:
            url = canonical_url(entry.url)
            if url in self.requested:
                continue
            self.requested.add(url)
            yield scrapy.Request(
                url,
                callback=self.parse_article,
                errback=self.fetch_failed,
                cb_kwargs={"listing_published": entry.published_at},
                # archive: keep the page, and ask conditionally; a 304 reaches parse_article.
                meta={"archive": True, "handle_httpstatus_list": [304]},
                # we deduplicate by canonical URL ourselves; Scrapy's filter would silently drop a
                # redirect back to the same URL instead of letting a redirect loop fail visibly
                dont_filter=True,
            )

    def parse_feed(self, response: Response) -> Iterator[Any]:
        """The RSS feed: a second way to discover new articles; the listing does the job without it."""
        try:
            entries = parse_feed(response.body)
        except ValueError as exc:
            self.logger.warning("RSS feed %s is unreadable (%s); using the listing alone", response.url, exc)
            return
        new = [e for e in entries if self.is_article_url(e.url) and canonical_url(e.url) not in self.known_urls]
        yield from self._article_requests(new)

    def feed_failed(self, failure: Failure) -> None:
        self.logger.warning("RSS feed unavailable (%s); using the listing alone", failure.getErrorMessage())

    def parse_article(self, response: Response, listing_published: str | None = None) -> Iterator[Any]:
        if response.status == 304:  # unchanged since our last full download
            self.crawler.stats.inc_value("informburo/not_modified")
            return
        captured_at = response.meta.get("captured_at") or now_kz()  # stamped by the archive on arrival
        problem = page_problem(response)
        if problem:
            yield PageError(response.url, "parse", problem, response.status, captured_at)
            return
        item = parse_article(page_selector(response), response.url, captured_at, listing_published)
        item.http = {
            "url": response.url,
            "etag": _header(response, b"ETag"),
            "last_modified": _header(response, b"Last-Modified"),
        }
        yield item

    def is_article_url(self, url: str) -> bool:
        """An article page on our own host: ``/<section>/<slug>`` of a known section."""
        parts = urlsplit(url)
        return (
            parts.scheme in ("http", "https")
            and parts.netloc.lower() == self.base_netloc
            and section_of(url) is not None
        )

    def fetch_failed(self, failure: Failure) -> Iterator[Any]:
        request = failure.request
        status = None
        if failure.check(HttpError):
            status = failure.value.response.status
            reason = f"HTTP {status}"
            location = _header(failure.value.response, b"Location")
            if 300 <= status < 400 and location:
                reason = f"refused redirect to {location} (HTTP {status}): only http(s) on the site is followed"
        elif failure.check(IgnoreRequest) and "robots.txt" in failure.getErrorMessage():
            self.logger.info("Not fetched (%s): %s", failure.getErrorMessage(), request.url)  # policy, not a failure
            return
        elif failure.check(IgnoreRequest):  # refused redirects, size limits, redirect loops
            reason = failure.getErrorMessage() or "refused"
        else:
            detail = failure.getErrorMessage() or (failure.type.__doc__ or "").strip().split("\n")[0]
            reason = f"{failure.type.__name__}: {detail}".rstrip(": ")
        if request.meta.get("start_page"):
            self.crawler.stats.set_value(STAT_START_FAILED, f"{request.url}: {reason}")
        yield PageError(request.url, "fetch", reason, status, now_kz())


def page_problem(response: Response) -> str | None:
    """Why a fetched article page cannot be read at all, before any extraction is tried."""
    content_type = _header(response, b"Content-Type")
    if not isinstance(response, TextResponse) or (content_type and "html" not in content_type.lower()):
        return f"not an HTML page ({content_type or 'no content type'})"
    if not response.body.strip():
        return "empty page"
    if b"</html>" not in response.body[-4096:].lower():
        return "truncated page (no closing </html>)"
    return None


def page_selector(response: TextResponse) -> Selector:
    """A response's selector, decoded by ``decode_html`` when the page declares no charset
    (Scrapy would guess cp1252 for undeclared windows-1251 bytes)."""
    content_type = _header(response, b"Content-Type") or ""
    if "charset=" in content_type.lower() or b"charset" in response.body[:2048].lower():
        return response.selector
    return Selector(text=decode_html(response.body, content_type), type="html")


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _page_number(url: str) -> int | None:
    values = parse_qs(urlsplit(url).query).get("page")
    return int(values[0]) if values and values[0].isdigit() else None
