"""Article pages (``/novosti/<slug>``, ``/stati/<slug>``, …): one method per field."""

from __future__ import annotations

import copy
from urllib.parse import urljoin

from lxml import etree
from parsel import Selector

from crawler.items import Article
from crawler.pages.base import as_selector, element_text, first_text

CANONICAL = 'link[rel="canonical"]::attr(href)'
LANG = "html::attr(lang)"
TITLE = "h1"
LEAD = ".article-excerpt"
BODY = "div.article"
AUTHOR = ".article-author"
# The publication time: the first <time> after the title (the sidebar has none).
PUBLISHED = "//h1/following::time[1]"
MODIFIED_META = 'meta[property="article:modified_time"]::attr(content)'
TAGS = "ul.article-tags a"
VIEWS = 'small[id^="arrilot-widget-container"]'
IMAGE = "img.article-img"
OG_IMAGE = 'meta[property="og:image"]::attr(content)'

BLOCK_TAGS = {"p", "h2", "h3", "h4", "blockquote", "li"}
# Noise inside the body: related links, code, embeds, ads, and figures (captions
# belong to the image, not the body).
NOISE = (
    ".read-more, script, style, noscript, iframe, .banner, .adv, figure, figcaption,"
    " blockquote.twitter-tweet, blockquote.instagram-media, .social-embed"
)


class ArticlePage:
    """Reads one article page; ``to_item()`` builds the raw ``Article``."""

    def __init__(self, page: str | bytes | Selector, url: str) -> None:
        self.sel = as_selector(page)
        self.url = url

    def canonical(self) -> str:
        href = self.sel.css(CANONICAL).get()
        return _join(self.url, href) if href and href.strip() else self.url

    def lang(self) -> str | None:
        return self.sel.css(LANG).get()

    def title(self) -> str | None:
        return first_text(self.sel, TITLE)

    def lead(self) -> str | None:
        return first_text(self.sel, LEAD)

    def body(self) -> list[str]:
        found = self.sel.css(BODY)
        if not found:
            return []
        root = copy.deepcopy(found[0].root)
        for noise in Selector(root=root).css(NOISE):
            _drop(noise.root)
        return [element_text(el) for el in _leaf_blocks(root)]

    def author(self) -> str | None:
        return first_text(self.sel, AUTHOR)

    def published_at(self) -> str | None:
        found = self.sel.xpath(PUBLISHED)
        if not found:
            return None
        return found[0].attrib.get("datetime") or element_text(found[0].root)

    def modified_at(self) -> str | None:
        return self.sel.css(MODIFIED_META).get()

    def tags(self) -> list[str]:
        return [element_text(a.root) for a in self.sel.css(TAGS)]

    def image_url(self) -> str | None:
        img = self.sel.css(IMAGE)
        src = img and (img[0].attrib.get("data-src") or img[0].attrib.get("src"))
        src = src or self.sel.css(OG_IMAGE).get()
        return _join(self.url, src) if src else None

    def views(self) -> str | None:
        return first_text(self.sel, VIEWS)

    def to_item(self, captured_at: str | None = None) -> Article:
        return Article(
            url=self.canonical(),
            lang=self.lang(),
            title=self.title(),
            lead=self.lead(),
            body=self.body(),
            author=self.author(),
            published_at=self.published_at(),
            modified_at=self.modified_at(),
            tags=self.tags(),
            image_url=self.image_url(),
            views=self.views(),
            captured_at=captured_at,
        )


def parse_article(page: str | bytes | Selector, url: str, captured_at: str | None = None) -> Article:
    """The raw ``Article`` of one article page."""
    return ArticlePage(page, url).to_item(captured_at)


def _join(base: str, href: str) -> str:
    return urljoin(base, href.strip())


def _drop(el: etree._Element) -> None:
    """Remove an element but keep its tail text in place."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    if tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def _leaf_blocks(root: etree._Element) -> list[etree._Element]:
    """Block elements in document order, innermost only (a ``p`` inside a quote, not both)."""
    blocks = []
    for el in root.iter(*BLOCK_TAGS):
        if any(isinstance(d.tag, str) and d.tag in BLOCK_TAGS for d in el.iterdescendants()):
            continue
        blocks.append(el)
    return blocks
