"""Validate: the second pipeline. An item that breaks the contract is dropped as a reject."""

from __future__ import annotations

import re
from typing import Any

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from crawler.fields import ARTICLE_SECTIONS
from crawler.items import Article, MostReadEntry, RateQuote

REQUIRED: dict[type, tuple[str, ...]] = {
    Article: ("url", "title", "body", "published_at"),
    MostReadEntry: ("rank", "title"),
    RateQuote: ("currency",),
}
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class Rejected(DropItem):
    """A dropped item with the field at fault; the store records it in ``rejects``."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


def check_item(item: Any) -> None:
    """Raise ``Rejected`` for the first broken rule of a normalised item."""
    adapter = ItemAdapter(item)
    problems = adapter.get("problems") or {}
    for name in REQUIRED.get(type(item), ()):
        if adapter.get(name) in (None, ""):
            raise Rejected(name, problems.get(name, "missing"))
    if isinstance(item, Article) and item.section not in ARTICLE_SECTIONS:
        raise Rejected("url", f"not an article URL (section must be one of {', '.join(ARTICLE_SECTIONS)})")
    if isinstance(item, MostReadEntry) and not 1 <= item.rank <= 100:
        raise Rejected("rank", f"out of range: {item.rank}")
    if isinstance(item, RateQuote):
        if not _CURRENCY.match(item.currency):
            raise Rejected("currency", f"not a currency code: {item.currency!r}")
        if item.buy is None and item.sell is None:
            raise Rejected("buy", problems.get("buy", "neither buy nor sell"))


class ValidatePipeline:
    """Second pipeline: required fields present, values within the contract."""

    def process_item(self, item: Any) -> Any:
        """Any exception becomes a ``Rejected`` (recorded by the store), never Scrapy's bare log line."""
        try:
            check_item(item)
        except Rejected:
            raise
        except Exception as exc:
            raise Rejected(None, f"could not be validated: {type(exc).__name__}: {exc}") from exc
        return item
