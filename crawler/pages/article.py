"""Article pages (``/novosti/<slug>``, ``/stati/<slug>``, …): one method per field, in layers.

Each field is read from the site's own markup first, then from the JSON-LD
``NewsArticle``, then from OpenGraph / ``article:*`` meta, and for the body last
from a generic main-text extractor. The layer that produced each field is kept in
``Article.sources``, so a redesign shows up as fallbacks instead of empty fields.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from collections.abc import Callable
from datetime import datetime
from difflib import SequenceMatcher
from functools import cached_property
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from lxml import etree
from parsel import Selector

from crawler.fields import canonical_url, clean_text, on_site, parse_datetime, section_of
from crawler.items import Article
from crawler.pages.base import as_selector, element_text, xpath
from crawler.pages.index import PageIndex, has_token_prefix, matcher, select_in
from crawler.pages.widget import holds_loader

SITE, JSONLD, META, GENERIC, LISTING = "site", "jsonld", "meta", "generic", "listing"
#: schema.org microdata in the page's own markup (``itemprop="datePublished" content="…"``).
MICRODATA = "microdata"
#: Fields whose fallback means the site's own layout was not recognised.
CORE_FIELDS = ("title", "published_at", "body")

# The site's own markup.
CANONICAL = 'link[rel="canonical"]'
TITLE = "h1"
#: By class, never by tag: ``<strong class="article-excerpt">`` on 2026 pages, ``<h3 …>`` on 2022 ones.
LEAD = ".article-excerpt"
BODY = "div.article"
#: A ``/cards/`` page's text blocks (inside ``div.article`` on the live site; any outside it are body too).
CARD_CLASS = "article-text-card"
CARDS = f"div.{CARD_CLASS}"
AUTHOR = ".article-author"
PUBLISHED = "//h1/following::time[1]"  # the first <time> after the title (the sidebar has none)
TAGS = "ul.article-tags a"
TAG_LIST = "ul.article-tags"
VIEWS = 'small[id^="arrilot-widget-container"]'
IMAGE = "img.article-img"
#: Where the site keeps its photos (``/storage/photos/<n>/main/…``): a last site reading for the image.
PHOTO_PATH = re.compile(r"/storage/photos/\d+/main/")
#: The microdata publication date; read from ``content``, ``datetime`` or the text, in that order.
MICRODATA_PUBLISHED = '[itemprop~="datePublished"]'
#: A microdata value that is a date only: it names no instant, so it takes no part in the vote.
DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")
BLOCK_TAGS = {"p", "h2", "h3", "h4", "blockquote", "li"}
#: Inline elements: their text runs on with the text around them. Any other element (div, table
#: cells, h5, …) is a boundary, so text outside the block tags becomes blocks of its own, in order.
INLINE_TAGS = frozenset(
    "a abbr b bdi bdo br cite code data del dfn em font i img ins kbd label mark nobr q s samp small span"
    " strike strong sub sup time tt u var wbr".split()
)
#: Elements a reader never sees: their text is in no field (a <script> inside an <h1> is not the title).
INVISIBLE = "script, style, noscript, template"
#: Links to other stories, in the body or beside it.
OTHER_STORIES = ".read-more, ul.several-images-read-more"
# Noise inside the body: related links, code, embeds, ads, figures (captions belong to
# the image, not the body), and controls and media whose text is not prose.
NOISE = (
    f"{OTHER_STORIES}, {INVISIBLE}, iframe, .banner, .adv, figure, figcaption,"
    " blockquote.twitter-tweet, blockquote.instagram-media, .social-embed, .telegram-post,"
    " svg, button, select, textarea, audio, video, object, canvas"
)
#: Banners by class prefix (``div.article-banner``, ``div.article-banner-mobile``, …): a class word starting so
#: (``has_token_prefix``), on any element below the one searched.
BANNER_PREFIX = "article-banner"
#: A "read also" paragraph: ``<p><strong>Читайте также:</strong> <a>…</a></p>`` (the label leads, in bold).
READ_ALSO = re.compile(r"^\s*(?:читайте также|сондай-ақ оқыңыз)", re.I)
READ_ALSO_LABEL = frozenset({"strong", "b"})
#: The template's line after every story; it and whatever the template puts after it are not the story.
APP_PROMO = re.compile(r"^скачайте мобильное приложение informburo\.kz", re.I)
#: Other fields' elements, left out of the body when the site puts them inside its container.
FIELD_PARTS = (TITLE, LEAD, AUTHOR, VIEWS)

# Structured data and meta.
JSONLD_SCRIPTS = 'script[type="application/ld+json"]'
JSONLD_TYPES = {"NewsArticle", "Article", "ReportageNewsArticle", "AnalysisNewsArticle", "BlogPosting"}

# What makes a layer's value implausible (see each field's reader).
#: Where an ``h1`` is the site's chrome, not a story's title: these elements, or classes and ids like these.
CHROME_TAGS = frozenset({"nav", "footer", "aside"})
#: The same as a selector: a date or a photo in there belongs to the page's chrome, not to its story.
CHROME = ", ".join(sorted(CHROME_TAGS))
CHROME_NAMES = re.compile(r"logo|brand|site-?name|site-?title|site-header|masthead|navbar|topbar|menu", re.I)
#: A body shorter than this share of another layer's is a teaser, a summary or a "read also" box.
BODY_SHARE = 0.5
#: A site body shorter than this may be a teaser: it is checked against the generic extractor.
SHORT_BODY = 400
#: Two layers' times this close (seconds) name the same instant (a visible time has no seconds).
SAME_TIME = 120
#: A dateline that is the time of an update, not of publication.
UPDATED = re.compile(r"обновл|изменен|updated|modified|жаңарт", re.I)
#: An "author" that is a link, not a name.
URLISH = re.compile(r"^(?:https?:)?//|^www\.", re.I)
MAX_AUTHOR = 200
#: Bylines other sites mark up: a link to an author page, ``rel=author``, schema.org microdata.
BYLINE = 'a[rel~="author"], [itemprop="author"], a[href*="/author/"], a[href*="/authors/"]'
#: A byline's label, not part of the name.
BYLINE_LABEL = re.compile(r"^(?:by|автор(?:ы)?|авторлар|авторы материала)\s*:?\s+", re.I)
#: JSON-LD types that are an organisation: a publisher, never an author.
ORGANIZATION_TYPES = {"Organization", "NewsMediaOrganization", "Corporation", "NGO", "OnlineBusiness"}
#: The queries every page asks of its whole tree: ``PageIndex`` collects their candidates in two passes.
PAGE_QUERIES = (
    CANONICAL,
    TITLE,
    LEAD,
    BODY,
    CARDS,
    AUTHOR,
    TAGS,
    VIEWS,
    IMAGE,
    MICRODATA_PUBLISHED,
    JSONLD_SCRIPTS,
    CHROME,
    OTHER_STORIES,
    "meta",
    "title",
)


class ArticlePage:
    """Reads one article page; ``to_item()`` builds the raw ``Article`` with its sources."""

    def __init__(self, page: str | bytes | Selector, url: str, listing_published: str | None = None) -> None:
        self.sel = as_selector(page)
        self.root = self.sel.root
        self.url = url
        self.listing_published = listing_published
        #: Field → a doubt about a value that was still read (layers that disagree): recorded, not a problem.
        self.notes: dict[str, str] = {}

    @cached_property
    def _index(self) -> PageIndex:
        """The page's elements for its queries (``PAGE_QUERIES``), found once, not one XPath a query."""
        return PageIndex(self.root, PAGE_QUERIES, (BANNER_PREFIX,))

    @cached_property
    def _document(self) -> PageIndex:
        """The index of the whole document, for what is looked up from its top (``<head>``'s title and metas)."""
        top = self.root.getroottree().getroot()
        return self._index if top is self.root else PageIndex(top, ("meta", "title"))

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
        for script in self._index.select(JSONLD_SCRIPTS):
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
        """Every ``<meta property|name=… content=…>`` of the page (the head's and the body's), read in one pass."""
        found: dict[str, list[str]] = {}
        for el in _meta_tags(self._document):
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
        link = self._index.first(CANONICAL)
        href = clean_text(link.get("href")) if link is not None else None
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
            (JSONLD, lambda: _ld_text(self.ld.get("inLanguage"))),
            (META, lambda: self.meta("og:locale")),
        )

    # -- the title: the story's h1, checked against the other layers -----------------

    def title(self) -> tuple[str | None, str]:
        return self._title[0], self._title[1]

    @cached_property
    def _title(self) -> tuple[str | None, str, etree._Element | None]:
        """(title, layer, the chosen h1 element or ``None``).

        The first ``h1`` that agrees with the JSON-LD headline, ``og:title`` or ``<title>`` is the
        story's (a logo or navigation ``h1`` before it agrees with nothing). When no ``h1`` agrees,
        the structured layers win if they agree with each other or no ``h1`` is plausible (one in
        the site's chrome or naming the site); otherwise the first plausible ``h1`` stays. Any
        disagreement is noted.
        """
        h1s = [(el, text) for el in self._index.select(TITLE) if (text := _clean(element_text(el, _invisible(el))))]
        structured = [(layer, text) for layer, text in self._structured_titles if text]
        plausible = [(el, text) for el, text in h1s if not self._chrome(el, text)]
        page_title = [self._page_title] if self._page_title else []
        for el, text in h1s:  # <title> holds the site's name too: it vouches only for a plausible h1
            voters = [t for _, t in structured] + (page_title if (el, text) in plausible else [])
            if any(_agree(text, other) for other in voters):
                return text, SITE, el
        if structured:
            agreeing = len(structured) > 1 and _agree(structured[0][1], structured[1][1])
            if agreeing or not plausible:
                layer, text = structured[0]
                if h1s:
                    self.notes["title"] = (
                        f"the page's h1 {_quote(h1s[0][1])} agrees with no other layer; took {layer} {_quote(text)}"
                    )
                return text, layer, (plausible[0][0] if plausible else None)
            el, text = plausible[0]
            self.notes["title"] = f"{structured[0][0]} says {_quote(structured[0][1])}; took the page's h1"
            return text, SITE, el
        if plausible:
            return plausible[0][1], SITE, plausible[0][0]
        if h1s:
            self.notes["title"] = f"the only h1, {_quote(h1s[0][1])}, is the site's own, not a story's"
        return None, META, None

    @cached_property
    def _structured_titles(self) -> list[tuple[str, str | None]]:
        return [(JSONLD, _clean(_ld_text(self.ld.get("headline")))), (META, _clean(self.meta("og:title")))]

    @cached_property
    def _page_title(self) -> str | None:
        found = next((el for el in self._document.tagged("title") if _parent_tag(el) == "head"), None)
        return _clean(element_text(found)) if found is not None else None

    @cached_property
    def _site_names(self) -> set[str]:
        """The site's own name in the forms a logo shows it: host, host's first label, og:site_name, publisher."""
        host = (urlsplit(self.url).hostname or "").removeprefix("www.")
        publisher = self.ld.get("publisher")
        names = {host, host.split(".")[0], self.meta("og:site_name"), _ld_name(publisher)}
        return {_words(n) for n in names if isinstance(n, str) and _words(n)}

    def _chrome(self, el: etree._Element, text: str) -> bool:
        """Is this ``h1`` the site's chrome (logo, navigation, footer) rather than a story's title?"""
        if _words(text) in self._site_names:
            return True
        for node in itertools.chain([el], el.iterancestors()):
            if node.tag in ("body", "html"):
                break
            if node.tag in CHROME_TAGS or CHROME_NAMES.search(f"{node.get('class', '')} {node.get('id', '')}"):
                return True
        return False

    def lead(self) -> tuple[str | None, str]:
        # Site only: a description in meta is not the article's lead.
        return _first((SITE, lambda: _visible_text(self._index.first(LEAD))))

    # -- the body: every layer's text, the longest trusted one taken --------------------

    def body(self) -> tuple[list[str], str]:
        """The site's body unless it is much shorter than another layer's (a teaser, a "read also"
        box); JSON-LD's ``articleBody`` unless it is much shorter than the page's main text (a
        summary). The generic extractor runs only when the site's body is missing or in doubt."""
        site = self._site_body()
        ld = _paragraphs(_ld_text(self.ld.get("articleBody")))
        candidates = [(SITE, site), (JSONLD, ld)]
        doubt = not site or len(_joined(site)) < SHORT_BODY or len(_joined(site)) < BODY_SHARE * len(_joined(ld))
        if doubt:
            candidates.append((GENERIC, self._generic_body()))
        present = [(layer, blocks, len(_joined(blocks))) for layer, blocks in candidates if not _empty(blocks)]
        if not present:
            return [], GENERIC if doubt else SITE
        longest = max(size for _, _, size in present)
        layer, blocks, _ = next(c for c in present if c[2] >= BODY_SHARE * longest)
        if present[0][0] != layer:
            sizes = ", ".join(f"{name} {n:,}" for name, _, n in present)
            self.notes["body"] = f"characters by layer: {sizes}; took {layer}"
        return blocks, layer

    def _site_body(self) -> list[str]:
        """The longest of the page's ``div.article`` containers (a teaser or "read also" box may come first),
        with any ``div.article-text-card`` outside every container in document order around it: a
        cards page's text is its cards, wherever the template puts them beside its container. Cards
        on a page with no container at all are not taken alone: they may be a redesign's leftovers,
        a part of a story the other layers then give whole."""
        tops = [el for el in self._index.select(BODY) if not any(a in self._bodies for a in el.iterancestors())]
        best: list[str] = []
        best_top: etree._Element | None = None
        for top in tops:
            blocks = self._container_blocks(top)
            if len(_joined(blocks)) > len(_joined(best)):
                best, best_top = blocks, top
        cards = [el for el in self._index.select(CARDS) if not self._inside_body_or_card(el)]
        if not cards or not tops:
            return best
        order = {el: i for i, el in enumerate(self.root.iter())}
        parts = sorted([*cards, best_top if best_top is not None else tops[0]], key=order.__getitem__)
        return [text for part in parts for text in self._container_blocks(part)]

    def _inside_body_or_card(self, el: etree._Element) -> bool:
        """Is ``el`` within a body container or another card (read with it, not on its own)?"""
        return any(a in self._bodies or _has_class(a, CARD_CLASS) for a in el.iterancestors())

    @cached_property
    def _bodies(self) -> set[etree._Element]:
        return set(self._index.select(BODY))

    def _container_blocks(self, top: etree._Element) -> list[str]:
        """A container's blocks without noise, other fields' elements, the dateline, "read also"
        paragraphs, and the app line the template ends every story with (and what follows it)."""
        elements = [el for el in top.iter() if isinstance(el.tag, str)]  # kept: the walks below reuse them
        noise = _NOISE_OR_TAGS
        skip = {
            el
            for el in elements
            if noise(el)
            or (el is not top and has_token_prefix(el.get("class"), BANNER_PREFIX))
            or (el.tag == "p" and _read_also(el))
        }
        for part in self._field_parts:  # the lead (or title, author, views) inside the container is not body
            if any(parent is top for parent in part.iterancestors()):
                skip.add(part)
        time = self._time_element
        if time is not None and _standalone(time, top):  # the dateline, not a date inside a sentence
            skip.add(time)
        blocks = [text for text in _body_blocks(top, skip, elements) if text.strip()]
        promo = next((i for i, text in enumerate(blocks) if APP_PROMO.match(_clean(text) or "")), None)
        return blocks if promo is None else blocks[:promo]

    @cached_property
    def _field_parts(self) -> list[etree._Element]:
        """The first element of each of ``FIELD_PARTS`` (those the page has)."""
        return [el for el in map(self._index.first, FIELD_PARTS) if el is not None]

    def _generic_body(self) -> list[str]:
        """Main text by trafilatura, minus the title and lead it also finds."""
        import trafilatura  # imported here: it is only needed when the page's layout is in doubt

        text = trafilatura.extract(self.sel.get(), include_comments=False, include_tables=False, favor_precision=True)
        skip = {(self.title()[0] or "").strip(), (self.lead()[0] or "").strip()}
        return [line for line in (text or "").split("\n") if line.strip() and line.strip() not in skip]

    # -- the author: a person's name, from whichever layer gives one -------------------------

    def author(self) -> tuple[str | None, str]:
        """A person's name from the first layer that gives one; the byline markup other sites use
        (``rel=author``, ``itemprop=author``, a link to an author page) is the last layer.
        Not trafilatura's author: on a page naming none it takes a photo credit."""
        candidates: list[tuple[str, Callable[[], str | None]]] = [
            (SITE, lambda: _visible_text(self._index.first(AUTHOR))),
            (JSONLD, lambda: _ld_person(self.ld.get("author"))),
            (META, lambda: self.meta("article:author") or self.meta("author")),
            (GENERIC, self._byline),
        ]
        for layer, read in candidates:
            name = _clean(BYLINE_LABEL.sub("", _clean(read()) or ""))
            if name and len(name) <= MAX_AUTHOR and not URLISH.match(name) and _words(name) not in self._site_names:
                return name, layer
        return None, META

    def _byline(self) -> str | None:
        found = self._index.select(BYLINE)
        if not found:
            return None
        names = select_in(found[0], '[itemprop="name"]')
        return element_text(names[0] if names else found[0], _invisible(found[0]))

    # -- dates: every layer's, read; the one the others agree with taken ----------------------

    def published_at(self) -> tuple[str | None, str]:
        """The site's time unless the structured layers agree on another instant (an "Updated"
        time, a visible time in another offset); a value no layer can read counts as absent."""
        site = self._time_element
        candidates = [
            (SITE, _site_time_text(site) if site is not None else None),
            (JSONLD, _ld_text(self.ld.get("datePublished"))),
            (META, self.meta("article:published_time")),
            (MICRODATA, self._microdata_published()),
        ]
        parsed = [(layer, raw, _instant(raw)) for layer, raw in candidates if raw and raw.strip()]  # each read once
        read = [(layer, raw, at) for layer, raw, at in parsed if at is not None]
        unread = [f"{layer} {_quote(raw)}" for layer, raw, at in parsed if at is None]
        if not read:
            if self.listing_published and _instant(self.listing_published) is not None:
                if unread:
                    self.notes["published_at"] = f"unreadable in {', '.join(unread)}; took the listing's time"
                return self.listing_published, LISTING
            raw = next(((raw, layer) for layer, raw in candidates if raw and raw.strip()), None)
            return raw if raw else (self.listing_published, LISTING)
        # Each reading's support: how many layers name the same instant. Ties go to the structured layers.
        support = {
            layer: sum(abs((at - other).total_seconds()) < SAME_TIME for _, _, other in read) for layer, _, at in read
        }
        rank = {JSONLD: 0, META: 1, MICRODATA: 2, SITE: 3}
        best = min(read, key=lambda c: (-support[c[0]], rank[c[0]]))
        agreeing = [c for c in read if abs((c[2] - best[2]).total_seconds()) < SAME_TIME]
        chosen = next(c for c in read if c in agreeing)  # in layer order: the site's when it agrees
        doubts = []
        if len(agreeing) < len(read):
            doubts.append("layers disagree (" + ", ".join(f"{layer} {raw!r}" for layer, raw, _ in read) + ")")
        if unread:
            doubts.append(f"unreadable in {', '.join(unread)}")
        if doubts:
            self.notes["published_at"] = f"{'; '.join(doubts)}; took {chosen[0]}"
        return chosen[1], chosen[0]

    def _microdata_published(self) -> str | None:
        """The first ``itemprop="datePublished"`` outside the chrome and other stories' links, unless
        another layer reads that very element (the dateline ``<time>``, an ``article:*`` meta): one
        element, one vote. A date without a time of day names no instant and counts as absent."""
        for el in self._index.select(MICRODATA_PUBLISHED):
            if el is self._time_element or el.get("property") or el.get("name"):
                return None
            if self._elsewhere(el):
                continue
            value = el.get("content") or el.get("datetime") or element_text(el)
            return None if DATE_ONLY.match(value) else value
        return None

    @cached_property
    def _time_element(self) -> etree._Element | None:
        """The story's dateline: the first ``<time>`` after its ``h1`` that is not an "updated" time."""
        h1 = self._title[2]
        if h1 is None:
            h1 = self._index.first(TITLE)
        if h1 is None:
            return None
        first = None
        for el in xpath("following::time[position() <= 3]")(h1):
            first = first if first is not None else el
            if not UPDATED.search(_before(el) + " " + element_text(el)[:80]):
                return el
        return first

    def modified_at(self) -> tuple[str | None, str]:
        return self._readable(
            "modified_at",
            _is_time,
            (JSONLD, _ld_text(self.ld.get("dateModified"))),
            (META, self.meta("article:modified_time")),
        )

    def _readable(
        self, name: str, check: Callable[[str], bool], *candidates: tuple[str, str | None]
    ) -> tuple[str | None, str]:
        """``_first_readable``, noting the layers passed over when a later one was taken."""
        skipped: list[str] = []
        value, layer = _first_readable(check, *candidates, skipped=skipped)
        if skipped and value is not None and check(value):
            self.notes[name] = f"unreadable in {', '.join(skipped)}; took {layer}"
        return value, layer

    def tags(self) -> tuple[list[str], str]:
        tags, layer = _first(
            (SITE, lambda: [element_text(a) for a in self._index.select(TAGS)]),
            (JSONLD, lambda: _ld_keywords(self.ld.get("keywords"))),
            (META, lambda: self.metas.get("article:tag", [])),
        )
        return tags or [], layer

    def image_url(self) -> tuple[str | None, str]:
        """The lead image, then JSON-LD's and ``og:image``; last, the first photo of the site's own
        store (``/storage/photos/<n>/main/``) in the story: after the structured layers, since a
        photo in the text need not be the lead one."""
        src, layer = self._readable(
            "image_url",
            lambda value: _is_url(urljoin(self.url, value.strip())),
            (SITE, self._site_image()),
            (JSONLD, _ld_image(self.ld.get("image"))),
            (META, self.meta("og:image")),
            (SITE, self._stored_photo()),
        )
        return (urljoin(self.url, src.strip()) if src else None), layer

    def _site_image(self) -> str | None:
        img = self._index.first(IMAGE)
        return _img_src(img) if img is not None else None

    def _stored_photo(self) -> str | None:
        """The first ``img`` (``src`` or lazy ``data-src``) under the site's photo store, outside the
        page's chrome, banners and links to other stories (a "read also" list's thumbnails are theirs)."""
        for img in self.root.iter("img", "amp-img"):  # an AMP copy's images are amp-img
            src = _img_src(img)
            if src and PHOTO_PATH.search(src) and not self._elsewhere(img):
                return src
        return None

    @cached_property
    def _not_the_story(self) -> set[etree._Element]:
        """Elements whose content is not this story's: the page's chrome, links to other stories, banners."""
        index = self._index
        return {*index.select(CHROME), *index.select(OTHER_STORIES), *index.with_class_prefix(BANNER_PREFIX)}

    def _elsewhere(self, el: etree._Element) -> bool:
        """Is ``el`` inside the chrome, a list of other stories or a banner (see ``_not_the_story``)?"""
        return el in self._not_the_story or any(a in self._not_the_story for a in el.iterancestors())

    def views(self) -> tuple[str | None, str]:
        """The counter's text; ``None`` when the page holds only the widget script that loads it
        (the live site's async arrilot widget: the spider fetches it, crawler/pages/widget.py)."""
        return _first((SITE, lambda: _counter_text(self._index.first(VIEWS))))

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
        item.notes.update(self.notes)
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


