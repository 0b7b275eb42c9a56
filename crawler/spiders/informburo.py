"""The collection pass: home page (sidebar + rates), the news listing and the feeds, and new article
pages; a backfill walks the listing or the sitemaps."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import scrapy
from parsel import Selector
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Headers, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from core.clock import KZ_TZ, now_kz
from core.names import STAT_START_FAILED, parse_parts
from core.plan import RunPlan, Walk
from crawler.distributed import relayed
from crawler.fields import canonical_url, section_of
from crawler.items import Article, PageError, Unchanged
from crawler.pages import parse_article, parse_listing, parse_most_read, parse_rates
from crawler.pages.article import BODY, TAGS, TITLE, VIEWS
from crawler.pages.base import css, followed, html_selector, read_html, redecoded
from crawler.pages.feed import feed_links, parse_feed
from crawler.pages.listing import ListingEntry, home_cards
from crawler.pages.sidebar import SHAPE
from crawler.pages.sitemap import INDEX, SitemapEntry, older_than, parse_sitemap, sitemaps_in_robots
from crawler.pages.widget import WidgetRequest, read_widget, widget_views
from crawler.workers import ExtractionPool, ExtractionWorkersError, WorkerDiedError, default_crawl_workers

LISTING_PATH = "/novosti"
#: Where the site's RSS feed has lived, newest first: tried in turn when the home page names no feed.
FEED_PATHS = ("/xml/rss.xml", "/rss/pubsubhubbub-feed.xml")
ROBOTS_PATH = "/robots.txt"
#: The sitemap index, where robots.txt names no sitemap.
SITEMAP_PATH = "/sitemap.xml"
#: A sitemap waits behind the article pages already queued: one sitemap's pages are fetched before
#: the next sitemap is read, so the walk goes newest first and its queue stays one sitemap long.
SITEMAP_PRIORITY = -1
#: The views widget's loader on the live site (Laravel's arrilot/laravel-widgets), named in problems.
WIDGET_PATH = "/arrilot/load-widget"
#: The layer a count loaded by its widget's request is recorded under (``Article.sources``).
WIDGET = "widget"
#: A widget's follow-up goes before new pages (the article waits for it in memory) ...
WIDGET_PRIORITY = 2
#: ... and gives up sooner than a page does: a slow widget costs the count, never the article.
WIDGET_TIMEOUT = 10
#: Stats behind a sitemap backfill's progress bar (jobs/backfill.py).
STAT_SITEMAPS = "informburo/sitemaps"
STAT_SITEMAP_ARTICLES = "informburo/sitemap_articles"
#: Extraction worker processes (crawler/workers.py): unset, a worker per core but one; 0, none.
WORKERS_SETTING = "INFORMBURO_EXTRACTION_WORKERS"
#: Article pages read by an extraction worker (the rest were read in the crawling process).
STAT_WORKER_PAGES = "informburo/pages_read_by_workers"
#: Why the extraction workers were given up on (set once: the run is closed then).
STAT_EXTRACTION_FAILED = "informburo/extraction_failed"

logger = logging.getLogger(__name__)


class InformburoSpider(scrapy.Spider):
    """One collection pass over an Informburo-style site.

    Only article pages on the base URL's host are followed; everything else the
    listing links to (tags, authors, other hosts) is left alone. What the pass knows of
    the database comes in its ``plan`` (core/plan.py), built by the job that runs it
    (jobs/crawl.py) under the writer lock: the spider itself never opens the database.
    A bare ``scrapy crawl informburo`` has no plan and walks as a first run would.
    """

    name = "informburo"

    def __init__(
        self,
        base_url: str | None = None,
        max_pages: int | str | None = None,
        only: str | None = None,
        plan: RunPlan | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._base_url_arg = plan.base_url if plan is not None else base_url
        self._max_pages_arg = max_pages
        self.parts = set(plan.parts) if plan is not None else parse_parts(only)
        self.plan = plan
        self.frontier: Any = None  # distributed mode: the shared Redis frontier (crawler/distributed.py)
        self.extractors: ExtractionPool | None = None  # article pages read in worker processes

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> InformburoSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.base_url = (spider._base_url_arg or settings.get("INFORMBURO_BASE_URL")).rstrip("/")
        base = urlsplit(spider.base_url)
        if base.scheme not in ("http", "https") or not base.hostname:
            raise ValueError(f"base URL must be an absolute http(s) URL, not {spider.base_url!r}")
        # One spelling of the site, as canonical links are spelled (no default port, lower-case host).
        spider.base_url = (canonical_url(spider.base_url) or spider.base_url).rstrip("/")
        base = urlsplit(spider.base_url)
        spider.base_netloc = base.netloc.lower()
        spider.allowed_domains = [base.hostname]
        if settings.getbool("INFORMBURO_WORKER"):  # distributed mode: no database here, Redis instead
            from crawler.distributed import Frontier, connect, keys_of

            spider.frontier = Frontier(crawler, connect(settings.get("INFORMBURO_REDIS_URL")), keys_of(settings))
            spider.known_urls = spider.frontier.known
        else:
            if spider.plan is None:  # `scrapy crawl informburo`: nothing known of the database
                max_pages = int(spider._max_pages_arg or 0) or settings.getint("INFORMBURO_MAX_PAGES")
                walk = Walk(max_pages=max_pages, may_stop_early=False)
                spider.plan = RunPlan(parts=sorted(spider.parts), base_url=spider.base_url, walk=walk)
            if settings.getbool("INFORMBURO_SITEMAPS") and not spider.plan.walk.sitemaps:
                # `backfill --sitemaps`: the job says so in a setting, as it names its JOBDIR.
                spider.plan.walk = replace(spider.plan.walk, sitemaps=True)
            spider.known_urls = spider.plan.known_urls
        spider.requested: set[str] = set()
        workers = extraction_workers(settings.get(WORKERS_SETTING))
        if workers and spider.frontier is None:  # a distributed worker is one process among many already
            spider.extractors = ExtractionPool(workers, preload=[__name__])
            if spider.parts & {"articles", "recheck"}:  # started while the first pages download
                crawler.signals.connect(spider.extractors.warm_up, signal=signals.spider_opened)
            crawler.signals.connect(spider.extractors.close, signal=signals.spider_closed)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if self.frontier is not None:
            return  # a worker's requests come from the seeds on the shared queue
        for request in self.seed_requests(self.plan.seed()):
            yield request

    def seed_requests(self, seed: dict[str, Any]) -> Iterator[scrapy.Request]:
        """The first requests of a pass, from its seed (``RunPlan.seed``).

        The home page carries the widgets and names the feeds; a walk of the sitemaps (a backfill)
        reads no feed and no listing.
        """
        parts = set(seed["parts"])
        validators = seed.get("validators") or {}
        walk = seed["walk"]
        widgets = bool(parts & {"most_read", "rates"})
        feeds = "articles" in parts and not walk.get("sitemaps")
        if widgets or feeds:
            meta = {"start_page": widgets, "parts": sorted(parts), "feeds": feeds}
            yield scrapy.Request(f"{self.base_url}/", callback=self.parse_home, errback=self.home_failed, meta=meta)
        if "articles" in parts:
            retry = [ListingEntry(u) for u in seed["retry"] if self.is_article_url(u)]
            yield from self._article_requests(retry, validators)
            if walk.get("sitemaps"):
                yield self._robots_request(walk)
            else:
                yield self._listing_request(1, walk)
        if "recheck" in parts:
            stored = [ListingEntry(url) for url in seed["recheck"] if self.is_article_url(url)]
            yield from self._article_requests(stored, validators)

    def _listing_request(self, page: int, walk: dict[str, Any], url: str | None = None) -> scrapy.Request:
        """Listing page ``page``: at the URL the page before named for it, else ``/novosti?page=N``."""
        url = url or f"{self.base_url}{LISTING_PATH}" + (f"?page={page}" if page > 1 else "")
        return scrapy.Request(
            url,
            callback=self.parse_listing,
            errback=self.fetch_failed,
            cb_kwargs={"page": page},
            meta={"start_page": page == 1, "walk": walk},
        )

    @relayed
    def parse_home(self, response: Response) -> Iterator[Any]:
        """One snapshot of the sidebar and of the rates widget (a missing widget is recorded), and the
        feeds the page names."""
        captured_at = now_kz()
        parts = set(response.meta.get("parts") or self.parts)
        widgets = (("most_read", parse_most_read, "most-read sidebar"), ("rates", parse_rates, "currency rates"))
        for part, parse_widget, name in widgets:
            if part not in parts:
                continue
            items = parse_widget(response.selector, response.url, captured_at)
            status = response.status
            if not items:  # a missing widget is layout drift as much as a failure
                yield PageError(response.url, "parse", f"no {name} on the home page", status, captured_at, part)
            for problem in getattr(items, "problems", ()):  # a widget twice, a rank or currency twice
                yield PageError(response.url, "parse", problem, status, captured_at)
            drifted = part if getattr(items, "layer", None) == SHAPE else None  # read by its shape, not its markup
            for note in getattr(items, "notes", ()):
                yield PageError(response.url, "layers", note, status, captured_at, drifted)
            for moved in getattr(items, "drift", ()):  # found, but part of it moved: no error, a drift
                yield PageError(response.url, "drift", moved, status, captured_at, part)
            yield from items
        if response.meta.get("feeds") and isinstance(response, TextResponse):  # an articles run: its cards too
            cards = self.site_entries(home_cards(response.selector, response.url))
            yield from self._article_requests([e for e in cards if e.url not in self.known_urls])
        if response.meta.get("feeds"):
            named = feed_links(response.selector, response.url) if isinstance(response, TextResponse) else []
            yield from self._feed_requests([url for url in map(self.site_url, named) if url and self.on_base(url)])

    @relayed
    def home_failed(self, failure: Failure) -> Iterator[Any]:
        """The home page failed: recorded when the widgets needed it; the feeds are then looked for
        at their known paths."""
        request = failure.request
        if request.meta.get("start_page"):
            yield from self._fetch_failure(failure)
        else:
            reason = failure.getErrorMessage()
            self.logger.info("Home page unavailable (%s): reading the feed at its known paths", reason)
        if request.meta.get("feeds"):
            yield from self._feed_requests([])

    def _feed_requests(self, named: list[str]) -> Iterator[scrapy.Request]:
        """The feeds the home page names (``<link rel="alternate">``), or, when it names none, the
        first of the known paths, the others to try in turn if it is missing or unreadable (as after
        the first named one)."""
        known = [f"{self.base_url}{path}" for path in FEED_PATHS]
        if named:  # each is read; when the first fails, the known paths it did not name are tried
            for n, url in enumerate(named):
                yield self._feed_request(url, [] if n else [k for k in known if k not in named])
            return
        self.logger.info("The home page names no feed: trying %s", ", ".join(FEED_PATHS))
        yield self._feed_request(known[0], known[1:])

    def _feed_request(self, url: str, fallbacks: list[str]) -> scrapy.Request:
        meta = {"feed_fallbacks": fallbacks}
        return scrapy.Request(url, callback=self.parse_feed, errback=self.feed_failed, priority=1, meta=meta)

    def _next_feed(self, meta: dict[str, Any]) -> scrapy.Request | None:
        fallbacks = meta.get("feed_fallbacks") or []
        return self._feed_request(fallbacks[0], fallbacks[1:]) if fallbacks else None

    @relayed
    def parse_listing(self, response: Response, page: int) -> Iterator[Any]:
        walk = Walk(**response.meta["walk"])
        until = walk.until
        listing = parse_listing(response.selector, response.url, datetime.now(KZ_TZ))
        articles = self.site_entries(listing.entries)
        if not articles:
            reason = "listing page has no article links"
            yield PageError(response.url, "parse", reason, response.status, now_kz(), "listing")
            return
        new = [entry for entry in articles if entry.url not in self.known_urls]
        if until:  # a backfill --until leaves out what is older than asked
            new = [e for e in new if not (e.published_at and e.published_at < until)]
        yield from self._article_requests(new)
        if not new and walk.may_stop_early:
            self.logger.info("Listing page %s holds only stored articles: stopping here", page)
            return
        if until and any(e.published_at and e.published_at < until for e in articles):
            self.logger.info("Listing page %s reaches back past %s: stopping here", page, until)
            return
        following = listing.next_page  # rel=next as the site states it, else its ?page=N+1 link
        if page < walk.max_pages and following and self.on_base(following):
            yield self._listing_request(page + 1, response.meta["walk"], following)
        elif page < walk.max_pages and not listing.pages:  # the last page still links the ones before it
            reason = f"no link to listing page {page + 1} (rel=next or ?page={page + 1}): the walk stops at page {page}"
            yield PageError(response.url, "parse", reason, response.status, now_kz(), "listing")

    def _article_requests(
        self, entries: list[ListingEntry], validators: dict[str, list[str | None]] | None = None
    ) -> Iterator[scrapy.Request]:
        """One request per article page, by canonical URL (tracking parameters dropped).

        One process deduplicates them itself: Scrapy's filter would silently drop a redirect
        back to the same URL instead of letting a redirect loop fail visibly. Workers share
        scrapy-redis' filter instead (``RunDupeFilter``, which lets redirects through).
        """
        for entry in entries:
            url = self.site_url(entry.url) or entry.url
            if self.frontier is None:
                if url in self.requested:
                    continue
                self.requested.add(url)
            # archive: keep the page, and ask conditionally; a 304 reaches parse_article.
            meta: dict[str, Any] = {"archive": True, "handle_httpstatus_list": [304]}
            if validators and url in validators:
                meta["validators"] = validators[url]  # ETag, Last-Modified, for a worker without the database
            yield scrapy.Request(
                url,
                callback=self.parse_article,
                errback=self.fetch_failed,
                cb_kwargs={"listing_published": entry.published_at},
                meta=meta,
                dont_filter=self.frontier is None,
            )

    @relayed
    def parse_feed(self, response: Response) -> Iterator[Any]:
        """A feed (RSS or Atom): a second way to discover new articles; the listing does the job without it."""
        try:
            entries = parse_feed(response.body)
        except ValueError as exc:
            following = self._next_feed(response.meta)
            if following is not None:
                self.logger.info("No feed at %s (%s): trying %s", response.url, exc, following.url)
                yield following
                return
            self.logger.warning("RSS feed %s is unreadable (%s); using the listing alone", response.url, exc)
            reason = f"RSS feed unreadable ({exc}); using the listing alone"
            yield PageError(response.url, "drift", reason, response.status, now_kz(), "feed")
            return
        new = [e for e in self.site_entries(entries) if e.url not in self.known_urls]
        yield from self._article_requests(new)

    @relayed
    def feed_failed(self, failure: Failure) -> Iterator[Any]:
        following = self._next_feed(failure.request.meta)
        if following is not None:
            reason = failure.getErrorMessage()
            self.logger.info("No feed at %s (%s): trying %s", failure.request.url, reason, following.url)
            yield following
            return
        reason = failure.getErrorMessage()
        self.logger.warning("RSS feed %s unavailable (%s); using the listing alone", failure.request.url, reason)
        status = getattr(getattr(failure.value, "response", None), "status", None)
        note = f"RSS feed unavailable ({reason}); using the listing alone"
        yield PageError(failure.request.url, "drift", note, status, now_kz(), "feed")

    # --- the sitemap walk (a backfill --sitemaps) ---

    def _robots_request(self, walk: dict[str, Any]) -> scrapy.Request:
        """robots.txt, for its ``Sitemap:`` lines. Filtered as any request, so a backfill resumed from
        its job directory does not start the walk a second time."""
        meta = {"walk": walk}
        url = f"{self.base_url}{ROBOTS_PATH}"
        return scrapy.Request(url, callback=self.parse_robots, errback=self.robots_failed, meta=meta)

    @relayed
    def parse_robots(self, response: Response) -> Iterator[Any]:
        """The sitemaps robots.txt names start the walk; ``/sitemap.xml`` when it names none."""
        named = [url for url in sitemaps_in_robots(response.body, response.url) if self.on_base(url)]
        if not named:
            self.logger.info("robots.txt names no sitemap: walking %s", SITEMAP_PATH)
            named = [f"{self.base_url}{SITEMAP_PATH}"]
        yield from self._next_sitemap([[url, None] for url in named], response.meta["walk"], start=True)

    @relayed
    def robots_failed(self, failure: Failure) -> Iterator[Any]:
        self.logger.info("robots.txt unavailable (%s): walking %s", failure.getErrorMessage(), SITEMAP_PATH)
        walk = failure.request.meta["walk"]
        yield from self._next_sitemap([[f"{self.base_url}{SITEMAP_PATH}", None]], walk, start=True)

    def _next_sitemap(
        self, chain: list[list[str | None]], walk: dict[str, Any], visited: Sequence[str] = (), start: bool = False
    ) -> Iterator[scrapy.Request]:
        """The walk's next sitemap, one at a time, newest first: its request carries the rest of the
        walk (``[url, lastmod]`` pairs), so a backfill resumes it from its job directory and a worker
        from Redis. A sitemap last modified before ``--until`` holds nothing newer: passed over.
        ``start``: the first sitemap, whose failure fails the run as a first listing page's does."""
        until = walk.get("until")
        rest = [list(pair) for pair in chain]
        passed = 0
        while rest:
            url, lastmod = rest.pop(0)
            if not url or url in visited or not self.on_base(url):
                continue
            if older_than(SitemapEntry(url, lastmod), until):
                passed += 1
                continue
            if passed:
                self.logger.info("Passed over %s sitemap(s) last modified before %s", passed, until)
            meta = {"walk": walk, "sitemaps": rest, "visited": [*visited, url], "start_page": start}
            yield scrapy.Request(
                url,
                callback=self.parse_sitemap,
                errback=self.sitemap_failed,
                priority=SITEMAP_PRIORITY,
                meta=meta,
                dont_filter=True,  # the walk's own `visited` keeps each sitemap once; the filter would end the walk
            )
            return
        if passed:
            self.logger.info("Passed over %s sitemap(s) last modified before %s", passed, until)
        self.logger.info("Sitemap walk complete: %s sitemap(s) read", len(visited))

    @relayed
    def parse_sitemap(self, response: Response) -> Iterator[Any]:
        """One sitemap of the walk: an index puts its sitemaps first in the walk, newest first; a list
        of pages queues the articles not stored yet (and not older than ``--until``). Then the next."""
        meta = response.meta
        walk, rest, visited = meta["walk"], meta.get("sitemaps") or [], meta.get("visited") or [response.url]
        try:
            page = parse_sitemap(response.body, response.url)
        except ValueError as exc:
            reason = f"unreadable sitemap: {exc}"
            if meta.get("start_page"):
                self.crawler.stats.set_value(STAT_START_FAILED, f"{response.url}: {reason}")
            yield PageError(response.url, "parse", reason, response.status, now_kz())
        else:
            self.crawler.stats.inc_value(STAT_SITEMAPS)
            if page.kind == INDEX:
                rest = [[entry.url, entry.lastmod] for entry in page.sitemaps] + rest
            else:
                until = walk.get("until")
                listed = [ListingEntry(e.url, e.published_at) for e in page.articles if not older_than(e, until)]
                new = [entry for entry in self.site_entries(listed) if entry.url not in self.known_urls]
                requests = list(self._article_requests(new))
                self.crawler.stats.inc_value(STAT_SITEMAP_ARTICLES, len(requests))
                yield from reversed(requests)  # Scrapy's queues are last in, first out: the newest goes first
        yield from self._next_sitemap(rest, walk, visited)

    @relayed
    def sitemap_failed(self, failure: Failure) -> Iterator[Any]:
        """A sitemap that could not be fetched is recorded (the first one fails the run); the walk goes on."""
        yield from self._fetch_failure(failure)
        meta = failure.request.meta
        yield from self._next_sitemap(meta.get("sitemaps") or [], meta["walk"], meta.get("visited") or ())

    @relayed
    def parse_article(self, response: Response, listing_published: str | None = None) -> Iterable[Any]:
        """An article page's item (or why it cannot be read), and its views widget's follow-up.

        Read in an extraction worker when the run has them (``extractors``): the callback awaits
        its page while the reactor goes on with the others, and yields the item itself, so it
        reaches the database inside the run as it does when read here."""
        if response.status == 304:  # unchanged since our last full download: as stored, so not failing now
            self.crawler.stats.inc_value("informburo/not_modified")
            return [Unchanged(response.url, response.meta.get("captured_at") or now_kz())]
        captured_at = response.meta.get("captured_at") or now_kz()  # stamped by the archive on arrival
        if self.extractors is not None and isinstance(response, TextResponse):
            return self._pooled_article(response, captured_at, listing_published)
        return self._article_output(response, captured_at, *read_article_page(response, captured_at, listing_published))

    async def _pooled_article(
        self, response: TextResponse, captured_at: str, listing_published: str | None
    ) -> AsyncIterator[Any]:
        """``parse_article``'s reading done by a worker process, awaited; a worker that died on the
        page is the page's recorded error, a pool that keeps dying ends the run."""
        assert self.extractors is not None
        try:
            read = await self.extractors.run(extract_article, article_task(response, captured_at, listing_published))
        except WorkerDiedError as exc:
            self.crawler.stats.inc_value("informburo/extraction_worker_deaths")
            yield PageError(response.url, "parse", str(exc), response.status, captured_at)
            return
        except ExtractionWorkersError as exc:
            yield PageError(response.url, "parse", f"not read: {exc}", response.status, captured_at)
            if not self.crawler.stats.get_value(STAT_EXTRACTION_FAILED):
                self.crawler.stats.set_value(STAT_EXTRACTION_FAILED, str(exc))
                logger.error("%s: stopping the run", exc)
                self.crawler.engine.close_spider(self, "extraction_workers_failed")
            return
        self.crawler.stats.inc_value(STAT_WORKER_PAGES)
        for output in self._article_output(response, captured_at, *read):
            yield output

    def _article_output(
        self, response: Response, captured_at: str, item: Article | str, widget: WidgetRequest | str | None
    ) -> Iterator[Any]:
        """The item of a page as ``read_article_page`` read it, or its error; a widget to load first."""
        if isinstance(item, str):
            yield PageError(response.url, "parse", item, response.status, captured_at)
            return
        widget = widget_on_site(widget, self.on_base)
        if widget is not None:  # a 304 carries no page to load the widget from: its views would go stale
            item.http = {"url": item.http.get("url")}
        if isinstance(widget, WidgetRequest):
            yield widget_follow_up(widget, response, self.parse_widget, self.widget_failed, {"item": item})
            return
        if widget is not None:  # a loader script we cannot follow: the empty counter has its reason
            item.problems["views"] = f"widget {WIDGET_PATH} failed: {widget}"
        yield item

    @relayed
    def parse_widget(self, response: Response, item: Article) -> Iterator[Any]:
        """The widget's answer: its number is the article's views; no number, and the field is
        NULL with the reason. The article is yielded either way."""
        took_answer(item, response)
        yield item

    @relayed
    def widget_failed(self, failure: Failure) -> Iterator[Any]:
        """A widget that could not be loaded (an HTTP error, a timeout, a refused request): the
        article is stored all the same, its views NULL with the reason."""
        item: Article = failure.request.cb_kwargs["item"]
        item.problems["views"] = f"widget {WIDGET_PATH} failed: {widget_failure(failure)}"
        yield item

    def site_url(self, url: str) -> str | None:
        """A link as the key its page is stored under: ``canonical_url`` on the base URL's site, the
        rule the article page object applies to its canonical link, so a listed page is known as
        stored and stop-early works; ``None`` for a link that is not an http(s) URL."""
        try:
            return canonical_url(url, self.base_url)
        except ValueError:
            return None

    def site_entries(self, entries: list[ListingEntry]) -> list[ListingEntry]:
        """The entries that are article pages of our site, each by its stored key and once (a pinned
        copy with tracking parameters is the same page), in page order."""
        found: dict[str, ListingEntry] = {}
        for entry in entries:
            url = self.site_url(entry.url)
            if url is None or not self.is_article_url(url):
                continue
            seen = found.setdefault(url, ListingEntry(url, entry.published_at))
            seen.published_at = seen.published_at or entry.published_at
        return list(found.values())

    def is_article_url(self, url: str) -> bool:
        """An article page on our own host: ``/<section>/<slug>`` of a known section."""
        return self.on_base(url) and section_of(url) is not None

    def on_base(self, url: str) -> bool:
        """Is ``url`` an http(s) URL on the base URL's host and port (the only one ever requested)?"""
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and parts.netloc.lower() == self.base_netloc

    @relayed
    def fetch_failed(self, failure: Failure) -> Iterator[Any]:
        """A page that could not be fetched: recorded with its reason; a start page's fails the run."""
        return self._fetch_failure(failure)

    def _fetch_failure(self, failure: Failure) -> Iterator[Any]:
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


