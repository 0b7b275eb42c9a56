"""``informburo check-site``: a handful of polite requests that say, part by part, whether a site
still carries what the crawl reads (docs/anatomy.md), and by which layer each field was found.

The first command to run against a site, and the one to run when a crawl warns of layout drift:
robots.txt, the home page (sidebar, rates, the feeds it names), the first listing page, the feeds,
at most two sitemap files and a few article pages, read by the very page objects a crawl uses.
The spider yields no item: what it finds are ``Row``s kept in memory, so nothing reaches the
pipelines and no database is opened (jobs/check_site.py prints them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from core.clock import KZ_TZ, now_kz
from crawler.fields import canonical_url, clean_text, currency_code, section_of
from crawler.items import Article, MostReadEntry, RateQuote
from crawler.pages import parse_listing, parse_most_read, parse_rates
from crawler.pages.article import CORE_FIELDS, SITE
from crawler.pages.feed import feed_links, parse_feed
from crawler.pages.listing import REL_NEXT, ListingEntry, ListingPage, home_cards
from crawler.pages.sidebar import SHAPE, Widget
from crawler.pages.sitemap import INDEX, SitemapEntry, SitemapPage, parse_sitemap, sitemaps_in_robots
from crawler.pages.widget import WidgetRequest
from crawler.spiders.informburo import (
    FEED_PATHS,
    LISTING_PATH,
    ROBOTS_PATH,
    SITEMAP_PATH,
    WIDGET_PATH,
    page_widget,
    read_article,
    read_page,
    took_answer,
    widget_failure,
    widget_follow_up,
)

#: What a row says of its part: found by the site's own means; found, but only by a fallback
#: (layout drift); not found although the contract wants it; an optional field the page lacks.
FOUND, DRIFT, MISSING, ABSENT = "yes", "drift", "MISSING", "no"
#: The parts, in the order the table lists them (an article's part is "article N").
PARTS = ("robots.txt", "home", "listing", "feed", "sitemap", "article")
#: Article pages read, feeds read, sitemap files read: a handful of requests in all.
ARTICLES = 3
MAX_FEEDS = 2
MAX_SITEMAPS = 2
#: Article fields the contract does not require: their absence is said, not counted against the site.
OPTIONAL_FIELDS = ("lead", "author", "modified_at", "tags", "image_url", "views", "lang")
#: How a feed or sitemap was reached other than by the site's markup: named by robots.txt or by an
#: index, or at a known path tried because the site names none (that row of the naming page says drift).
ROBOTS, LISTED, KNOWN_PATH = "robots.txt", "index", "known path"


@dataclass(frozen=True)
class Row:
    """One line of the table: a part of the site, one of its fields, and what was found."""

    part: str
    field: str
    found: str
    layer: str = ""
    detail: str = ""


def part_rank(part: str) -> tuple[int, str]:
    """Where a part's rows go in the table: in ``PARTS`` order, articles by number."""
    head = part.split(" ", 1)[0]
    return (PARTS.index(head) if head in PARTS else len(PARTS), part)


def short(text: Any, width: int = 48) -> str:
    """A value shortened for the table's detail column, on one line."""
    value = clean_text(str(text)) or ""
    return value if len(value) <= width else value[: width - 1] + "…"


