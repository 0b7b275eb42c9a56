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
from urllib.parse import unquote, urljoin, urlsplit

from lxml import etree
from parsel import Selector

from crawler.fields import canonical_url, clean_text, on_site, section_of
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
TAG_LIST = "ul.article-tags"
VIEWS = 'small[id^="arrilot-widget-container"]'
IMAGE = "img.article-img"
BLOCK_TAGS = {"p", "h2", "h3", "h4", "blockquote", "li"}
#: Inline elements: their text runs on with the text around them. Any other element (div, table
#: cells, h5, …) is a boundary, so text outside the block tags becomes blocks of its own, in order.
INLINE_TAGS = frozenset(
    "a abbr b bdi bdo br cite code data del dfn em font i img ins kbd label mark nobr q s samp small span"
    " strike strong sub sup time tt u var wbr".split()
)
#: Elements a reader never sees: their text is in no field (a <script> inside an <h1> is not the title).
INVISIBLE = "script, style, noscript, template"
# Noise inside the body: related links, code, embeds, ads, figures (captions belong to
# the image, not the body), and controls and media whose text is not prose.
NOISE = (
    f".read-more, {INVISIBLE}, iframe, .banner, .adv, figure, figcaption,"
    " blockquote.twitter-tweet, blockquote.instagram-media, .social-embed, .telegram-post,"
    " svg, button, select, textarea, audio, video, object, canvas"
)
#: Other fields' elements, left out of the body when the site puts them inside its container.
FIELD_PARTS = (TITLE, LEAD, AUTHOR, VIEWS)

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
        """The page's JSON-LD article object, or ``{}``.

        A script that is not JSON (or nests past the parser's limit) is skipped, as is an
        object whose ``@type`` is not a name: the layers below take over.
        """
        return self._ld_read[0]

    @cached_property
    def _ld_read(self) -> tuple[dict[str, Any], str | None]:
        """(the JSON-LD article object or ``{}``, why JSON-LD that might have held it could not be read:
        a script that is not JSON, an object whose ``@type`` is not a name)."""
        error = None
        for script in css(JSONLD_SCRIPTS)(self.root):
            try:
                data = json.loads(script.text or "")
            except (ValueError, RecursionError) as exc:
                error = error or f"a JSON-LD script is not JSON ({_reason(exc)[:200]})"
                continue
            for node in _ld_nodes(data):
                types = node.get("@type")
                if _ld_types(types) & JSONLD_TYPES:
                    return node, None
                if _present(types) and not _ld_types(types):
                    error = error or f'JSON-LD "@type" holds {_kind(types)}, where a name is expected'
        return {}, error

    @cached_property
    def ld_unreadable(self) -> dict[str, str]:
        """Field → why JSON-LD could not give it: its value is an object, a list or a number where
        text is expected, or no article object was read where a script was not JSON or an object's
        ``@type`` was not a name. Recorded as the field's problem if no layer gives the field."""
        node, error = self._ld_read
        if error:
            return {name: error for name, _ in LD_READERS.values()}
        found = {}
        for key, (name, read) in LD_READERS.items():
            value = node.get(key)
            if _present(value) and _empty(read(value)):
                found[name] = f'JSON-LD "{key}" holds {_kind(value)}, where text is expected'
        return found

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
        """The URL to store the page under (see ``canonical_problem``)."""
        return self._canonical[0]

    def canonical_problem(self) -> str | None:
        """Why the page's canonical link was not taken, or ``None``."""
        return self._canonical[1]

    @cached_property
    def _canonical(self) -> tuple[str, str | None]:
        """The canonical link, normalised, when it names this very page; else the fetched URL, with why.

        The site is the one the page was fetched from (``self.url``: the spider fetches only the
        base URL's host), so a canonical on another host, or naming another article of ours, is
        never taken: it would store the page as another site's, or overwrite another article's row.
        """
        try:
            fetched = canonical_url(self.url, self.url) or self.url
        except ValueError:
            return self.url, None  # normalise records why the URL is unreadable
        found = css(CANONICAL)(self.root)
        href = clean_text(found[0].get("href")) if found else None
        if href is None:
            return fetched, None
        try:
            target = canonical_url(href, fetched) or fetched
        except ValueError:
            return fetched, f"canonical link {href!r} is not an http(s) URL: stored under the fetched URL"
        if not on_site(target, fetched):
            return fetched, f"canonical link {target} is on another host: stored under the fetched URL"
        if section_of(target) is None:
            return fetched, f"canonical link {target} is not an article page: stored under the fetched URL"
        if unquote(urlsplit(target).path) != unquote(urlsplit(fetched).path):
            return fetched, f"canonical link {target} names another article: stored under the fetched URL"
        return target, None

    def lang(self) -> tuple[str | None, str]:
        return _first(
            (SITE, lambda: self.root.get("lang")),
            (JSONLD, lambda: _str(self.ld.get("inLanguage"))),
            (META, lambda: self.meta("og:locale")),
        )

    def title(self) -> tuple[str | None, str]:
        return _first(
            (SITE, lambda: _visible_text(self.root, TITLE)),
            (JSONLD, lambda: _str(self.ld.get("headline"))),
            (META, lambda: self.meta("og:title")),
        )

    def lead(self) -> tuple[str | None, str]:
        # Site only: a description in meta is not the article's lead.
        return _first((SITE, lambda: _visible_text(self.root, LEAD)))

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
        top = found[0]
        skip = set(css(NOISE)(top)) | set(css(TAG_LIST)(top))
        for query in FIELD_PARTS:  # the lead (or title, author, views) inside the container is not body
            part = css(query)(self.root)
            if part and any(parent is top for parent in part[0].iterancestors()):
                skip.add(part[0])
        time = xpath(PUBLISHED)(self.root)
        if time and _standalone(time[0], top):  # the dateline, not a date inside a sentence
            skip.add(time[0])
        return [text for text in _body_blocks(top, skip) if text.strip()]

    def _generic_body(self) -> list[str]:
        """Main text by trafilatura, minus the title and lead it also finds."""
        import trafilatura  # imported here: it is only needed when the page's layout is unknown

        text = trafilatura.extract(self.sel.get(), include_comments=False, include_tables=False, favor_precision=True)
        skip = {(self.title()[0] or "").strip(), (self.lead()[0] or "").strip()}
        return [line for line in (text or "").split("\n") if line.strip() and line.strip() not in skip]

    def author(self) -> tuple[str | None, str]:
        return _first(
            (SITE, lambda: _visible_text(self.root, AUTHOR)),
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
        """The raw ``Article``. A field that cannot be read, whatever the exception, is empty
        with its reason in ``problems``: one bad value never costs the rest of the page."""
        try:
            item = Article(url=self.canonical(), captured_at=captured_at)
            problem = self.canonical_problem()
        except Exception as exc:  # the page's own URL stands in, as when there is no canonical link
            item = Article(url=self.url, captured_at=captured_at)
            problem = f"canonical link unreadable ({_reason(exc)}): stored under the fetched URL"
        if problem:
            item.problems["url"] = problem
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
            try:
                value, layer = read()
            except Exception as exc:
                value, layer = ([] if name in LIST_FIELDS else None), ""
                item.problems[name] = _reason(exc)
            setattr(item, name, value)
            if not _empty(value):
                item.sources[name] = layer
            elif name in self.ld_unreadable:
                item.problems.setdefault(name, self.ld_unreadable[name])
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


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _ld_nodes(data: Any) -> list[dict[str, Any]]:
    """Every object of a JSON-LD document and of its ``@graph``, in document order.

    Its own stack, not recursion: JSON nested as deep as the parser allows must not overflow here.
    """
    nodes, stack = [], [data]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(reversed(value))
        elif isinstance(value, dict):
            nodes.append(value)
            stack.append(value.get("@graph", []))
    return nodes


def _ld_types(value: Any) -> set[str]:
    """The names in an ``@type`` (a name or a list of names); anything else names nothing."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {v for v in value if isinstance(v, str)}
    return set()


def _ld_name(value: Any) -> str | None:
    if isinstance(value, dict):
        return _str(value.get("name"))
    return _str(value)


def _ld_author(value: Any) -> str | None:
    if isinstance(value, list):
        names = [_ld_name(v) for v in value]
        return ", ".join(n for n in names if n) or None
    return _ld_name(value)


def _ld_image(value: Any) -> str | None:
    while isinstance(value, list):  # the first of a list (of lists): a loop, whatever the depth
        value = value[0] if value else None
    if isinstance(value, dict):
        return _str(value.get("url")) or _str(value.get("contentUrl"))
    return _str(value)


def _present(value: Any) -> bool:
    """A JSON value that holds something: not null, not blank text, not an empty list or object."""
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, dict)):
        return bool(value)
    return value is not None


def _kind(value: Any) -> str:
    """A JSON value's kind, for a reason a reader can follow."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {dict: "an object", list: "a list"}.get(type(value), f"a {type(value).__name__}")


def _ld_keywords(value: Any) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, str):
        return value.split(",")
    return []


