"""Preview: what a saved page would give, normalised, without a crawl or a database.

``informburo parse`` and the saved-page fixtures use it. Extraction
(``crawler.pages.dispatch``) gives raw items; this module applies the first pipeline
(normalise) and flattens each item to a dict with a ``type`` key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from crawler.items import Article, MostReadEntry, RateQuote
from crawler.pages.dispatch import RawItem, raw_items
from crawler.pages.listing import ListingEntry
from pipelines.normalize import normalize_item

_TYPES: dict[type, str] = {Article: "article", MostReadEntry: "most_read", RateQuote: "rate"}


def parse_page(
    page: str | bytes, url: str, now: datetime, *, versions: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Everything a saved page yields, normalised, as plain dicts with a ``type`` key.

    Article pages give their article; ``/novosti`` gives its entries; every page gives
    the sidebar and the rates it carries. ``now`` is the crawl time: it picks each page
    type's extractor version and resolves the listing's relative dates. ``versions``
    names a version per page type instead (saved-page fixtures belong to a version).
    """
    return [_record(item) for item in raw_items(page, url, now, versions)]


def _record(item: RawItem) -> dict[str, Any]:
    """One raw item as ``parse_page`` prints it: normalised, without ``captured_at`` (the
    caller's clock, not the page's) and without an empty ``problems`` or ``notes``."""
    if isinstance(item, ListingEntry):
        return {"type": "listing_entry", **asdict(item)}
    data = asdict(normalize_item(item))
    data.pop("captured_at", None)
    for key in ("problems", "notes"):
        if not data.get(key):
            data.pop(key, None)
    return {"type": _TYPES[type(item)], **data}