def path_of(url: str) -> str:
    """A URL as the table shows it: its path and query (every request is on the one site)."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def joined(*pieces: str | None) -> str:
    return "; ".join(p for p in pieces if p)


# --- rows of each part: pure functions of what a page object read --------------------------------


def robots_rows(status: int | None, body: bytes, url: str, obeyed: bool) -> tuple[list[Row], list[str]]:
    """(rows, the sitemaps it names on the site). ``status`` ``None``: no answer at all."""
    if status is None:
        return [Row("robots.txt", "fetched", MISSING, "", "no answer (see the log): every path taken as allowed")], []
    how = "fetched before any page, obeyed" if obeyed else "ROBOTSTXT_OBEY is off: fetched, NOT obeyed"
    if status != 200:
        detail = f"HTTP {status}: no rules (every path allowed), no Sitemap: lines"
        return [Row("robots.txt", "fetched", MISSING, "", detail)], []
    rows = [Row("robots.txt", "fetched", FOUND, "", f"HTTP {status}, {len(body)} bytes, {how}")]
    sitemaps = sitemaps_in_robots(body, url)
    if sitemaps:
        rows.append(Row("robots.txt", "Sitemap: lines", FOUND, "", ", ".join(path_of(s) for s in sitemaps)))
    else:
        rows.append(Row("robots.txt", "Sitemap: lines", DRIFT, "", f"none on the site: trying {SITEMAP_PATH}"))
    return rows, sitemaps


def widget_row(field: str, widget: Widget[Any], describe: str) -> Row:
    """A home-page widget: found by its selectors (``site``), by its shape (drift), or not at all."""
    notes = joined(*widget.notes, *widget.problems)
    if not widget:
        return Row("home", field, MISSING, "", joined("neither its selectors nor its shape found it", notes))
    found = FOUND if widget.layer == SITE else DRIFT
    shape = "found only by its shape: " if widget.layer == SHAPE else ""
    return Row("home", field, found, widget.layer or "", joined(shape + describe, notes))


def most_read_row(widget: Widget[MostReadEntry]) -> Row:
    first = short(widget[0].title, 40) if widget else ""
    return widget_row("most-read sidebar", widget, f"{len(widget)} entries; first: {first}")


def rates_row(widget: Widget[RateQuote]) -> Row:
    quotes = ", ".join(f"{currency_code(q.currency)} {q.buy}/{q.sell}" for q in widget)
    return widget_row("rates", widget, f"{len(widget)} currencies: {quotes}")


def cards_row(cards: Sequence[ListingEntry]) -> Row:
    """The home page's featured cards: a way to find stories besides the listing and the feed."""
    if not cards:
        return Row("home", "cards", ABSENT, "", "no .uk-overlay-primary card linking an article of the site")
    return Row("home", "cards", FOUND, SITE, f"{len(cards)} articles featured; first: {short(cards[0].title, 40)}")


def feeds_named_row(named: Sequence[str]) -> Row:
    if named:
        return Row("home", "feeds named", FOUND, SITE, "<link rel=alternate>: " + ", ".join(map(path_of, named)))
    return Row("home", "feeds named", DRIFT, "", f"no <link rel=alternate> feed: trying {', '.join(FEED_PATHS)}")


def listing_rows(listing: ListingPage, stated_next: Sequence[str], articles: Sequence[ListingEntry]) -> list[Row]:
    """The first listing page: its article entries, and how the next page is named."""
    rows = []
    if articles:
        timed = sum(1 for e in articles if e.published_at)
        detail = f"{len(articles)} article links, {timed} with a listed time"
        rows.append(Row("listing", "entries", FOUND, SITE, detail))
    else:
        rows.append(Row("listing", "entries", MISSING, "", f"no article link in {len(listing.entries)} entries"))
    if listing.next_page and listing.next_page in stated_next:
        rows.append(Row("listing", "next page", FOUND, SITE, f"rel=next: {path_of(listing.next_page)}"))
    elif listing.next_page:
        rows.append(Row("listing", "next page", FOUND, SITE, f"a ?page=N link: {path_of(listing.next_page)}"))
    else:
        rows.append(Row("listing", "next page", MISSING, "", "neither rel=next nor a ?page=2 link"))
    return rows


def feed_row(url: str, how: str, total: int, articles: Sequence[ListingEntry]) -> Row:
    """One feed: how many entries it holds, how many are article pages of the site, the newest time."""
    dates = [e.published_at for e in articles if e.published_at]
    newest = f", newest {max(dates)}" if dates else ""
    detail = f"{total} entries, {len(articles)} article links on the site{newest}"
    return Row("feed", path_of(url), FOUND if articles else MISSING, how, detail)


