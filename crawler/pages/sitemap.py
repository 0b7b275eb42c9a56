"""Sitemaps and robots.txt ``Sitemap:`` lines: the article pages a site lists, with their dates.

``/sitemap.xml`` is an index of ``sitemap-news.xml`` and numbered ``/sitemaps/articles/<N>.xml``
files (some gzipped): every article the site has, not only those still on the first listing
pages, so a backfill of years walks them. Parsing is Scrapy's (``scrapy.utils.sitemap``: index
or urlset, any namespace, lenient on broken markup, no entity expansion); this module adds what
Scrapy leaves to its spider: a cap on a gzipped file's size, a news sitemap's publication date,
dates in Kazakhstan time, and the site's own rules of what an article URL is
(``crawler/fields.py``). Pure functions of bytes and a URL: no network, no storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from crawler.fields import canonical_url, on_site, parse_datetime, section_of

#: The sitemap protocol's limit for one file, uncompressed: a gzip bomb stops here.
MAX_SITEMAP_BYTES = 50 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b\x08"  # what Scrapy's SitemapSpider looks for (``gzip_magic_number``)
INDEX, URLSET = "sitemapindex", "urlset"


@dataclass(frozen=True)
class SitemapEntry:
    """One ``<loc>`` of a sitemap: an article page, or a child sitemap of an index."""

    url: str
    lastmod: str | None = None  # ISO 8601, Kazakhstan time
    published_at: str | None = None  # a news sitemap's <news:publication_date>

    @property
    def date(self) -> str | None:
        """The date a backfill's ``--until`` compares: the publication date when the sitemap
        gives one, else the last modification (never earlier than the publication)."""
        return self.published_at or self.lastmod


@dataclass
class SitemapPage:
    """What one sitemap file offers: child sitemaps (an index) or article pages (a urlset),
    each newest first, and how many of its ``<loc>`` were left out (another host, not an
    article, not an http(s) URL)."""

    kind: str
    sitemaps: list[SitemapEntry] = field(default_factory=list)
    articles: list[SitemapEntry] = field(default_factory=list)
    skipped: int = 0


class _NewsSitemap(Sitemap):
    """Scrapy's parser, keeping a news sitemap's ``<news:publication_date>``.

    Scrapy reads only an entry's direct children, and the date sits one level down, inside
    ``<news:news>``; it is read here, before Scrapy clears the entry to keep memory flat.
    """

    __slots__ = ()

    def _process_sitemap_element(self, elem: etree._Element) -> dict[str, Any] | None:
        published = next(
            (el.text for el in elem.iter() if isinstance(el.tag, str) and _local(el.tag) == "publication_date"), None
        )
        entry = super()._process_sitemap_element(elem)
        if entry is not None and published and published.strip():
            entry["publication_date"] = published.strip()
        return entry


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def sitemap_body(body: bytes, max_size: int = MAX_SITEMAP_BYTES) -> bytes:
    """The XML of a sitemap file: gunzipped (Scrapy's ``gunzip``) when it is gzip, by its bytes
    rather than its name (a server may already have decoded a ``.xml.gz``, or gzip a ``.xml``).

    ``ValueError`` when it is larger than ``max_size`` once unpacked, or broken gzip.
    """
    if not body.startswith(GZIP_MAGIC):
        if len(body) > max_size:
            raise ValueError(f"sitemap larger than {max_size} bytes")
        return body
    try:
        return gunzip(body, max_size=max_size)
    except ValueError as exc:  # Scrapy's size limit error is a ValueError
        raise ValueError(f"gzipped sitemap larger than {max_size} bytes unpacked") from exc
    except (OSError, EOFError) as exc:
        raise ValueError(f"broken gzip: {exc}") from exc


def parse_sitemap(body: bytes, url: str, max_size: int = MAX_SITEMAP_BYTES) -> SitemapPage:
    """A sitemap file fetched from ``url``: its child sitemaps or its article pages, newest first.

    Only URLs on ``url``'s site are kept, each spelled as the site stores it (``canonical_url``);
    of a urlset, only article pages (``section_of``). ``ValueError`` when the bytes are not a
    sitemap (an HTML error page, broken gzip, a file over ``max_size``).
    """
    xml = sitemap_body(body, max_size)
    try:
        sitemap = _NewsSitemap(xml)
    except (etree.XMLSyntaxError, StopIteration) as exc:
        raise ValueError(f"not a sitemap: {str(exc) or 'no XML'}") from None
    if sitemap.type not in (INDEX, URLSET):
        raise ValueError(f"not a sitemap: a <{sitemap.type}> document")
    page = SitemapPage(kind=sitemap.type)
    seen: set[str] = set()
    try:
        for raw in sitemap:
            loc = _site_url(raw.get("loc"), url)
            if loc is None or (sitemap.type == URLSET and section_of(loc) is None):
                page.skipped += 1
                continue
            if loc in seen:
                continue
            seen.add(loc)
            entry = SitemapEntry(loc, _stamp(raw.get("lastmod")), _stamp(raw.get("publication_date")))
            (page.sitemaps if sitemap.type == INDEX else page.articles).append(entry)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"unreadable sitemap: {exc}") from None
    page.sitemaps = newest_first(page.sitemaps)
    page.articles = newest_first(page.articles)
    return page


def sitemaps_in_robots(body: bytes, url: str) -> list[str]:
    """The sitemaps a robots.txt fetched from ``url`` names (``Sitemap:`` lines, read by Scrapy's
    ``sitemap_urls_from_robots``), on its own site only, in file order, each once."""
    found: list[str] = []
    for line in sitemap_urls_from_robots(body, base_url=url):
        loc = _site_url(line, url)
        if loc is not None and loc not in found:
            found.append(loc)
    return found


def newest_first(entries: list[SitemapEntry]) -> list[SitemapEntry]:
    """Undated entries first, in file order (nothing says they are old), then the dated ones
    newest first: a walk that stops at the first one older than a date has then seen every
    newer one."""
    undated = [e for e in entries if e.date is None]
    dated = sorted((e for e in entries if e.date is not None), key=lambda e: _instant(e.date), reverse=True)
    return undated + dated


def older_than(entry: SitemapEntry, until: str | None) -> bool:
    """Is the entry dated before ``until`` (an ISO time)? An undated entry is never older."""
    return bool(until and entry.date and _instant(entry.date) < _instant(until))


def _instant(stamp: str | None) -> datetime:
    return datetime.fromisoformat(stamp or "")


def _site_url(loc: str | None, site: str) -> str | None:
    """``loc`` as the site spells it, or ``None`` when it is on another host or no http(s) URL."""
    if not loc or not on_site(loc, site):
        return None
    try:
        return canonical_url(loc, site)
    except ValueError:
        return None


def _stamp(value: str | None) -> str | None:
    """A W3C datetime (``2026-01-16``, ``2026-01-16T05:52Z``) in Kazakhstan time; an unreadable one is absent."""
    try:
        return parse_datetime(value)
    except (ValueError, OverflowError):
        return None