#: JSON-LD key → (the field it feeds, the reader that takes text out of it).
LD_READERS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "inLanguage": ("lang", _str),
    "headline": ("title", _str),
    "articleBody": ("body", _str),
    "author": ("author", _ld_author),
    "datePublished": ("published_at", _str),
    "dateModified": ("modified_at", _str),
    "keywords": ("tags", _ld_keywords),
    "image": ("image_url", _ld_image),
}
#: Fields whose empty value is an empty list.
LIST_FIELDS = ("body", "tags")


def _paragraphs(text: str | None) -> list[str]:
    """A plain-text body (JSON-LD ``articleBody``) split into its paragraphs."""
    if not text:
        return []
    separator = "\n\n" if "\n\n" in text else "\n"
    return [p for p in text.split(separator) if p.strip()]


def _visible_text(root: etree._Element, query: str) -> str | None:
    """Text of the first element matching ``query``, without what a reader never sees (scripts, styles)."""
    found = css(query)(root)
    if not found:
        return None
    return element_text(found[0], set(css(INVISIBLE)(found[0])))


def _standalone(el: etree._Element, top: etree._Element) -> bool:
    """Is ``el`` inside ``top`` but in no block tag (a dateline, not words of a paragraph)?"""
    for parent in el.iterancestors():
        if parent is top:
            return True
        if parent.tag in BLOCK_TAGS:
            return False
    return False


