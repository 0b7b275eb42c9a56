"""The records the pipeline produces, declared once.

Page objects fill these with the raw strings a page carries; the normalise
pipeline turns them into the stored values of the anatomy's field contract.
Pipelines handle them through ``itemadapter`` and never care which class they hold.
``problems`` maps a field to why it could not be read; it is recorded, not stored
as a column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Article:
    """One article page: upserted into ``articles`` by canonical URL."""

    url: str | None = None
    section: str | None = None
    lang: str | None = None
    title: str | None = None
    lead: str | None = None
    body: Any = None  # list of block texts from the page; one string once normalised
    author: str | None = None
    published_at: str | None = None
    modified_at: str | None = None
    tags: list[str] = field(default_factory=list)
    image_url: str | None = None
    views: Any = None
    captured_at: str | None = None
    #: Which layer produced each field: site, jsonld, meta, generic or listing.
    sources: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    #: Field → a doubt about a value that was read all the same (layers that disagree, and which
    #: was taken): recorded with the page's problems, never a reason to reject.
    notes: dict[str, str] = field(default_factory=dict)
    #: The fetch behind it (requested URL, ETag, Last-Modified), kept for conditional requests.
    http: dict[str, str | None] = field(default_factory=dict)


@dataclass
class MostReadEntry:
    """One entry of the most-read sidebar, in one snapshot."""

    rank: Any = None
    emoji: str | None = None
    title: str | None = None
    url: str | None = None
    views: Any = None
    comments: Any = None
    reactions: Any = None
    captured_at: str | None = None
    problems: dict[str, str] = field(default_factory=dict)


@dataclass
class RateQuote:
    """One currency of the rates widget, in one snapshot (tenge)."""

    currency: str | None = None
    buy: Any = None
    sell: Any = None
    captured_at: str | None = None
    problems: dict[str, str] = field(default_factory=dict)


@dataclass
class PageError:
    """A page that could not be fetched or parsed: recorded in ``crawl_errors``."""

    url: str
    stage: str  # fetch | parse | layers
    reason: str
    http_status: int | None = None
    captured_at: str | None = None
    #: The part of the site whose layout this shows has drifted (``most_read``, ``rates``, ``listing``):
    #: a widget missing or found only by its shape, no next listing page. Counted in the run's warning.
    drift: str | None = None


@dataclass
class Unchanged:
    """A page that answered ``304 Not Modified``: it is as stored at its last full download, so the
    failures recorded for it since are resolved. Nothing else is written."""

    url: str
    captured_at: str | None = None