#: The article's own parts (the page object's selectors, the tag links' list too): a page that
#: stops inside one is cut off.
ARTICLE_PARTS = (TITLE, BODY, TAGS.rsplit(" ", 1)[0], TAGS)
#: lxml (libxml2) stops reading a page nested deeper than 2,048 elements and drops the rest of it.
PARSER_DEPTH = 2000


def extraction_workers(value: Any) -> int:
    """The ``INFORMBURO_EXTRACTION_WORKERS`` setting as a number of workers (unset: the default)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default_crawl_workers()
    try:
        workers = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{WORKERS_SETTING} must be a whole number, not {value!r}") from None
    if workers < 0:
        raise ValueError(f"{WORKERS_SETTING} must be 0 (read in the crawling process) or more, not {workers}")
    return workers


def read_article(
    response: Response,
    captured_at: str,
    listing_published: str | None = None,
    parse: Callable[..., Article] = parse_article,
    page: tuple[Selector, str | None] | None = None,
) -> Article | str:
    """An article page as its raw item, or the reason it cannot be read (``page_problem``).

    The page is parsed once (``page``: already read by ``read_page``, for a caller that reads it
    again, as the crawl does for its views widget). The crawl reads with the current page version;
    reparse passes the version of the archived page's fetch date as ``parse`` and reads the page
    the same way.
    """
    if page is None and isinstance(response, TextResponse):
        page = read_page(response)
    selector, charset = page or (None, None)
    problem = page_problem(response, selector)
    if problem:
        return problem
    # ``is None``, never ``or``: a parsel Selector's truth is its whole page serialised again
    item = parse(
        selector if selector is not None else page_selector(response), response.url, captured_at, listing_published
    )
    if charset:
        item.notes["encoding"] = charset
    item.http = {
        "url": response.url,
        "etag": _header(response, b"ETag"),
        "last_modified": _header(response, b"Last-Modified"),
    }
    return item


def read_article_page(
    response: Response, captured_at: str, listing_published: str | None = None
) -> tuple[Article | str, WidgetRequest | str | None]:
    """(the page's raw item or why it cannot be read, its views widget: the request that loads it,
    why it cannot be followed, or ``None``). The whole of a crawl's reading of an article page, in
    the crawling process or a worker; the widget is not yet checked against the site's host."""
    page = read_page(response) if isinstance(response, TextResponse) else None
    item = read_article(response, captured_at, listing_published, page=page)
    if isinstance(item, str) or item.views is not None or page is None:
        return item, None
    return item, page_widget(page[0], response.url, lambda _: True)


