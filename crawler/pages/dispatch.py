"""Which page objects apply to a page, by its URL: the one entry point for a saved page."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from crawler.fields import section_of
from crawler.pages.article import parse_article
from crawler.pages.base import as_selector
from crawler.pages.listing import parse_listing
from crawler.pages.rates import parse_rates
from crawler.pages.sidebar import parse_most_read
from pipelines.normalize import normalize_item

LISTING_PATHS = ("/novosti",)
_TYPES = {"Article": "article", "MostReadEntry": "most_read", "RateQuote": "rate"}


def parse_page(page: str | bytes, url: str, now: datetime) -> list[dict[str, Any]]:
    """Everything a saved page yields, normalised, as plain dicts with a ``type`` key.

    Article pages give their article; ``/novosti`` gives its entries; every page gives
    the sidebar and the rates it carries. ``now`` is the crawl time (for listing dates).
    """
    sel = as_selector(page)
    captured_at = now.isoformat(timespec="seconds")
    out: list[dict[str, Any]] = []
    path = urlsplit(url).path.rstrip("/")
    if section_of(url):
        out.append(_as_dict(normalize_item(parse_article(sel, url, captured_at))))
    elif path in LISTING_PATHS:
        for entry in parse_listing(sel, url, now).entries:
            out.append({"type": "listing_entry", **asdict(entry)})
    out += [_as_dict(normalize_item(e)) for e in parse_most_read(sel, url, captured_at)]
    out += [_as_dict(normalize_item(r)) for r in parse_rates(sel, url, captured_at)]
    return out


def _as_dict(item: Any) -> dict[str, Any]:
    data = asdict(item)
    data.pop("captured_at", None)
    if not data.get("problems"):
        data.pop("problems", None)
    return {"type": _TYPES[type(item).__name__], **data}