def sitemap_row(url: str, how: str, page: SitemapPage) -> Row:
    """One sitemap file: an index (how many sitemaps it lists) or a list of article pages."""
    if page.kind == INDEX:
        what, listed = "sitemaps", page.sitemaps
    else:
        what, listed = "article URLs", page.articles
    dates = [e.lastmod for e in listed if e.lastmod]
    newest = f", newest lastmod {max(dates)}" if dates else ""
    skipped = f", {page.skipped} left out (another host, not an article)" if page.skipped else ""
    detail = f"{page.kind}: {len(listed)} {what}{newest}{skipped}"
    return Row("sitemap", path_of(url), FOUND if listed else MISSING, how, detail)


def sitemap_articles_row(read: Sequence[SitemapPage]) -> Row:
    """The article pages the sitemaps read list: what a ``backfill --sitemaps`` would walk."""
    articles = [e for page in read for e in page.articles]
    if not articles:
        return Row("sitemap", "article URLs", MISSING, "", f"none in the {len(read)} sitemap file(s) read")
    newest = max((e.date for e in articles if e.date), default=None)
    detail = f"{len(articles)} in the {len(read)} sitemap file(s) read" + (f", newest {newest}" if newest else "")
    return Row("sitemap", "article URLs", FOUND, "", detail)


def article_rows(part: str, url: str, item: Article | str) -> list[Row]:
    """An article page: each field, whether it was read, by which layer (``Article.sources``), with
    the page object's notes; a core field read by a fallback layer is drift, a missing one missing."""
    if isinstance(item, str):
        return [Row(part, "page", MISSING, "", f"{path_of(url)}: {item}")]
    rows = [Row(part, "page", FOUND, "", joined(path_of(url), item.problems.get("url")))]
    for name in (*CORE_FIELDS, *OPTIONAL_FIELDS):
        value = getattr(item, name)
        layer = item.sources.get(name, "")
        present = name in item.sources
        if name in CORE_FIELDS:
            found = (FOUND if layer == SITE else DRIFT) if present else MISSING
        else:
            found = FOUND if present else ABSENT
        shown = _shown(name, value) if present else ""
        note = item.notes.get(name)
        detail = joined(shown, item.problems.get(name), f"note: {note}" if note else None)
        rows.append(Row(part, name, found, layer, detail))
    return rows


def _shown(name: str, value: Any) -> str:
    if name == "body":
        blocks = value if isinstance(value, list) else [str(value)]
        return f"{len(blocks)} blocks, {sum(len(b) for b in blocks)} characters"
    if name == "tags":
        return short(", ".join(map(str, value)))
    return short(value)


def failure_reason(failure: Failure) -> str:
    """Why a request got no page, in a few words."""
    if failure.check(HttpError):
        return f"HTTP {failure.value.response.status}"
    message = failure.getErrorMessage()
    if failure.check(IgnoreRequest) and "robots.txt" in message:
        return "not fetched: robots.txt disallows it"
    if failure.check(IgnoreRequest):
        return message or "refused"
    return f"{failure.type.__name__}: {message}".rstrip(": ")


# --- the spider --------------------------------------------------------------------------------