#: What a worker needs of a response: its class, URL, status, headers, body and flags (plain values).
ArticleTask = tuple[type, str, int, list[tuple[bytes, list[bytes]]], bytes, list[str], str, str | None]


def article_task(response: TextResponse, captured_at: str, listing_published: str | None) -> ArticleTask:
    """A response as plain values for a worker process (``extract_article``)."""
    headers = [(bytes(name), list(values)) for name, values in response.headers.items()]
    return (type(response), response.url, response.status, headers, response.body, list(response.flags),
            captured_at, listing_published)  # fmt: skip


def extract_article(task: ArticleTask) -> tuple[Article | str, WidgetRequest | str | None]:
    """A worker's reading of one article page: the response rebuilt as the crawl had it, then
    ``read_article_page``. The encoding is decided again from the same headers and bytes."""
    cls, url, status, headers, body, flags, captured_at, listing_published = task
    response = cls(url=url, status=status, headers=Headers(headers), body=body, flags=flags)
    return read_article_page(response, captured_at, listing_published)


def page_problem(response: Response, selector: Selector | None = None) -> str | None:
    """Why a fetched article page cannot be read at all, before any extraction is tried.

    A cut-off page could pass for a short article, so it is refused; but a closing ``</html>``
    is optional (a minifier drops it), so its absence alone cuts nothing: what counts is a body
    shorter than its declared ``Content-Length``, or the article's own markup left unfinished,
    by the end of the page or by the parser giving up on its depth. ``selector`` is the page
    already parsed (``page_selector``), to parse it once.
    """
    content_type = _header(response, b"Content-Type")
    if not isinstance(response, TextResponse) or (content_type and "html" not in content_type.lower()):
        return f"not an HTML page ({content_type or 'no content type'})"
    if not response.body.strip():
        return "empty page"
    short = short_of_declared(response)
    if short:
        return short
    try:
        root = (selector if selector is not None else page_selector(response)).root
        if depth_of_last(root) >= PARSER_DEPTH:  # the parser stopped there: whatever followed is lost
            return cut_off(root, f"page nested deeper than the parser reads ({PARSER_DEPTH}+ levels)", strict=True)
        if b"</html>" in response.body[-4096:].lower():
            return None  # the page ran to its end
        return cut_off(root, "truncated page")
    except Exception as exc:  # an unparseable page is a recorded reason, not a traceback
        return f"unreadable page ({type(exc).__name__}: {exc})"