def _counter_text(counter: etree._Element | None) -> str | None:
    """A counter's visible text, its loader script left out; ``None`` for a widget not loaded yet
    (a script and no number), so a placeholder's "Loading..." is never read as the count."""
    if counter is None or holds_loader(counter):
        return None
    return element_text(counter, set(counter.iter("script")))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _ld_text(value: Any) -> str | None:
    """JSON-LD text with its HTML entities decoded: CMSs often escape it twice (``&quot;``)."""
    return html.unescape(value) if isinstance(value, str) else None


def _first_readable(
    check: Callable[[str], bool], *candidates: tuple[str, str | None], skipped: list[str] | None = None
) -> tuple[str | None, str]:
    """The first layer's value that ``check`` can read (one it cannot counts as absent, and is
    listed in ``skipped``); if none can, the first non-empty one, so normalising records why."""
    present = [(value, layer) for layer, value in candidates if value and value.strip()]
    for value, layer in present:
        try:
            if check(value):
                return value, layer
        except Exception:  # an unreadable value of any kind is absent here; normalise says why
            pass
        if skipped is not None:
            skipped.append(f"{layer} {_quote(value)}")
    return present[0] if present else (None, candidates[-1][0])


def _instant(raw: str | None) -> datetime | None:
    """The instant a date text names, or ``None`` when it names none (any failure counts as none)."""
    try:
        value = parse_datetime(raw)
        return datetime.fromisoformat(value) if value else None
    except Exception:
        return None


