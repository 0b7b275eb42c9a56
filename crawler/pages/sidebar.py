"""The most-read sidebar (``section.most-read``), carried by every page."""

from __future__ import annotations

from urllib.parse import urljoin

from parsel import Selector

from crawler.items import MostReadEntry
from crawler.pages.base import as_selector, element_text, first_text

ENTRIES = "section.most-read ol.most-read-list li.most-read-item"
RANK = "span.most-read-rank"
LINK = "a.most-read-link"
VIEWS = "div.most-read-stats span.most-read-views"
COMMENTS = "div.most-read-stats span.most-read-comments"
REACTIONS = "div.most-read-stats span.most-read-reactions"


def parse_most_read(page: str | bytes | Selector, url: str, captured_at: str | None = None) -> list[MostReadEntry]:
    """The sidebar's entries in page order, raw: the title still carries its emoji."""
    sel = as_selector(page)
    entries = []
    for li in sel.css(ENTRIES):
        link = li.css(LINK)
        # one attribute by name: `.attrib` builds every attribute, and a garbled name raises
        href = link[0].root.get("href") if link else None
        entries.append(
            MostReadEntry(
                rank=first_text(li, RANK),
                title=element_text(link[0].root) if link else None,
                url=urljoin(url, href.strip()) if href else None,
                views=first_text(li, VIEWS),
                comments=first_text(li, COMMENTS),
                reactions=first_text(li, REACTIONS),
                captured_at=captured_at,
            )
        )
    return entries