def short_of_declared(response: Response) -> str | None:
    """A body shorter than its ``Content-Length`` (Scrapy flags ``dataloss`` when it lets one through)."""
    declared = _header(response, b"Content-Length")
    length = int(declared) if declared and declared.strip().isdigit() else None
    if length is not None and len(response.body) < length:
        return f"truncated page ({len(response.body)} of the {length} bytes its Content-Length declares)"
    if "dataloss" in response.flags:
        return f"truncated page ({len(response.body)} bytes: the connection closed before the declared length)"
    return None


def cut_off(root: Any, what: str, strict: bool = False) -> str | None:
    """``what`` with where, when a page that stopped early stopped inside (or before) its article.

    Every part of the article the page object reads (title, body container, tag links) must have
    more of the page after it: a page that stops inside one is cut off, one that goes on to its
    sidebar or footer is complete. A page with none of them (another layout) is judged by its
    ``Content-Length`` alone, unless it stops before its ``<body>`` holds anything, or ``strict``
    (the parser gave up early, so the article's markup may be what it never reached).
    """
    parts = [el for query in ARTICLE_PARTS for el in css(query)(root)]
    if parts:
        return None if all(followed(el) for el in parts) else f"{what}: it stops inside the article"
    body = root.find("body")
    if strict or body is None or not (len(body) or (body.text or "").strip()):
        return f"{what}: it stops before the article"
    return None