def _is_time(raw: str) -> bool:
    return _instant(raw) is not None


def _is_url(url: str) -> bool:
    try:
        return canonical_url(url) is not None
    except Exception:
        return False


def _site_time_text(el: etree._Element) -> str | None:
    """A ``<time>``'s ``datetime`` attribute, or its visible text when the attribute is missing or unreadable."""
    stamp, text = el.get("datetime"), element_text(el)
    if stamp and (_instant(stamp) is not None or _instant(text) is None):
        return stamp
    return text


def _before(el: etree._Element) -> str:
    """The text just before an element (its previous sibling's tail, or its parent's text)."""
    previous = el.getprevious()
    text = (previous.tail if previous is not None else el.getparent().text) or ""
    return text[-60:]


def _clean(text: str | None) -> str | None:
    try:
        return clean_text(text)
    except Exception:
        return None


_WORD = re.compile(r"\w+")


def _words(text: str) -> str:
    """Text reduced to its words, case-folded (ё as е): what two layers' titles are compared by."""
    return " ".join(_WORD.findall(text.casefold().replace("ё", "е")))


def _agree(a: str, b: str) -> bool:
    """Do two layers give the same title? Equal words, one inside the other (a site name added),
    or nearly the same (quotes, a word edited)."""
    x, y = _words(a), _words(b)
    if not x or not y:
        return False
    if x == y:
        return True
    short, long = sorted((x, y), key=len)
    if short in long and len(short) >= 0.5 * len(long):
        return True
    return SequenceMatcher(None, x, y, autojunk=False).ratio() >= 0.85


