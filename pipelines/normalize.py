"""Normalise: the first pipeline, raw page strings → the stored values of the field contract."""

from __future__ import annotations

from typing import Any

from itemadapter import ItemAdapter

from crawler.fields import (
    canonical_url,
    clean_tags,
    clean_text,
    currency_code,
    join_blocks,
    language,
    parse_amount,
    parse_count,
    parse_datetime,
    section_of,
    split_emoji,
)
from crawler.items import Article, MostReadEntry, RateQuote


def _set(adapter: ItemAdapter, problems: dict[str, str], name: str, func: Any, *args: Any) -> None:
    """Set ``name`` to ``func(value)``; a value that cannot be read becomes a recorded problem."""
    try:
        adapter[name] = func(adapter.get(name), *args)
    except ValueError as exc:
        adapter[name] = None
        problems.setdefault(name, str(exc))


def normalize_item(item: Any) -> Any:
    """Apply the field rules to any of our items in place and return it.

    A field whose text cannot be read is set to ``None`` and its reason is kept in
    ``item.problems``, so validation can reject the item or the store can record it.
    """
    if not isinstance(item, (Article, MostReadEntry, RateQuote)):
        return item  # PageError and the like carry no page fields
    adapter = ItemAdapter(item)
    problems: dict[str, str] = adapter.get("problems") or {}
    adapter["problems"] = problems
    if isinstance(item, Article):
        _set(adapter, problems, "url", canonical_url)
        adapter["section"] = section_of(adapter["url"])
        adapter["lang"] = language(item.lang)
        adapter["title"] = clean_text(item.title)
        adapter["lead"] = clean_text(item.lead)
        adapter["body"] = join_blocks(item.body)
        adapter["author"] = clean_text(item.author)
        _set(adapter, problems, "published_at", parse_datetime)
        _set(adapter, problems, "modified_at", parse_datetime)
        if adapter["modified_at"] == adapter["published_at"]:
            adapter["modified_at"] = None  # JSON-LD repeats datePublished when nothing was edited
            item.sources.pop("modified_at", None)
        adapter["tags"] = clean_tags(item.tags)
        _set(adapter, problems, "image_url", canonical_url, adapter["url"])
        _set(adapter, problems, "views", parse_count)
    elif isinstance(item, MostReadEntry):
        raw_emoji, title = split_emoji(item.title)
        adapter["emoji"] = clean_text(item.emoji) or raw_emoji
        adapter["title"] = title
        _set(adapter, problems, "url", canonical_url)
        for name in ("rank", "views", "comments", "reactions"):
            _set(adapter, problems, name, parse_count)
    elif isinstance(item, RateQuote):
        adapter["currency"] = currency_code(item.currency)
        _set(adapter, problems, "buy", parse_amount)
        _set(adapter, problems, "sell", parse_amount)
    return item


class NormalizePipeline:
    """First pipeline: raw page strings → stored values, for every item class."""

    def process_item(self, item: Any) -> Any:
        return normalize_item(item)