def depth_of_last(root: Any) -> int:
    """How deep the page's last element lies (a parser that gave up on depth stops at its deepest)."""
    depth, node = 0, root
    while len(node):
        node, depth = node[-1], depth + 1
    return depth


def page_selector(response: TextResponse) -> Selector:
    """A response's selector (see ``read_page``)."""
    return read_page(response)[0]


def read_page(response: TextResponse) -> tuple[Selector, str | None]:
    """(a response's selector, why its declared charset was set aside or ``None``).

    Decoded by ``read_html`` when the page declares no charset (Scrapy would guess cp1252 for
    undeclared windows-1251 bytes), and when bytes declared UTF-8 are plainly another charset.
    """
    content_type = _header(response, b"Content-Type") or ""
    if "charset=" in content_type.lower() or b"charset" in response.body[:2048].lower():
        fixed = redecoded(response.body, response.encoding, response.text)
        if fixed is None:
            return html_selector(response.text), None
        return html_selector(fixed[0]), fixed[1]
    text, why = read_html(response.body, content_type)
    return html_selector(text), why


def page_widget(page: Selector, url: str, on_base: Callable[[str], bool]) -> WidgetRequest | str | None:
    """The request that loads a page's views widget, as its script would; the reason it cannot be
    followed (an unreadable script, a loader off the site); ``None`` when the page has no widget."""
    try:
        widget = read_widget(page, url, VIEWS)
    except Exception as exc:  # a script no rule foresaw costs the count, never the article
        return f"its script is unreadable ({type(exc).__name__}: {exc})"
    return widget_on_site(widget, on_base)