def _quote(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _invisible(el: etree._Element) -> set[etree._Element]:
    return set(select_in(el, INVISIBLE))


def _parent_tag(el: etree._Element) -> str | None:
    parent = el.getparent()
    return parent.tag if parent is not None else None


def _meta_tags(document: PageIndex) -> list[etree._Element]:
    """The document's ``<meta content=…>`` that are the head's children or anywhere in the body
    (XPath ``//head/meta[@content] | //body//meta[@content]``), in document order."""
    return [
        el
        for el in document.tagged("meta")
        if el.get("content") is not None
        and (_parent_tag(el) == "head" or any(a.tag == "body" for a in el.iterancestors()))
    ]


def _joined(blocks: list[str]) -> str:
    return "\n\n".join(blocks)


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


def _ld_person(value: Any) -> str | None:
    """The author's name(s) from JSON-LD ``author``, leaving out organisations (a publisher is no author)."""
    values = value if isinstance(value, list) else [value]
    people = [v for v in values if not (isinstance(v, dict) and _ld_types(v.get("@type")) & ORGANIZATION_TYPES)]
    names = [_ld_text(_ld_name(v)) for v in people]
    return ", ".join(n for n in names if n and n.strip()) or None


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
        return [html.unescape(v) for v in value if isinstance(v, str)]
    if isinstance(value, str):
        return html.unescape(value).split(",")
    return []


#: JSON-LD key → (the field it feeds, the reader that takes text out of it).
LD_READERS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "inLanguage": ("lang", _ld_text),
    "headline": ("title", _ld_text),
    "articleBody": ("body", _ld_text),
    "author": ("author", _ld_author),
    "datePublished": ("published_at", _str),
    "dateModified": ("modified_at", _str),
    "keywords": ("tags", _ld_keywords),
    "image": ("image_url", _ld_image),
}
#: Fields whose empty value is an empty list.
LIST_FIELDS = ("body", "tags")
#: A container's noise and tag list (``_container_blocks``), tested element by element in one walk.
_NOISE_OR_TAGS = matcher(f"{NOISE}, {TAG_LIST}")


