"""The news feed (``/novosti``, ``?page=N``): entries with their listed times, and page links."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, urljoin, urlsplit

from lxml import etree
from parsel import Selector

from crawler.fields import clean_text, listing_datetime, on_site
from crawler.pages.base import as_selector, element_text, has_class

#: A page link in the path rather than the query (``/novosti/page/2``).
PATH_PAGE = re.compile(r"/page/(\d+)$")
MAIN = f"//div[{has_class('uk-width-2-3@m')}]"
FEED_ITEMS = f"{MAIN}//ul[{has_class('uk-nav')} and {has_class('uk-nav-default')}]/li"
HEADING = f".//h2[{has_class('date-heading')}]"
#: An entry: ``li.uk-grid`` (live: ``li.uk-grid.uk-grid-small.uk-margin-remove-top``).
ENTRY = has_class("uk-grid")
#: The title link sits in the text column; a thumbnail link (``img[data-src]``) comes before it.
ENTRY_TEXT_LINKS = f".//div[{has_class('uk-width-expand')}]//a[@href]"
# The time may sit beside the link or, on the live site, inside it.
ENTRY_TIME = ".//time"
#: The next page as the page names it: ``<link rel="next">`` in the head or an ``<a rel="next">``.
REL_NEXT = "(//link | //a)[@href][contains(concat(' ', normalize-space(@rel), ' '), ' next ')]/@href"
#: Every link of the page: a ``?page=N`` link to this listing is a page link wherever it sits.
ALL_LINKS = "//a[@href]/@href"


@dataclass
class ListingEntry:
    url: str
    published_at: str | None = None  # resolved from the date heading and the time
    #: The title link's own text: not its ``time`` nor its hashtag line.
    title: str | None = None


@dataclass
class ListingPage:
    """What a listing page offers: entries in page order (each URL once), page links, and the next page."""

    entries: list[ListingEntry] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    #: The page after this one: ``rel="next"``, else the ``?page=N+1`` link; ``None`` on the last page.
    next_page: str | None = None

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
        link = _title_link(li.root)
        href = link.get("href") if link is not None else None
        absolute = _absolute(url, href)
        if absolute is None:
            continue
        time = li.xpath(ENTRY_TIME)
        published = listing_datetime(heading, element_text(time[0].root), now) if time and heading and now else None
        entry = entries.setdefault(absolute, ListingEntry(absolute))
        entry.published_at = entry.published_at or published
        entry.title = entry.title or _own_text(link)
    pages, next_page = _pagination(sel, url)
    return ListingPage(entries=list(entries.values()), pages=pages, next_page=next_page)


#: The home page's featured cards (live: ``.uk-overlay-primary`` over each card's picture).
CARDS = f"//*[{has_class('uk-overlay-primary')}]"


def home_cards(page: str | bytes | Selector, url: str) -> list[ListingEntry]:
    """The articles the home page features in its cards, each once, in page order: a way to find the
    newest stories besides the listing and the feed (the cards carry no date). The rest of the home
    page ("Показать больше") is loaded by a script the crawl does not run: the listing holds it."""
    found: dict[str, ListingEntry] = {}
    for card in as_selector(page).xpath(CARDS):
        link = next((a for a in card.root.iter("a") if a.get("href") and _own_text(a)), None)
        absolute = _absolute(url, link.get("href")) if link is not None else None
        if absolute is not None and absolute not in found:
            found[absolute] = ListingEntry(absolute, None, _own_text(link))
    return list(found.values())


def _title_link(li: etree._Element) -> etree._Element | None:
    """The entry's title link: the first link in its text column; without one, the first link with
    text of its own (a thumbnail link holds only an image)."""
    in_text = li.xpath(ENTRY_TEXT_LINKS)
    if in_text:
        return in_text[0]
    return next((a for a in li.iter("a") if a.get("href") and _own_text(a)), None)


def _own_text(link: etree._Element) -> str | None:
    """The text standing in the link itself, not in its children (a ``time``, a hashtag line):
    the live title link holds both after the title."""
    parts = [link.text or ""] + [child.tail or "" for child in link]
    return clean_text(" ".join(parts))


def _pagination(sel: Selector, url: str) -> tuple[list[str], str | None]:
    """(every page link of this listing, the next page). The markup around them is not known, so
    none is looked for by class: ``rel="next"``, and ``?page=N`` links to this very listing path
    on this site, wherever they sit."""
    here = _page_number(url) or 1
    stated = [_absolute(url, h) for h in sel.xpath(REL_NEXT).getall()]
    stated = [u for u in stated if u and on_site(u, url)]
    hrefs = sel.xpath(ALL_LINKS).getall()
    if "page" not in url.lower():  # then only a link that says "page" (or escapes it) can name a page: skip the rest
        hrefs = [h for h in hrefs if "page" in h.lower() or "%" in h]
    path = _listing_path(url)
    links = (_absolute(url, h) for h in hrefs)  # a page link says "page" (or escapes it) once resolved, too
    numbered = [u for u in links if u and ("page" in u.lower() or "%" in u) and _page_link(u, url, path)]
    following = next((u for u in numbered if _page_number(u) == here + 1), None)
    return list(dict.fromkeys(numbered + stated)), (stated[0] if stated else following)


def _page_link(link: str, url: str, path: str) -> bool:
    """Is ``link`` a page link (``?page=N`` or ``/page/N``) to the listing at ``url`` (its site; ``path``,
    its listing path)?"""
    same_path = _listing_path(link) == path
    return same_path and on_site(link, url) and _page_number(link) is not None


def _listing_path(url: str) -> str:
    """The listing a page link belongs to: its path without a trailing ``/page/N``."""
    return PATH_PAGE.sub("", urlsplit(url).path.rstrip("/"))


def _absolute(url: str, href: str | None) -> str | None:
    """A link resolved against the page; ``None`` for none, or one no URL parser reads ("http://[::1")."""
    if not href or not href.strip():
        return None
    try:
        return urljoin(url, href.strip())
    except ValueError:
        return None


def _page_number(url: str) -> int | None:
    """``N`` of a ``?page=N`` or ``/page/N`` link; ``None`` without one (or with a number no listing reaches)."""
    values = parse_qs(urlsplit(url).query).get("page")
    value = values[0].strip() if values else ""
    if not value:  # the other common form: /novosti/page/N
        found = PATH_PAGE.search(urlsplit(url).path.rstrip("/"))
        value = found[1] if found else ""
    return int(value) if value.isdigit() and len(value) <= 9 else None