def widget_on_site(widget: WidgetRequest | str | None, on_base: Callable[[str], bool]) -> WidgetRequest | str | None:
    """A widget's request, or why it is not followed when it leaves the site."""
    if isinstance(widget, WidgetRequest) and not on_base(widget.url):
        return f"its request {widget.url} is not on the site"
    return widget


def page_has_widget(page: Selector, url: str) -> bool:
    """Does this page (as ``read_page`` read it) load its views counter by script (a widget
    placeholder, followable or not)?"""
    return page_widget(page, url, lambda _: True) is not None


def widget_follow_up(
    widget: WidgetRequest, page: Response, callback: Callable[..., Any], errback: Callable[..., Any], kwargs: dict
) -> scrapy.Request:
    """The follow-up that loads the page's views widget, as the page's script would (its method,
    form, token and the page's cookies). Not archived, not conditional; ahead of new pages so an
    article is never held for long, and with a short timeout and one retry, so a slow widget costs
    the count, never the article."""
    headers = {**widget.headers, "Referer": page.url}
    cookies = _page_cookies(page)  # a session cookie the token belongs to (Scrapy's own jar is off)
    if cookies:
        headers["Cookie"] = cookies
    meta = {"download_timeout": WIDGET_TIMEOUT, "max_retry_times": 1, "widget": widget.container}
    common: dict[str, Any] = {
        "callback": callback,
        "errback": errback,
        "cb_kwargs": kwargs,
        "meta": meta,
        "headers": headers,
        "priority": WIDGET_PRIORITY,
        "dont_filter": True,  # one per article page fetched: a re-check must load it again
    }
    if widget.method == "POST":
        return scrapy.FormRequest(widget.url, formdata=list(widget.form), **common)
    return scrapy.Request(widget.url, **common)


