"""The site's RSS feed (``/rss/pubsubhubbub-feed.xml``): article links and their publication times."""

from __future__ import annotations

from datetime import UTC
from email.utils import parsedate_to_datetime

from lxml import etree

from crawler.fields import KZ_TZ
from crawler.pages.listing import ListingEntry

ITEMS = "//item"
LINK = "string(link)"
PUBDATE = "string(pubDate)"


def parse_feed(xml: bytes) -> list[ListingEntry]:
    """Entries of an RSS 2.0 feed; ``ValueError`` when the bytes are not such a feed."""
    try:
        root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not an RSS feed: {exc}") from exc
    if root is None or root.tag != "rss":
        raise ValueError("not an RSS feed: no <rss> root")
    entries: list[ListingEntry] = []
    for item in root.xpath(ITEMS):
        link = item.xpath(LINK).strip()
        if not link:
            continue
        published = None
        stamp = item.xpath(PUBDATE).strip()
        if stamp:
            try:
                moment = parsedate_to_datetime(stamp)
                if moment.tzinfo is None:  # "-0000": UTC, local offset unknown (RFC 5322), never the server's zone
                    moment = moment.replace(tzinfo=UTC)
                published = moment.astimezone(KZ_TZ).isoformat(timespec="seconds")
            except (TypeError, ValueError, OverflowError):
                published = None
        entries.append(ListingEntry(link, published))
    return entries
