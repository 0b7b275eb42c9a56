"""Article pages (``/novosti/<slug>``, ``/stati/<slug>``, …): one method per field, in layers.

Each field is read from the site's own markup first, then from the JSON-LD
``NewsArticle``, then from OpenGraph / ``article:*`` meta, and for the body last
from a generic main-text extractor. The layer that produced each field is kept in
``Article.sources``, so a redesign shows up as fallbacks instead of empty fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from typing import Any
from urllib.parse import urljoin

from lxml import etree
from parsel import Selector

from crawler.items import Article
from crawler.pages.base import as_selector, css, element_text, first_text, xpath

SITE, JSONLD, META, GENERIC, LISTING = "site", "jsonld", "meta", "generic", "listing"
#: Fields whose fallback means the site's own layout was not recognised.
CORE_FIELDS = ("title", "published_at", "body")

# The site's own markup.
CANONICAL = 'link[rel="canonical"]'
TITLE = "h1"
LEAD = ".article-excerpt"
BODY = "div.article"
AUTHOR = ".article-author"
PUBLISHED = "//h1/following::time[1]"  # the first <time> after the title (the sidebar has none)
TAGS = "ul.article-tags a"
VIEWS = 'small[id^="arrilot-widget-container"]'
IMAGE = "img.article-img"
BLOCK_TAGS = {"p", "h2", "h3", "h4", "blockquote", "li"}
# Noise inside the body: related links, code, embeds, ads, and figures (captions
# belong to the image, not the body).
NOISE = (
    ".read-more, script, style, noscript, iframe, .banner, .adv, figure, figcaption,"
    " blockquote.twitter-tweet, blockquote.instagram-media, .social-embed, .telegram-post"
)

# Structured data and meta.
JSONLD_SCRIPTS = 'script[type="application/ld+json"]'
JSONLD_TYPES = {"NewsArticle", "Article", "ReportageNewsArticle", "AnalysisNewsArticle", "BlogPosting"}
META_TAGS = "//head/meta[@content] | //body//meta[@content]"


class ArticlePage:
    """Reads one article page; ``to_item()`` builds the raw ``Article`` with its sources."""

    def __init__(self, page: str | bytes | Selector, url: str, listing_published: str | None = None) -> None:
        self.sel = as_selector(page)
        self.root = self.sel.root
        self.url = url
        self.listing_published = listing_published

    # -- layers ---------------------------------------------------------------

    @cached_property
    def ld(self) -> dict[str, Any]:
        """The page's JSON-LD article object, or ``{}``."""
        for script in css(JSONLD_SCRIPTS)(self.root):
            try:
                data = json.loads(script.text or "")
            except ValueError:
                continue
            for node in _ld_nodes(data):
                types = node.get("@type")
                types = set(types) if isinstance(types, list) else {types}
                if types & JSONLD_TYPES:
                    return node
        return {}

    @cached_property
    def metas(self) -> dict[str, list[str]]:
        """Every ``<meta property|name=… content=…>`` of the page, read in one pass."""
        found: dict[str, list[str]] = {}
        for el in xpath(META_TAGS)(self.root):
            key = el.get("property") or el.get("name")
            if key:
                found.setdefault(key, []).append(el.get("content"))
        return found

    def meta(self, prop: str) -> str | None:
        values = self.metas.get(prop)
        value = values[0] if values else None
        return value if value and value.strip() else None

    # -- fields: each returns (raw value, layer) ----------------------------------

    def canonical(self) -> str:
        found = css(CANONICAL)(self.root)
        href = found[0].get("href") if found else None
        return urljoin(self.url, href.strip()) if href and href.strip() else self.url

    def lang(self) -> tuple[str | None, str]:
        return _first(
            (SITE, lambda: self.root.get("lang")),
            (JSONLD, lambda: _str(self.ld.get("inLanguage"))),
            (META, lambda: self.meta("og:locale")),
        )

    def title(self) -> tuple[str | None, str]:
        return _first(
            (SITE, lambda: first_text(self.root, TITLE)),
            (JSONLD, lambda: _str(self.ld.get("headline"))),
            (META, lambda: self.meta("og:title")),
        )

    def lead(self) -> tuple[str | None, str]:
        # Site only: a description in meta is not the article's lead.
        return _first((SITE, lambda: first_text(self.root, LEAD)))

    def body(self) -> tuple[list[str], str]:
        blocks, layer = _first(
            (SITE, self._site_body),
            (JSONLD, lambda: _paragraphs(_str(self.ld.get("articleBody")))),
            (GENERIC, self._generic_body),
        )
        return blocks or [], layer

    def _site_body(self) -> list[str]:
        found = css(BODY)(self.root)
        if not found:
            return []
        noise = set(css(NOISE)(found[0]))
        texts = (element_text(el, noise) for el in _leaf_blocks(found[0]) if not _inside(el, noise, found[0]))
        return [text for text in texts if text.strip()]

    def _generic_body(self) -> list[str]:
        """Main text by trafilatura, minus the title and lead it also finds."""
        import trafilatura  # imported here: it is only needed when the page's layout is unknown

        text = trafilatura.extract(self.sel.get(), include_comments=False, include_tables=False, favor_precision=True)
        skip = {(self.title()[0] or "").strip(), (self.lead()[0] or "").strip()}
        return [line for line in (text or "").split("\n") if line.strip() and line.strip() not in skip]

    def author(self) -> tuple[str | None, str]:
        return _first(
            (SITE, lambda: first_text(self.root, AUTHOR)),
            (JSONLD, lambda: _ld_author(self.ld.get("author"))),
            (META, lambda: self.meta("article:author") or self.meta("author")),
        )

    def published_at(self) -> tuple[str | None, str]:
        return _first(
            (SITE, self._site_time),
            (JSONLD, lambda: _str(self.ld.get("datePublished"))),
            (META, lambda: self.meta("article:published_time")),
            (LISTING, lambda: self.listing_published),
        )

    def _site_time(self) -> str | None:
        found = xpath(PUBLISHED)(self.root)
        if not found:
            return None
        return found[0].get("datetime") or element_text(found[0])

    def modified_at(self) -> tuple[str | None, str]:
        return _first(
            (JSONLD, lambda: _str(self.ld.get("dateModified"))),
            (META, lambda: self.meta("article:modified_time")),
        )

    def tags(self) -> tuple[list[str], str]:
        tags, layer = _first(
            (SITE, lambda: [element_text(a) for a in css(TAGS)(self.root)]),
            (JSONLD, lambda: _ld_keywords(self.ld.get("keywords"))),
            (META, lambda: self.metas.get("article:tag", [])),
        )
        return tags or [], layer

    def image_url(self) -> tuple[str | None, str]:
        src, layer = _first(
            (SITE, self._site_image),
            (JSONLD, lambda: _ld_image(self.ld.get("image"))),
            (META, lambda: self.meta("og:image")),
        )
        return (urljoin(self.url, src.strip()) if src else None), layer

    def _site_image(self) -> str | None:
        img = css(IMAGE)(self.root)
        return (img[0].get("data-src") or img[0].get("src")) if img else None

    def views(self) -> tuple[str | None, str]:
        return _first((SITE, lambda: first_text(self.root, VIEWS)))

    def to_item(self, captured_at: str | None = None) -> Article:
        item = Article(url=self.canonical(), captured_at=captured_at)
        readers: dict[str, Callable[[], tuple[Any, str]]] = {
            "lang": self.lang,
            "title": self.title,
            "lead": self.lead,
            "body": self.body,
            "author": self.author,
            "published_at": self.published_at,
            "modified_at": self.modified_at,
            "tags": self.tags,
            "image_url": self.image_url,
            "views": self.views,
        }
        for name, read in readers.items():
            value, layer = read()
            setattr(item, name, value)
            if not _empty(value):
                item.sources[name] = layer
        return item