def _holders(top: etree._Element, tags: set[str] | None) -> set[etree._Element]:
    """Elements below ``top`` holding a descendant whose tag is in ``tags`` (``None``: any non-inline tag)."""
    found: set[etree._Element] = set()
    for el in top.iter():
        if not isinstance(el.tag, str) or el is top or (el.tag in INLINE_TAGS if tags is None else el.tag not in tags):
            continue
        for parent in el.iterancestors():
            if parent is top or parent in found:
                break  # the ones above are marked already
            found.add(parent)
    return found


def _body_blocks(top: etree._Element, skip: set[etree._Element]) -> list[str]:
    """The body's blocks in document order: each innermost block tag's text (a ``p`` inside a quote,
    not both), and the text standing outside them (bare, in a div, a table cell, an h5) as blocks
    of their own between them. Elements in ``skip`` (noise) are left out, their tail text stays.

    A walk with its own stack, not recursion: however deep a page nests, its text is read.
    """
    holds_block, holds_boundary = _holders(top, BLOCK_TAGS), _holders(top, None)
    blocks: list[str] = []
    run: list[str] = [top.text or ""]  # inline text since the last boundary

    def flush() -> None:
        if run:
            blocks.append("".join(run))
            run.clear()

    stack = [(top, iter(top))]
    while stack:
        el, children = stack[-1]
        child = next(children, None)
        if child is None:  # the end of a boundary element: what follows it is a new block
            stack.pop()
            if stack:
                flush()
                run.append(el.tail or "")
            continue
        if isinstance(child.tag, str) and child not in skip:  # not a comment, not noise
            if child.tag in BLOCK_TAGS and child not in holds_block:
                flush()
                blocks.append(element_text(child, skip))
            elif child.tag in INLINE_TAGS and child not in holds_boundary:
                run.append(" " if child.tag == "br" else element_text(child, skip))
            else:  # a boundary (div, td, h5, a quote holding paragraphs): walk into it
                flush()
                run.append(child.text or "")
                stack.append((child, iter(child)))
                continue
        run.append(child.tail or "")
    flush()
    return blocks
