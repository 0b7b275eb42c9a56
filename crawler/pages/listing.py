"""The news feed (``/novosti``, ``?page=N``): entries with their listed times, and page links."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin

from parsel import Selector

from crawler.fields import listing_datetime
from crawler.pages.base import as_selector, element_text, has_class

MAIN = f"//div[{has_class('uk-width-2-3@m')}]"
FEED_ITEMS = f"{MAIN}//ul[{has_class('uk-nav')} and {has_class('uk-nav-default')}]/li"
HEADING = f".//h2[{has_class('date-heading')}]"
ENTRY = has_class("uk-grid")
ENTRY_LINK = f"(.//div[{has_class('uk-width-expand')}]//a[@href])[1]/@href"
# The time may sit beside the link or, on some templates, inside it.
ENTRY_TIME = ".//time"
PAGINATION = f"//ul[{has_class('uk-pagination')}]//a[@href]/@href"


@dataclass
class ListingEntry:
    url: str
    published_at: str | None = None  # resolved from the date heading and the time


@dataclass
class ListingPage:
    """What a listing page offers: entries in page order (each URL once) and page links."""

    entries: list[ListingEntry] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)

    @property
    def links(self) -> list[str]:
        return [e.url for e in self.entries]


def parse_listing(page: str | bytes | Selector, url: str, now: datetime | None = None) -> ListingPage:
    """Entries and pagination of one listing page; times resolved against ``now`` (the crawl time)."""
    sel = as_selector(page)
    entries: dict[str, ListingEntry] = {}
    heading: str | None = None
    for li in sel.xpath(FEED_ITEMS):
        found = li.xpath(HEADING)
        if found:
            heading = element_text(found[0].root)
            continue
        if not li.xpath(f"self::li[{ENTRY}]"):
            continue
        href = li.xpath(ENTRY_LINK).get()
        if not href or not href.strip():
            continue
        absolute = urljoin(url, href.strip())
        time = li.xpath(ENTRY_TIME)
        published = listing_datetime(heading, element_text(time[0].root), now) if time and heading and now else None
        entry = entries.setdefault(absolute, ListingEntry(absolute))
        entry.published_at = entry.published_at or published
    pages = []
    for href in sel.xpath(PAGINATION).getall():
        absolute = urljoin(url, href.strip())
        if absolute not in pages:
            pages.append(absolute)
    return ListingPage(entries=list(entries.values()), pages=pages)