def parse_article(
    page: str | bytes | Selector, url: str, captured_at: str | None = None, listing_published: str | None = None
) -> Article:
    """The raw ``Article`` of one article page."""
    return ArticlePage(page, url, listing_published).to_item(captured_at)


def needed_fallback(sources: dict[str, str]) -> bool:
    """True when a core field did not come from the site's own markup: a sign of layout drift."""
    return any(sources.get(name, SITE) != SITE for name in CORE_FIELDS)


# -- helpers -------------------------------------------------------------------


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list):
        return not any(isinstance(v, str) and v.strip() for v in value)
    return False


def _first(*layers: tuple[str, Callable[[], Any]]) -> tuple[Any, str]:
    """The first layer's non-empty value, with its name; the last layer's name if all are empty."""
    value: Any = None
    for layer, read in layers:
        value = read()
        if not _empty(value):
            return value, layer
    return value, layers[-1][0]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _ld_nodes(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, list):
        return [node for item in data for node in _ld_nodes(item)]
    if isinstance(data, dict):
        return [data, *_ld_nodes(data.get("@graph", []))]
    return []


def _ld_author(value: Any) -> str | None:
    if isinstance(value, list):
        names = [_ld_author(v) for v in value]
        return ", ".join(n for n in names if n) or None
    if isinstance(value, dict):
        return _str(value.get("name"))
    return _str(value)


def _ld_image(value: Any) -> str | None:
    if isinstance(value, list):
        return _ld_image(value[0]) if value else None
    if isinstance(value, dict):
        return _str(value.get("url")) or _str(value.get("contentUrl"))
    return _str(value)


def _ld_keywords(value: Any) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, str):
        return value.split(",")
    return []


def _paragraphs(text: str | None) -> list[str]:
    """A plain-text body (JSON-LD ``articleBody``) split into its paragraphs."""
    if not text:
        return []
    separator = "\n\n" if "\n\n" in text else "\n"
    return [p for p in text.split(separator) if p.strip()]


def _inside(el: etree._Element, noise: set[etree._Element], top: etree._Element) -> bool:
    """Is ``el`` noise, or inside noise, below ``top``?"""
    while el is not None and el is not top:
        if el in noise:
            return True
        el = el.getparent()
    return False


def _leaf_blocks(root: etree._Element) -> list[etree._Element]:
    """Block elements in document order, innermost only (a ``p`` inside a quote, not both)."""
    blocks = []
    for el in root.iter(*BLOCK_TAGS):
        if any(isinstance(d.tag, str) and d.tag in BLOCK_TAGS for d in el.iterdescendants()):
            continue
        blocks.append(el)
    return blocks
