"""Page objects: pure functions from a page's HTML and URL to items.

One module per page type, every selector of that page type named once at the top
of its module. Nothing here touches the network or the database.
"""

from crawler.pages.article import ArticlePage, parse_article
from crawler.pages.listing import ListingPage, parse_listing
from crawler.pages.rates import parse_rates
from crawler.pages.sidebar import parse_most_read

__all__ = ["ArticlePage", "ListingPage", "parse_article", "parse_listing", "parse_most_read", "parse_rates"]
