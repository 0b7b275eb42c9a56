"""The site's feeds: which ones a page names (``<link rel="alternate">``), and the article links
and publication times an RSS 2.0 or Atom feed holds.

The feed has moved before (``/rss/pubsubhubbub-feed.xml``, then ``/xml/rss.xml``), so the spider
reads the feeds the home page names instead of a fixed path.
"""

from __future__ import annotations

from datetime import UTC
from email.utils import parsedate_to_datetime

from lxml import etree
from parsel import Selector

from crawler.fields import KZ_TZ, canonical_url, on_site, parse_datetime
from crawler.pages.base import as_selector
from crawler.pages.listing import ListingEntry

ITEMS = "//item"
LINK = "string(link)"
PUBDATE = "string(pubDate)"
ATOM = "{http://www.w3.org/2005/Atom}"
#: A page's feed links: ``rel`` holds the token "alternate" (among others, in any case).
_REL = "translate(normalize-space(@rel), 'ALTERNATE', 'alternate')"
FEED_LINKS = f"//link[@href and contains(concat(' ', {_REL}, ' '), ' alternate ')]"
FEED_TYPES = ("application/rss+xml", "application/atom+xml")


def feed_links(page: str | bytes | Selector, url: str) -> list[str]:
    """The RSS and Atom feeds a page fetched from ``url`` names, on its own site only, in page
    order, each once and spelled as the site is (``canonical_url``: an https site stays https)."""
    found: list[str] = []
    for link in as_selector(page).xpath(FEED_LINKS):
        kind = (link.attrib.get("type") or "").split(";")[0].strip().lower()
        href = link.attrib.get("href", "").strip()
        if kind not in FEED_TYPES or not href or not on_site(href, url):
            continue
        try:
            feed = canonical_url(href, url)
        except ValueError:
            continue
        if feed and feed not in found:
            found.append(feed)
    return found


def parse_feed(xml: bytes) -> list[ListingEntry]:
    """Entries of an RSS 2.0 or Atom feed; ``ValueError`` when the bytes are neither."""
    try:
        root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not an RSS feed: {exc}") from exc
    if root is not None and root.tag == f"{ATOM}feed":
        return _atom_entries(root)
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


def _atom_entries(root: etree._Element) -> list[ListingEntry]:
    """An Atom feed's entries: the alternate link (or the one without ``rel``) and the ``published``
    time, else ``updated`` (RFC 3339, read as any ISO stamp)."""
    entries: list[ListingEntry] = []
    for entry in root.iterfind(f"{ATOM}entry"):
        links = [el for el in entry.iterfind(f"{ATOM}link") if el.get("rel", "alternate") == "alternate"]
        href = (links[0].get("href") or "").strip() if links else ""
        if not href:
            continue
        stamp = entry.findtext(f"{ATOM}published") or entry.findtext(f"{ATOM}updated")
        try:
            published = parse_datetime(stamp)
        except (ValueError, OverflowError):
            published = None
        entries.append(ListingEntry(href, published))
    return entries