def _img_src(img: etree._Element) -> str | None:
    """An image's address: the lazy ``data-src`` before the ``src`` placeholder."""
    return img.get("data-src") or img.get("src")


def _has_class(el: etree._Element, name: str) -> bool:
    return name in (el.get("class") or "").split()


def _read_also(p: etree._Element) -> bool:
    """A paragraph led by a bold "Читайте также:" label: links to other stories, not this story's words."""
    if (p.text or "").strip() or not len(p):
        return False
    label = p[0]
    return isinstance(label.tag, str) and label.tag in READ_ALSO_LABEL and bool(READ_ALSO.match(element_text(label)))


def _paragraphs(text: str | None) -> list[str]:
    """A plain-text body (JSON-LD ``articleBody``) split into its paragraphs."""
    if not text:
        return []
    separator = "\n\n" if "\n\n" in text else "\n"
    return [p for p in text.split(separator) if p.strip()]


def _visible_text(el: etree._Element | None) -> str | None:
    """An element's text without what a reader never sees (scripts, styles); ``None`` for no element."""
    if el is None:
        return None
    return element_text(el, _invisible(el))


def _standalone(el: etree._Element, top: etree._Element) -> bool:
    """Is ``el`` inside ``top`` but in no block tag (a dateline, not words of a paragraph)?"""
    for parent in el.iterancestors():
        if parent is top:
            return True
        if parent.tag in BLOCK_TAGS:
            return False
    return False


