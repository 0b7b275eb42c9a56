"""Page objects: pure functions from a page's HTML and URL to items.

One module per page type, every selector of that page type named once at the top
of its module. Nothing here touches the network or the database, nor imports the
pipelines, the storage or the spiders. Each page type has dated versions
(``crawler.pages.versions``); the names below are the current ones.
"""

from crawler.pages.article import ArticlePage, parse_article
from crawler.pages.feed import parse_feed
from crawler.pages.listing import ListingPage, parse_listing
from crawler.pages.rates import parse_rates
from crawler.pages.sidebar import parse_most_read
from crawler.pages.versions import PageVersion, parser_for, version_for

__all__ = [
    "ArticlePage",
    "ListingPage",
    "PageVersion",
    "parse_article",
    "parse_feed",
    "parse_listing",
    "parse_most_read",
    "parse_rates",
    "parser_for",
    "version_for",
]