def took_answer(item: Article, response: Response) -> None:
    """The widget's answer into the article: its number as ``views`` (layer ``widget``), or the
    reason it holds none."""
    try:
        views = widget_views(response.text) if isinstance(response, TextResponse) else None
        reason = f"the answer holds no number (HTTP {response.status}, {len(response.body)} bytes)"
    except Exception as exc:  # an answer no rule foresaw: the article is still stored
        views, reason = None, f"the answer is unreadable ({type(exc).__name__}: {exc})"
    if views is None:
        item.problems["views"] = f"widget {WIDGET_PATH} failed: {reason}"
    else:
        item.views = views
        item.sources["views"] = WIDGET
        item.problems.pop("views", None)


def widget_failure(failure: Failure) -> str:
    """Why a widget's request got no answer, in a few words."""
    if failure.check(HttpError):
        return f"HTTP {failure.value.response.status}"
    detail = failure.getErrorMessage() or (failure.type.__doc__ or "").strip().split("\n")[0]
    return f"{failure.type.__name__}: {detail}".rstrip(": ")


def _page_cookies(response: Response) -> str | None:
    """The cookies a page sets, as a ``Cookie`` header (name=value pairs only), for its follow-ups."""
    pairs = []
    for value in response.headers.getlist(b"Set-Cookie"):
        pair = value.decode("latin-1").split(";", 1)[0].strip()
        if "=" in pair:
            pairs.append(pair)
    return "; ".join(pairs) or None


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
