"""The most-read sidebar (``section.most-read``), carried by every page."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import urljoin

from lxml import etree
from parsel import Selector

from crawler.fields import canonical_url, clean_text, parse_count
from crawler.items import MostReadEntry
from crawler.pages.base import as_selector, css, element_text, first_text
from crawler.pages.shape import find_most_read

BLOCKS = "section.most-read ol.most-read-list"
ENTRY = "li.most-read-item"
RANK = "span.most-read-rank"
LINK = "a.most-read-link"
STATS = "div.most-read-stats"
VIEWS = f"{STATS} span.most-read-views"
COMMENTS = f"{STATS} span.most-read-comments"
REACTIONS = f"{STATS} span.most-read-reactions"
#: Inside the link but not the title: the other fields' elements, and what a reader never sees.
NOT_TITLE = f"{RANK}, {STATS}, script, style, noscript, template"

T = TypeVar("T")


#: Which layer found a widget: the named selectors above, or the shape of its text (``shape.py``).
SITE, SHAPE = "site", "shape"


class Widget(list[T]):
    """A widget's items, a plain list, and ``problems``: what the page got wrong about the widget.

    Each problem is one sentence for ``crawl_errors`` (the spider records it as a parse error of
    the page), so a duplicate that was left out is never dropped in silence. ``layer`` says which
    layer found the block (``SITE``, ``SHAPE``; ``None``: no block), so a run can count the pages
    whose selectors no longer match (layout drift); ``notes`` says it in a sentence, a doubt to
    record (like ``Article.notes``), not a failure.
    """

    def __init__(
        self,
        items: Iterable[T] = (),
        problems: Iterable[str] = (),
        layer: str | None = None,
        notes: Iterable[str] = (),
        drift: Iterable[str] = (),
    ) -> None:
        super().__init__(items)
        self.problems: list[str] = list(problems)
        self.layer = layer
        self.notes: list[str] = list(notes)
        self.drift: list[str] = list(drift)  # the block was found, but part of it moved (counters to a script)


B = TypeVar("B")


def duplicate_blocks(blocks: Sequence[B], rows: Callable[[B], list[Any]], name: str) -> list[str]:
    """Problems of a widget the page carries more than once: the first block is taken (a snapshot has
    one row per rank or currency), and what each other block held is said, so nothing goes unrecorded."""
    if len(blocks) < 2:
        return []
    first = rows(blocks[0])
    left = []
    for number, block in enumerate(blocks[1:], start=2):
        other = rows(block)
        same = "the same as the first" if other == first else "different from the first"
        left.append(f"block {number}: {len(other)} entries, {same}")
    return [f"{len(blocks)} {name} blocks on the page: took the first ({len(first)} entries); left {'; '.join(left)}"]


def parse_most_read(page: str | bytes | Selector, url: str, captured_at: str | None = None) -> Widget[MostReadEntry]:
    """The sidebar's entries in page order, raw: the title still carries its emoji.

    A page with two sidebars, or one rank twice, keeps the first (a snapshot has one row per
    rank) and says what it left in ``problems``. Only when the named selectors find no entry is
    the sidebar looked for by its shape (``shape.find_most_read``): they are never overridden.
    """
    root = as_selector(page).root
    blocks = [block for block in css(BLOCKS)(root) if css(ENTRY)(block)]
    if not blocks:
        return _by_shape(root, url, captured_at)
    problems = duplicate_blocks(blocks, lambda b: [_key(li) for li in css(ENTRY)(b)], "most-read")
    entries: list[MostReadEntry] = []
    taken: dict[int, MostReadEntry] = {}
    for li in css(ENTRY)(blocks[0]):
        entry = _entry(li, url, captured_at)
        rank = _rank(entry.rank)
        if rank is not None and rank in taken:
            problems.append(
                f"rank {rank} listed twice in the most-read block: took the first"
                f" ({clean_text(taken[rank].title)!r}), left {clean_text(entry.title)!r}"
            )
            continue
        if rank is not None:
            taken[rank] = entry
        entries.append(entry)
    scripted = sum(_scripted(li, q) for li in css(ENTRY)(blocks[0]) for q in (VIEWS, COMMENTS, REACTIONS))
    drift = [f"{scripted} of the sidebar's counters are loaded by a script on the page (not followed): stored NULL"]
    return Widget(entries, problems, SITE, drift=drift if scripted else ())


def _by_shape(root: etree._Element, url: str, captured_at: str | None) -> Widget[MostReadEntry]:
    """The first most-read run found by its shape, the others said in ``problems`` as for the
    selectors' blocks; no run, an empty widget (``layer`` ``None``)."""
    runs = find_most_read(root, url, captured_at)
    if not runs:
        return Widget()
    problems = duplicate_blocks(runs, lambda run: [_shape_key(e) for e in run], "most-read")
    if runs[0].cut is not None:
        problems.append(
            f"most-read sidebar found by its shape up to rank {runs[0].cut - 1}: entry {runs[0].cut} follows"
            " but is not one article link and three counters; left out"
        )
    note = (
        f"most-read sidebar found by its shape ({len(runs[0])} entries): the selectors"
        f" ({BLOCKS} {ENTRY}) matched nothing; check crawler/pages/sidebar.py"
    )
    return Widget(runs[0], problems, SHAPE, [note])


def _shape_key(entry: MostReadEntry) -> tuple[Any, ...]:
    return (entry.rank, entry.views, entry.comments, entry.reactions, clean_text(entry.title), entry.url)


def _entry(li: etree._Element, url: str, captured_at: str | None) -> MostReadEntry:
    link = css(LINK)(li)
    # one attribute by name: a garbled attribute name elsewhere must not break the entry
    href = link[0].get("href") if link else None
    return MostReadEntry(
        rank=first_text(li, RANK),
        title=element_text(link[0], set(css(NOT_TITLE)(link[0]))) if link else None,
        url=_site_url(href, url),
        views=first_text(li, VIEWS),
        comments=first_text(li, COMMENTS),
        reactions=first_text(li, REACTIONS),
        captured_at=captured_at,
    )


def _scripted(li: etree._Element, query: str) -> bool:
    """Is this counter a placeholder a script fills (a script inside, no text of its own)?"""
    found = css(query)(li)
    return bool(found) and bool(found[0].xpath(".//script")) and not clean_text(element_text(found[0]))


def _site_url(href: str | None, url: str) -> str | None:
    """The link as the article's stored key (``canonical_url`` on the page's site); a link that is
    not a URL is left as written, for the normalise pipeline to record."""
    if not href or not href.strip():
        return None
    try:
        return canonical_url(href, url)
    except ValueError:
        try:
            return urljoin(url, href.strip())
        except ValueError:  # not even joinable ("http://[::1"): kept as written, recorded downstream
            return href.strip()


def _rank(text: str | None) -> int | None:
    try:
        return parse_count(text)
    except ValueError:
        return None  # validation rejects it, with the reason


def _key(li: etree._Element) -> tuple[str | None, ...]:
    """What an entry says, to tell a repeated block from a different one."""
    link = css(LINK)(li)
    texts = [first_text(li, q) for q in (RANK, VIEWS, COMMENTS, REACTIONS)]
    title = element_text(link[0], set(css(NOT_TITLE)(link[0]))) if link else None
    return tuple(clean_text(t) for t in (*texts, title, link[0].get("href") if link else None))
