"""Normalise: the first pipeline, raw page strings → the stored values of the field contract."""

from __future__ import annotations

import math
from typing import Any

from crawler.fields import (
    canonical_url,
    clean_tags,
    clean_text,
    currency_code,
    language,
    parse_amount,
    parse_count,
    parse_datetime,
    readable_body,
    readable_text,
    section_of,
    split_emoji,
)
from crawler.items import Article, MostReadEntry, RateQuote
from pipelines.validate import Rejected

#: SQLite's INTEGER is 64-bit: a larger count could not be stored at all.
MAX_COUNT = 2**63 - 1


def reason_of(exc: BaseException) -> str:
    """An exception as a recorded reason: a field rule's ``ValueError`` says it all; others say their type."""
    if isinstance(exc, ValueError) and str(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _set(item: Any, problems: dict[str, str], name: str, func: Any, *args: Any) -> None:
    """Set ``name`` to ``func(value)``; a value that cannot be read becomes a recorded problem.

    Any exception, not only ``ValueError``: a far date overflows (``OverflowError``), a value of
    the wrong type raises ``TypeError``. The field is NULL, the item and its other fields go on.
    """
    try:
        setattr(item, name, func(getattr(item, name), *args))
    except Exception as exc:
        setattr(item, name, None)
        problems.setdefault(name, reason_of(exc))


def count(value: Any) -> int | None:
    """``parse_count``, within what SQLite can store."""
    number = parse_count(value)
    if number is not None and not -MAX_COUNT <= number <= MAX_COUNT:
        raise ValueError(f"too large for a count: {value!r}")
    return number


def amount(value: Any) -> float | None:
    """``parse_amount``, finite (digits past a float's range read as infinity)."""
    number = parse_amount(value)
    if number is not None and not math.isfinite(number):
        raise ValueError(f"too large for an amount: {value!r}")
    return number


def normalize_item(item: Any) -> Any:
    """Apply the field rules to any of our items in place and return it.

    A field whose text cannot be read is set to ``None`` and its reason is kept in
    ``item.problems``, so validation can reject the item or the store can record it.
    Our items are dataclasses: their fields are read and set as attributes (an ``ItemAdapter``
    would cost more than the rules it applies).
    """
    if not isinstance(item, (Article, MostReadEntry, RateQuote)):
        return item  # PageError and the like carry no page fields
    problems: dict[str, str] = item.problems or {}
    item.problems = problems
    if isinstance(item, Article):
        _set(item, problems, "url", canonical_url)
        fetched = item.http.get("url") if isinstance(item.http, dict) else None
        if item.url is None and fetched:  # an unreadable canonical: the fetched URL names the page
            _set(item, problems, "url", lambda _: canonical_url(fetched))
            if item.url is not None:
                problems["url"] = f"{problems.get('url', 'unreadable')}: stored under the fetched URL"
        _set(item, problems, "section", lambda _: section_of(item.url))
        _set(item, problems, "lang", language)
        for name in ("title", "lead", "author"):
            _set(item, problems, name, readable_text)
        _set(item, problems, "body", readable_body)
        _set(item, problems, "published_at", parse_datetime)
        _set(item, problems, "modified_at", parse_datetime)
        if item.modified_at is not None and item.modified_at == item.published_at:
            item.modified_at = None  # JSON-LD repeats datePublished when nothing was edited
            item.sources.pop("modified_at", None)
        _set(item, problems, "tags", clean_tags)
        _set(item, problems, "image_url", canonical_url, item.url)
        _set(item, problems, "views", count)
    elif isinstance(item, MostReadEntry):
        try:
            raw_emoji, item.title = split_emoji(item.title)
        except Exception as exc:
            raw_emoji, item.title = None, None
            problems.setdefault("title", reason_of(exc))
        _set(item, problems, "emoji", lambda raw: clean_text(raw) or raw_emoji)
        _set(item, problems, "url", canonical_url)
        for name in ("rank", "views", "comments", "reactions"):
            _set(item, problems, name, count)
    elif isinstance(item, RateQuote):
        _set(item, problems, "currency", currency_code)
        _set(item, problems, "buy", amount)
        _set(item, problems, "sell", amount)
    return item


class NormalizePipeline:
    """First pipeline: raw page strings → stored values, for every item class."""

    def process_item(self, item: Any) -> Any:
        """Any exception becomes a ``Rejected`` (recorded by the store), never Scrapy's bare log line."""
        try:
            return normalize_item(item)
        except Exception as exc:
            raise Rejected(None, f"could not be normalised: {type(exc).__name__}: {exc}") from exc