def _holders(top: etree._Element, elements: list[etree._Element]) -> tuple[set[etree._Element], set[etree._Element]]:
    """(elements below ``top`` holding a block tag, those holding any non-inline tag), from ``top``'s
    own elements (``top`` among them) in one pass."""
    blocks: set[etree._Element] = set()
    boundaries: set[etree._Element] = set()
    for el in elements:
        if el is top:
            continue
        tag = el.tag
        for found, holds in ((blocks, tag in BLOCK_TAGS), (boundaries, tag not in INLINE_TAGS)):
            if not holds:
                continue
            parent = el.getparent()
            while parent is not None and parent is not top and parent not in found:
                found.add(parent)  # the ones above a marked one are marked already
                parent = parent.getparent()
    return blocks, boundaries


def _body_blocks(
    top: etree._Element, skip: set[etree._Element], elements: list[etree._Element] | None = None
) -> list[str]:
    """The body's blocks in document order: each innermost block tag's text (a ``p`` inside a quote,
    not both), and the text standing outside them (bare, in a div, a table cell, an h5) as blocks
    of their own between them. Elements in ``skip`` (noise) are left out, their tail text stays.

    A walk with its own stack, not recursion: however deep a page nests, its text is read.
    """
    if elements is None:
        elements = [el for el in top.iter() if isinstance(el.tag, str)]
    holds_block, holds_boundary = _holders(top, elements)
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