class CheckSiteSpider(scrapy.Spider):
    """Reads one of each page type of the site, politely (the project's settings: robots.txt
    obeyed, delays, allowed hosts), into ``rows``; ``requests`` is every URL it asked for, in order.

    The walk is short and in steps: robots.txt (Scrapy fetches it before any page), the home page,
    then what it and robots.txt name (the listing, the feeds, the sitemaps), then the articles the
    listing names.
    """

    name = "check-site"

    def __init__(self, base_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base_url_arg = base_url
        self.rows: list[Row] = []
        self.requests: list[str] = []
        #: Exceptions raised in a callback: rows may be missing, so the check cannot say OK.
        self.errors: list[str] = []
        self.robots: tuple[int, bytes, str] | None = None
        self.sitemaps_read: list[SitemapPage] = []
        self.articles: list[ListingEntry] = []
        self.article_count = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> CheckSiteSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        base_url = (spider._base_url_arg or crawler.settings.get("INFORMBURO_BASE_URL") or "").rstrip("/")
        base = urlsplit(base_url)
        if base.scheme not in ("http", "https") or not base.hostname:
            raise ValueError(f"base URL must be an absolute http(s) URL, not {base_url!r}")
        spider.base_url = (canonical_url(base_url) or base_url).rstrip("/")
        spider.base_netloc = urlsplit(spider.base_url).netloc.lower()  # AllowedHostsMiddleware reads it
        spider.allowed_domains = [base.hostname]
        spider.obey_robots = crawler.settings.getbool("ROBOTSTXT_OBEY")
        crawler.signals.connect(spider.response_seen, signal=signals.response_received)
        crawler.signals.connect(spider.callback_failed, signal=signals.spider_error)
        return spider

    def callback_failed(self, failure: Failure, response: Response) -> None:
        self.errors.append(f"{failure.type.__name__}: {failure.getErrorMessage()} (reading {path_of(response.url)})")

    def response_seen(self, response: Response, request: Request) -> None:
        """Every response, the robots.txt Scrapy fetches for itself included (it is no request of ours)."""
        self.requests.append(response.url)
        if urlsplit(response.url).path == ROBOTS_PATH:
            self.robots = (response.status, response.body, response.url)

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if self.obey_robots:  # Scrapy's middleware fetches robots.txt before the home page
            yield self._home_request()
        else:
            url = f"{self.base_url}{ROBOTS_PATH}"
            yield scrapy.Request(url, callback=self.parse_robots, errback=self.robots_failed, dont_filter=True)

    def parse_robots(self, response: Response) -> Iterator[scrapy.Request]:
        yield self._home_request()

    def robots_failed(self, failure: Failure) -> Iterator[scrapy.Request]:
        self._failed(failure)
        yield self._home_request()

    def _home_request(self) -> scrapy.Request:
        return scrapy.Request(f"{self.base_url}/", callback=self.parse_home, errback=self.home_failed)

    def parse_home(self, response: Response) -> Iterator[scrapy.Request]:
        named: list[str] = []
        if isinstance(response, TextResponse):
            selector, _ = read_page(response)
            captured_at = now_kz()
            self.rows.append(Row("home", "fetched", FOUND, "", f"HTTP {response.status}"))
            self.rows.append(most_read_row(parse_most_read(selector, response.url, captured_at)))
            self.rows.append(rates_row(parse_rates(selector, response.url, captured_at)))
            self.rows.append(cards_row([e for e in home_cards(selector, response.url) if self._site_url(e.url)]))
            named = [u for u in (self._site_url(f) for f in feed_links(selector, response.url)) if u]
        else:
            self.rows.append(Row("home", "fetched", MISSING, "", "not an HTML page"))
        yield from self._after_home(named, read=isinstance(response, TextResponse))

    def home_failed(self, failure: Failure) -> Iterator[scrapy.Request]:
        self._failed(failure)
        self.rows.append(Row("home", "fetched", MISSING, "", failure_reason(failure)))
        yield from self._after_home([], read=False)

    def _after_home(self, named: list[str], read: bool) -> Iterator[scrapy.Request]:
        """robots.txt is known by now: the listing, the feeds and the sitemaps, all at once. ``read``:
        whether the home page was read (one that was not names no feed, and that is no drift)."""
        status, body, url = self.robots or (None, b"", f"{self.base_url}{ROBOTS_PATH}")
        rows, sitemaps = robots_rows(status, body, url, self.obey_robots)
        self.rows.extend(rows)
        if read:
            self.rows.append(feeds_named_row(named))
        yield scrapy.Request(f"{self.base_url}{LISTING_PATH}", callback=self.parse_listing, errback=self.listing_failed)
        if named:
            for feed in named[:MAX_FEEDS]:
                yield self._feed_request(feed, SITE, [])
        else:
            known = [f"{self.base_url}{path}" for path in FEED_PATHS]
            yield self._feed_request(known[0], KNOWN_PATH, known[1:])
        sitemaps = [s for s in sitemaps if self._on_base(s)]
        if sitemaps:
            yield self._sitemap_request(sitemaps[0], ROBOTS, sitemaps[1:])
        else:
            yield self._sitemap_request(f"{self.base_url}{SITEMAP_PATH}", KNOWN_PATH, [])

    # -- the listing and its articles --

    def parse_listing(self, response: Response) -> Iterator[scrapy.Request]:
        if not isinstance(response, TextResponse):
            self.rows.append(Row("listing", "entries", MISSING, "", "not an HTML page"))
            return
        selector, _ = read_page(response)
        listing = parse_listing(selector, response.url, datetime.now(KZ_TZ))
        stated = [urljoin(response.url, h.strip()) for h in selector.xpath(REL_NEXT).getall()]
        articles: dict[str, ListingEntry] = {}
        for entry in listing.entries:
            url = self._site_url(entry.url)
            if url and section_of(url):
                articles.setdefault(url, ListingEntry(url, entry.published_at, entry.title))
        self.rows.extend(listing_rows(listing, stated, list(articles.values())))
        self.articles = list(articles.values())
        for _ in range(ARTICLES):
            request = self._next_article()
            if request is not None:
                yield request

    def listing_failed(self, failure: Failure) -> None:
        self._failed(failure)
        self.rows.append(Row("listing", "entries", MISSING, "", failure_reason(failure)))

    def _next_article(self) -> scrapy.Request | None:
        """The next article of the listing, as ``article N``; one robots.txt forbids is replaced by the next."""
        if not self.articles:
            return None
        entry = self.articles.pop(0)
        self.article_count += 1
        kwargs = {"part": f"article {self.article_count}", "listed": entry.published_at}
        return scrapy.Request(
            entry.url, callback=self.parse_article, errback=self.article_failed, cb_kwargs=kwargs, dont_filter=True
        )

    def parse_article(self, response: Response, part: str, listed: str | None) -> Iterator[scrapy.Request]:
        """An article's fields, its views loaded by the page's widget as the crawl loads them."""
        page = read_page(response) if isinstance(response, TextResponse) else None
        item = read_article(response, now_kz(), listed, page=page)
        if isinstance(item, Article) and item.views is None and page is not None:
            widget = page_widget(page[0], response.url, self._on_base)
            if isinstance(widget, WidgetRequest):
                kwargs = {"part": part, "item": item}
                yield widget_follow_up(widget, response, self.parse_widget, self.widget_failed, kwargs)
                return
            if widget is not None:
                item.problems["views"] = f"widget {WIDGET_PATH} failed: {widget}"
        self.rows.extend(article_rows(part, response.url, item))

    def parse_widget(self, response: Response, part: str, item: Article) -> None:
        took_answer(item, response)
        self.rows.extend(article_rows(part, item.http.get("url") or item.url, item))

    def widget_failed(self, failure: Failure) -> None:
        self._failed(failure)
        part, item = failure.request.cb_kwargs["part"], failure.request.cb_kwargs["item"]
        item.problems["views"] = f"widget {WIDGET_PATH} failed: {widget_failure(failure)}"
        self.rows.extend(article_rows(part, item.http.get("url") or item.url, item))

    def article_failed(self, failure: Failure) -> Iterator[scrapy.Request]:
        self._failed(failure)
        part = failure.request.cb_kwargs["part"]
        reason = failure_reason(failure)
        if failure.check(IgnoreRequest) and "robots.txt" in failure.getErrorMessage():
            detail = f"{path_of(failure.request.url)}: robots.txt disallows it; read the next entry instead"
            self.rows.append(Row("listing", "disallowed", ABSENT, "", detail))
            self.article_count -= 1
            following = self._next_article()
            if following is not None:
                yield following
            return
        self.rows.extend(article_rows(part, failure.request.url, reason))

    # -- feeds --

    def _feed_request(self, url: str, how: str, fallbacks: list[str], tried: Sequence[str] = ()) -> scrapy.Request:
        meta = {"how": how, "fallbacks": fallbacks, "tried": [*tried, path_of(url)]}
        return scrapy.Request(url, callback=self.parse_feed, errback=self.feed_failed, meta=meta, dont_filter=True)

    def parse_feed(self, response: Response) -> Iterator[scrapy.Request]:
        try:
            entries = parse_feed(response.body)
        except ValueError as exc:
            yield from self._feed_missing(response.request, str(exc))
            return
        sited = [ListingEntry(url, e.published_at) for e in entries if (url := self._site_url(e.url))]
        articles = [e for e in sited if section_of(e.url)]
        self.rows.append(feed_row(response.url, response.meta["how"], len(entries), articles))

    def feed_failed(self, failure: Failure) -> Iterator[scrapy.Request]:
        self._failed(failure)
        yield from self._feed_missing(failure.request, failure_reason(failure))

    def _feed_missing(self, request: Request | None, reason: str) -> Iterator[scrapy.Request]:
        """A feed that did not answer or is none: the next known path, if any is left, else missing."""
        assert request is not None
        fallbacks, tried = request.meta.get("fallbacks") or [], request.meta.get("tried") or []
        if fallbacks:
            yield self._feed_request(fallbacks[0], KNOWN_PATH, fallbacks[1:], tried)
            return
        detail = joined(reason, f"tried {', '.join(tried)}" if len(tried) > 1 else None)
        self.rows.append(Row("feed", path_of(request.url), MISSING, request.meta.get("how", ""), detail))

    # -- sitemaps: at most two files --

    def _sitemap_request(self, url: str, how: str, rest: list[str]) -> scrapy.Request:
        meta = {"how": how, "rest": rest}
        return scrapy.Request(url, callback=self.parse_sitemap, errback=self.sitemap_failed, meta=meta)

    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        meta = response.meta
        try:
            page = parse_sitemap(response.body, response.url)
        except ValueError as exc:
            self.rows.append(Row("sitemap", path_of(response.url), MISSING, meta["how"], str(exc)))
            page = None
        else:
            self.rows.append(sitemap_row(response.url, meta["how"], page))
            self.sitemaps_read.append(page)
        yield from self._next_sitemap(page, meta["rest"])

    def sitemap_failed(self, failure: Failure) -> Iterator[scrapy.Request]:
        self._failed(failure)
        meta = failure.request.meta
        self.rows.append(Row("sitemap", path_of(failure.request.url), MISSING, meta["how"], failure_reason(failure)))
        yield from self._next_sitemap(None, meta["rest"])

    def _next_sitemap(self, page: SitemapPage | None, rest: list[str]) -> Iterator[scrapy.Request]:
        """An index's newest sitemap, else the next one robots.txt named, while fewer than two were asked for."""
        asked = sum(1 for row in self.rows if row.part == "sitemap")
        children = [e for e in (page.sitemaps if page is not None else []) if self._on_base(e.url)]
        if asked < MAX_SITEMAPS and children:
            yield self._sitemap_request(_newest(children).url, LISTED, [])
        elif asked < MAX_SITEMAPS and rest:
            yield self._sitemap_request(rest[0], ROBOTS, rest[1:])
        else:
            self.rows.append(sitemap_articles_row(self.sitemaps_read))

    # -- helpers --

    def _failed(self, failure: Failure) -> None:
        """A request that got no response still counts as one asked of the site (unless never sent)."""
        if not failure.check(IgnoreRequest, HttpError):
            self.requests.append(failure.request.url)

    def _site_url(self, url: str | None) -> str | None:
        """A link as the site spells it, ``None`` when it is no http(s) URL or not on the site."""
        try:
            found = canonical_url(url, self.base_url)
        except ValueError:
            return None
        return found if found and self._on_base(found) else None

    def _on_base(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and parts.netloc.lower() == self.base_netloc


def _newest(entries: Sequence[SitemapEntry]) -> SitemapEntry:
    """The sitemap a check reads of an index: the newest dated one, else the first listed."""
    dated = [e for e in entries if e.lastmod]
    return max(dated, key=lambda e: datetime.fromisoformat(e.lastmod or "")) if dated else entries[0]
