"""Dated versions of each page type's extractor, picked by when a page was fetched.

The site redesigns; pages archived before a redesign must still parse after it (as
fundus does for its publishers). So each page type ("article", "listing",
"most_read", "rates", "feed") has an ordered tuple of versions, each valid on a
half-open range ``[valid_from, valid_until)`` of fetch times. A crawl uses the current
version (``parser_for(page_type)``); ``reparse`` and saved-page previews pass the
page's fetch time (``parser_for(page_type, fetched_at)``). Ranges of one page type
follow each other with no gap and no overlap, which ``check_registry`` enforces at import.

Adding a version when the site redesigns (say the article page on 2026-06-01):

1. Write the new extractor beside the old one, never editing the old one (pages from
   before the redesign still need it). For the article page, subclass the current
   page object in a new module and override only what changed, one field method each::

       class ArticlePageV2(ArticlePage):          # crawler/pages/article_v2.py
           def title(self) -> tuple[str | None, str]: ...

       def parse_article_v2(page, url, captured_at=None, listing_published=None) -> Article:
           return ArticlePageV2(page, url, listing_published).to_item(captured_at)

   The function-style page types (listing, sidebar, rates, feed) get a new function
   with the same signature, in a new module that reuses the old one's helpers.
2. Close the old range and open the new one at the same moment, below::

       "article": (
           PageVersion("v1", None, REDESIGN, parse_article),
           PageVersion("v2", REDESIGN, None, parse_article_v2),
       ),

3. Point ``crawler.pages.parse_<type>`` at the new version (a test checks it is the
   current one), save a few pages of the new design under ``tests/fixtures/pages``
   with ``"version": "v2"`` and record them (``python -m tests.record NAME``). The old
   fixtures keep naming ``v1`` and go on testing the old version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from crawler.fields import KZ_TZ
from crawler.pages.article import parse_article
from crawler.pages.feed import parse_feed
from crawler.pages.listing import parse_listing
from crawler.pages.rates import parse_rates
from crawler.pages.sidebar import parse_most_read


@dataclass(frozen=True)
class PageVersion:
    """One extractor of one page type, valid for pages fetched in ``[valid_from, valid_until)``.

    ``None`` is an open end. ``parse`` keeps the page type's signature, e.g.
    ``parse_article(sel, url, captured_at, listing_published=None)``.
    """

    name: str
    valid_from: datetime | None
    valid_until: datetime | None
    parse: Callable[..., Any]

    def __post_init__(self) -> None:
        for bound in (self.valid_from, self.valid_until):
            if bound is not None and bound.utcoffset() is None:
                raise ValueError(f"version {self.name}: {bound} has no time zone")
        if self.valid_from is not None and self.valid_until is not None and self.valid_from >= self.valid_until:
            raise ValueError(f"version {self.name}: empty range {self.valid_from} .. {self.valid_until}")

    def covers(self, at: datetime) -> bool:
        """Whether a page fetched at ``at`` (aware) falls in this version's range."""
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_until is None or at < self.valid_until
        )


Registry = Mapping[str, tuple[PageVersion, ...]]


def check_registry(registry: Registry) -> Registry:
    """The registry itself, if every page type's versions are named once and follow each other
    with no gap and no overlap; ``ValueError`` otherwise. A wrong range would silently send
    archived pages to the wrong extractor, so it fails at import instead."""
    for page_type, versions in registry.items():
        if not versions:
            raise ValueError(f"{page_type}: no versions")
        names = [v.name for v in versions]
        if len(set(names)) != len(names):
            raise ValueError(f"{page_type}: a version name is used twice: {names}")
        for old, new in pairwise(versions):
            if old.valid_until is None or new.valid_from is None:
                raise ValueError(f"{page_type}: {old.name} and {new.name} overlap (an open end between them)")
            if old.valid_until < new.valid_from:
                raise ValueError(f"{page_type}: gap between {old.name} and {new.name}")
            if old.valid_until > new.valid_from:
                raise ValueError(f"{page_type}: {old.name} and {new.name} overlap")
    return registry


#: Every page type's versions, oldest first. Today's extractors are ``v1``, valid always.
VERSIONS: Registry = check_registry(
    {
        "article": (PageVersion("v1", None, None, parse_article),),
        "listing": (PageVersion("v1", None, None, parse_listing),),
        "most_read": (PageVersion("v1", None, None, parse_most_read),),
        "rates": (PageVersion("v1", None, None, parse_rates),),
        "feed": (PageVersion("v1", None, None, parse_feed),),
    }
)


def moment(at: str | datetime | None = None) -> datetime:
    """``at`` as an aware datetime: ``None`` is now; an ISO 8601 string is parsed (``ValueError``
    if it is not one); a time without an offset is the site's own, Kazakhstan time."""
    if at is None:
        return datetime.now(UTC)
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.utcoffset() is not None else at.replace(tzinfo=KZ_TZ)


def pick(versions: Sequence[PageVersion], at: datetime) -> PageVersion:
    """The version of a checked, oldest-first tuple whose range holds ``at``; the oldest for a
    moment before every range, the newest for one after every range."""
    for version in versions:
        if version.valid_until is None or at < version.valid_until:
            return version
    return versions[-1]


def version_for(page_type: str, at: str | datetime | None = None) -> PageVersion:
    """The version of ``page_type`` for a page fetched at ``at`` (ISO 8601 string or aware
    datetime; ``None`` = now, i.e. the current version). A moment before every version's range
    gets the oldest version, one after every range the newest. Unknown page type: ``ValueError``."""
    return pick(_versions(page_type), moment(at))


def parser_for(page_type: str, at: str | datetime | None = None) -> Callable[..., Any]:
    """The parser of ``page_type`` for a page fetched at ``at`` (ISO 8601 string or aware
    datetime; ``None`` = now, the current version). A moment before every version's range gets
    the oldest version, one after every range the newest. Unknown page type: ``ValueError``."""
    return version_for(page_type, at).parse


def version_named(page_type: str, name: str) -> PageVersion:
    """The version of ``page_type`` called ``name`` (saved-page fixtures name theirs);
    ``ValueError`` when the page type or the name is unknown."""
    for version in _versions(page_type):
        if version.name == name:
            return version
    known = ", ".join(v.name for v in _versions(page_type))
    raise ValueError(f"{page_type} has no version {name!r} (known: {known})")


def _versions(page_type: str) -> tuple[PageVersion, ...]:
    try:
        return VERSIONS[page_type]
    except KeyError:
        raise ValueError(f"unknown page type {page_type!r} (known: {', '.join(VERSIONS)})") from None
