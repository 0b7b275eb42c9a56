"""Which page objects apply to a saved page, by its URL, and which version of each, by its date.

Raw items only, as the page objects build them: normalising belongs to the pipelines
(``pipelines/preview.py`` turns these into the dicts ``informburo parse`` prints), and
extraction never imports from the layers above it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from crawler.fields import section_of
from crawler.items import Article, MostReadEntry, RateQuote
from crawler.pages.base import as_selector
from crawler.pages.listing import ListingEntry
from crawler.pages.versions import version_for, version_named

LISTING_PATHS = ("/novosti",)

#: What a saved page yields: the page objects' own items, and the entries of a listing.
RawItem = Article | MostReadEntry | RateQuote | ListingEntry


def page_types(url: str) -> tuple[str, ...]:
    """The page types a page at ``url`` carries, in the order ``raw_items`` yields them.

    Article pages carry their article, ``/novosti`` its entries; every page carries the
    most-read sidebar and the rates widget.
    """
    if section_of(url):
        return ("article", "most_read", "rates")
    if urlsplit(url).path.rstrip("/") in LISTING_PATHS:
        return ("listing", "most_read", "rates")
    return ("most_read", "rates")


def raw_items(page: str | bytes, url: str, now: datetime, versions: Mapping[str, str] | None = None) -> list[RawItem]:
    """Everything a saved page yields, raw, in page order (see ``page_types``).

    ``now`` is the crawl time: it picks each page type's version and resolves the
    listing's relative dates. ``versions`` names a version per page type instead (a saved
    page's fixture belongs to a version, whatever its date); an unknown page type or
    version name is a ``ValueError``.
    """
    named = dict(versions or {})
    for page_type, name in named.items():
        version_named(page_type, name)  # refuse a typo before parsing anything

    def parser(page_type: str) -> Callable[..., Any]:
        name = named.get(page_type)
        return (version_named(page_type, name) if name else version_for(page_type, now)).parse

    sel = as_selector(page)
    captured_at = now.isoformat(timespec="seconds")
    types = page_types(url)
    out: list[RawItem] = []
    if "article" in types:
        out.append(parser("article")(sel, url, captured_at))
    if "listing" in types:
        out += parser("listing")(sel, url, now).entries
    out += parser("most_read")(sel, url, captured_at)
    out += parser("rates")(sel, url, captured_at)
    return out
