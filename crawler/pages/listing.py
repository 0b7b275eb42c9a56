"""The news feed (``/novosti``, ``?page=N``): links to articles and to further pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin

from parsel import Selector

from crawler.pages.base import as_selector, has_class

MAIN = f"//div[{has_class('uk-width-2-3@m')}]"
FEED = f"{MAIN}//ul[{has_class('uk-nav')} and {has_class('uk-nav-default')}]"
ENTRY_LINKS = f"{FEED}/li[{has_class('uk-grid')}]//div[{has_class('uk-width-expand')}]//a[@href][1]/@href"
PAGINATION = f"//ul[{has_class('uk-pagination')}]//a[@href]/@href"


@dataclass
class ListingPage:
    """What a listing page offers: entry links in page order (repeats removed) and page links."""

    links: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)


def parse_listing(page: str | bytes | Selector, url: str) -> ListingPage:
    """Absolute entry and pagination URLs of one listing page, as the page gives them."""
    sel = as_selector(page)
    links: list[str] = []
    for href in sel.xpath(ENTRY_LINKS).getall():
        absolute = urljoin(url, href.strip())
        if absolute not in links:
            links.append(absolute)
    pages = []
    for href in sel.xpath(PAGINATION).getall():
        absolute = urljoin(url, href.strip())
        if absolute not in pages:
            pages.append(absolute)
    return ListingPage(links=links, pages=pages)
