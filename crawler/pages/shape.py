"""The sidebar and the rates found by their shape: by text and links, never by class names.

The named selectors (``sidebar.py``, ``rates.py``) are modelled on the seed; the one thing known
for sure about the live site is the text it shows (``tests/fixtures/seed/informburo-page.txt``).
So when the selectors find nothing, these functions read the page as that text: a stream of
tokens in document order (each text node, cut at icons and separators; each link to an article
of the same site; each empty text cell), and look in it for

- the most-read run: entries ranked 1, 2, 3… in order, each one article link (its title, the rank
  beside it or glued to its text, as the seed shows "1🥩🥒 Сельскохозяйственная…") and three
  counters (views, comments, reactions) after the title or before it;
- the rates: ISO currency codes ("USD:", or "USD" in a cell of its own) each followed by a
  buy / sell pair.

They give the same raw items as the selectors do, so the normalise pipeline is unchanged. Each
returns its blocks in page order (a page may render a widget twice); the callers keep the first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from crawler.fields import ARTICLE_SECTIONS, canonical_url, clean_text, on_site, parse_count, section_of
from crawler.items import MostReadEntry, RateQuote
from crawler.pages.base import element_text

#: Elements whose text a reader does not read as the page's text (or that are controls): not tokenised.
UNSEEN = frozenset({"head", "script", "style", "noscript", "template", "svg", "select", "textarea", "iframe", "object"})
#: Empty elements that hold no text by nature (icons, media, breaks): never an empty counter.
NEVER_TEXT = frozenset(
    {"i", "img", "picture", "source", "video", "audio", "canvas", "br", "hr", "wbr", "input", "meta", "link", "use"}
)
#: A text piece longer than this is prose: never a rank, a counter, a code or an amount.
MAX_PIECE = 80
#: Separators between counters and codes: "·", "•", "|" (icons and emoji are cut as well, by category).
SEPARATORS = frozenset("·•|\ufe0e\ufe0f\u200d")
#: Shortest run taken for the sidebar (the live site shows ten): fewer ranked entries are too
#: likely to be something else. The longest read is MAX_RANK.
MIN_ENTRIES = 5
MAX_RANK = 50
#: How far before a rank the counters of an entry that puts them first are looked for (tokens).
MAX_BACK = 12
#: Currencies the rates widget may quote (ISO 4217), not tenge itself.
CURRENCIES = (
    "USD",
    "EUR",
    "RUB",
    "CNY",
    "GBP",
    "CHF",
    "JPY",
    "KGS",
    "UZS",
    "TRY",
    "AED",
    "BYN",
    "UAH",
    "AZN",
    "GEL",
    "AMD",
    "TJS",
    "TMT",
    "KRW",
    "INR",
    "CAD",
    "AUD",
    "PLN",
    "CZK",
    "SEK",
    "NOK",
    "DKK",
    "HKD",
    "SGD",
    "THB",
    "SAR",
)
#: Fewest currencies a rates block quotes: one code and two numbers is too likely to be something else.
MIN_QUOTES = 2
#: Other tokens allowed between two quotes of one block (a change column "▲0.3", a unit).
MAX_GAP = 2

LINK, SEPARATE_RANK, GLUED_RANK, COUNTER = "L", "R", "L*", "C"
#: Where the rank, the link and the three counters stand in an entry, likeliest first: the seed
#: shows the rank right before the title (in its own element, or in the link's text) and the
#: counters after it; a redesign may put the counters first.
TEMPLATES: tuple[tuple[str, ...], ...] = (
    (SEPARATE_RANK, LINK, COUNTER, COUNTER, COUNTER),
    (GLUED_RANK, COUNTER, COUNTER, COUNTER),
    (COUNTER, COUNTER, COUNTER, SEPARATE_RANK, LINK),
    (COUNTER, COUNTER, COUNTER, GLUED_RANK),
)

_RANK = re.compile(r"^[#№]?\s*(\d{1,2})\s*[.)]?$")
_CODE = re.compile(rf"^((?:{'|'.join(CURRENCIES)})\s*:?)$")
_AMOUNT = r"(?:\d{1,3}(?: \d{3})+|\d+)(?:[.,]\d+)?"
_SIDE = rf"({_AMOUNT}|[—–-])(?:\s*(?:₸|тг\.?|тенге|KZT))?"
_ONE = re.compile(rf"^{_SIDE}$")
_PAIR = re.compile(rf"^{_SIDE}\s*/\s*{_SIDE}$")
_INLINE = re.compile(rf"^((?:{'|'.join(CURRENCIES)})\s*:?)\s*{_SIDE}\s*/\s*{_SIDE}$")


@dataclass(slots=True)
class Token:
    """One piece of the page's text in document order: a text piece, an article link (``url``
    set, ``text`` its visible text), or an element holding no text at all (``empty``)."""

    text: str
    owner: etree._Element
    url: str | None = None
    empty: bool = False


def tokens(root: etree._Element, site: str | None = None) -> list[Token]:
    """The page's text as tokens, in document order; links to articles of ``site`` as one token each.

    Text nodes are cut at icons and separators ("👁 11 674 · 💬 0" is "11 674", "0"), so a
    counter is a token whatever decorates it. A walk with its own stack, like ``element_text``:
    a page may nest elements deeper than Python recurses.
    """
    out: list[Token] = []
    stack = [(root, iter(root))]
    _open(root, site, out)
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if stack:
                _text(node.tail, stack[-1][0], out)
            continue
        if isinstance(child.tag, str) and _open(child, site, out):
            stack.append((child, iter(child)))
            continue
        _text(child.tail, node, out)
    return out


def _open(el: etree._Element, site: str | None, out: list[Token]) -> bool:
    """Tokenise what ``el`` holds before its first child; True when its children are to be walked."""
    tag = el.tag.lower() if isinstance(el.tag, str) else ""
    if tag in UNSEEN:
        return False
    if tag == "a" and site is not None:
        url = article_url(el.get("href"), site)
        if url is not None:
            text = clean_text(element_text(el, set(el.iterdescendants(*UNSEEN)))) or ""
            if _letters(text):
                out.append(Token(text, el, url))
            else:  # a rank or a comment count linked to the article: its text; a thumbnail: nothing
                _text(text, el, out)
            return False
    if not len(el) and tag not in NEVER_TEXT and not (el.text or "").strip():
        out.append(Token("", el, empty=True))
        return False
    _text(el.text, el, out)
    return True


def _text(text: str | None, owner: etree._Element, out: list[Token]) -> None:
    if not text or len(text) > 4 * MAX_PIECE or text.isspace():
        return  # nothing, or prose (cleaned below to be sure): no rank, counter or code in it
    out.extend(Token(piece, owner) for piece in pieces(text))


@lru_cache(maxsize=8192)
def pieces(text: str) -> tuple[str, ...]:
    """A short text cleaned and cut at icons, emoji and separators: "👁 11 674 · 💬 0" → ("11 674", "0");
    nothing for prose (longer than ``MAX_PIECE``). Cached: pages repeat their short texts."""
    text = clean_text(text) or ""
    if len(text) > MAX_PIECE:
        return ()
    parts, current = [], []
    for ch in text:
        if ch in SEPARATORS or unicodedata.category(ch) in ("So", "Sm", "Sk", "Me"):
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return tuple(p for p in (clean_text(part) for part in parts) if p)


@lru_cache(maxsize=4096)
def article_url(href: str | None, site: str) -> str | None:
    """The stored key of a link to an article of ``site`` (``canonical_url``), or ``None``.

    Cached: a page links the same articles many times, and every page links the site's sections."""
    if not href or not any(f"{section}/" in href for section in ARTICLE_SECTIONS):
        return None  # no section in it: no article (and no URL parsing for the page's other links)
    try:
        url = canonical_url(href, site)
    except ValueError:
        return None
    return url if section_of(url) and on_site(url, site) else None


def _letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


# -- the most-read run ----------------------------------------------------------------------


@dataclass(slots=True)
class _Sig:
    """A token that can stand in an entry: an article link, a counter, a rank, or an empty cell."""

    token: Token
    counter: str | None = None  # the counter's text, for parse_count ("—" too: a missing counter)
    rank: int | None = None


@dataclass(slots=True)
class _Entry:
    link: Token
    title: str
    counters: list[str | None]
    missing: int  # counters read from an empty cell
    boxed: bool  # the entry sits in an element that holds nothing of the entries beside it


@dataclass(slots=True)
class _Run:
    start: int
    end: int
    template: int
    entries: list[_Entry]

    def score(self) -> tuple[int, int, int, int, int]:
        """Longest first; then the reading whose entries each sit in an element of their own (the
        markup's boxes); then fewer empty counters; then the likelier template; then the earlier run."""
        boxed = sum(e.boxed for e in self.entries)
        missing = sum(e.missing for e in self.entries)
        return (-len(self.entries), -boxed, missing, self.template, self.start)


class Found(list[MostReadEntry]):
    """One most-read run's raw entries, and ``cut``: the rank of an entry that follows the run but
    does not fit it (two counters and no empty cell for the third, say), so it is never left out
    in silence; ``None`` when the run ends where the ranks end."""

    def __init__(self, entries: list[MostReadEntry], cut: int | None = None) -> None:
        super().__init__(entries)
        self.cut = cut


def find_most_read(root: etree._Element, url: str, captured_at: str | None = None) -> list[Found]:
    """Every most-read run on the page, in page order, as the raw entries the selectors would give.

    Ranks 1, 2, 3… in order (at least ``MIN_ENTRIES``), each entry one article link of the
    page's site and three counters, all entries arranged alike (one of ``TEMPLATES``).
    """
    sig = _significant(tokens(root, url))
    runs: list[_Run] = []
    for q, s in enumerate(sig):
        if not (s.rank == 1 or (s.token.url and s.token.text.startswith("1"))):
            continue
        for number, template in enumerate(TEMPLATES):
            for start in _starts(sig, q, template):
                run = _run(sig, start, number, template)
                if run is not None and len(run.entries) >= MIN_ENTRIES:
                    runs.append(run)
    chosen: list[_Run] = []
    for run in sorted(runs, key=_Run.score):
        if all(run.end <= other.start or other.end <= run.start for other in chosen):
            chosen.append(run)
    return [
        Found(
            [
                MostReadEntry(
                    rank=str(rank),
                    title=entry.title,
                    url=entry.link.url,
                    views=entry.counters[0],
                    comments=entry.counters[1],
                    reactions=entry.counters[2],
                    captured_at=captured_at,
                )
                for rank, entry in enumerate(run.entries, start=1)
            ],
            _cut(sig, run),
        )
        for run in sorted(chosen, key=lambda r: r.start)
    ]


def _cut(sig: list[_Sig], run: _Run) -> int | None:
    """The next rank, when it stands (alone or glued to a link) just after the run: an entry was there."""
    after = len(run.entries) + 1
    for s in sig[run.end : run.end + len(TEMPLATES[run.template]) + 1]:
        if s.rank == after or (s.token.url and _unglued(s.token.text, after) is not None):
            return after
    return None


def _starts(sig: list[_Sig], q: int, template: tuple[str, ...]) -> list[int]:
    """Where entry 1 may start when its rank is ``sig[q]``: at ``q`` when the rank leads the entry;
    else as many counters before it as the template puts there (an empty cell may be one of them)."""
    before = next(i for i, kind in enumerate(template) if kind in (SEPARATE_RANK, GLUED_RANK))
    if not before:
        return [q]
    starts, counters, empties = [], 0, 0
    for p in range(q - 1, max(-1, q - 1 - MAX_BACK), -1):
        s = sig[p]
        if s.token.empty:
            empties += 1
        elif s.counter is not None:
            counters += 1
        else:
            break
        if counters + min(empties, 1) == before:
            starts.append(p)
        if counters == before:
            break
    return starts


def _significant(toks: list[Token]) -> list[_Sig]:
    out = []
    for token in toks:
        if token.url or token.empty:
            out.append(_Sig(token))
            continue
        counter = token.text if _counter(token.text) else None
        match = _RANK.match(token.text)
        rank = int(match.group(1)) if match else None
        if counter is not None or rank is not None:
            out.append(_Sig(token, counter, rank))
    return out


@lru_cache(maxsize=8192)
def _counter(text: str) -> bool:
    try:
        parse_count(text)
    except ValueError:
        return False
    return True


#: (entries, boxed entries, empty counters, the entries, end position) of a run.
_Best = tuple[int, int, int, list[_Entry], int]


def _run(sig: list[_Sig], start: int, number: int, template: tuple[str, ...]) -> _Run | None:
    """The best run of entries ranked 1, 2, … from ``sig[start]`` on, all shaped as ``template``:
    the longest, then the one whose entries follow the markup's boxes, then the fewest empty counters."""
    memo: dict[tuple[int, int], _Best] = {}

    def best_from(pos: int, rank: int) -> _Best:
        if (pos, rank) in memo:
            return memo[pos, rank]
        best: _Best = (0, 0, 0, [], pos)
        if rank <= MAX_RANK:
            for end, entry in _fits(sig, pos, template, rank):
                n, boxed, missing, rest, stop = best_from(end, rank + 1)
                candidate = (n + 1, boxed + entry.boxed, missing + entry.missing, [entry, *rest], stop)
                if (candidate[0], candidate[1], -candidate[2]) > (best[0], best[1], -best[2]):
                    best = candidate
        memo[pos, rank] = best
        return best

    n, _, _, entries, end = best_from(start, 1)
    return _Run(start, end, number, entries) if n else None


def _fits(sig: list[_Sig], pos: int, template: tuple[str, ...], rank: int) -> Iterator[tuple[int, _Entry]]:
    """Every way entry ``rank`` fits ``template`` from ``sig[pos]``: (the position after it, the entry).

    Empty cells are skipped, or the first of them stands for one missing counter (at most one
    per entry). A run of empty cells is stepped over in a loop, not one call each: a page may
    hold thousands of them.
    """

    def fit(
        pos: int, slot: int, link: tuple[Token, str] | None, counters: list[str | None], used: list[int]
    ) -> Iterator[tuple[int, _Entry]]:
        if slot == len(template):
            if link is not None:
                missing = sum(c is None for c in counters)
                yield pos, _Entry(link[0], link[1], counters, missing, _boxed(sig, used))
            return
        kind, nxt = template[slot], pos
        while nxt < len(sig) and sig[nxt].token.empty:
            nxt += 1
        if nxt > pos and kind == COUNTER and None not in counters:  # the first empty cell: a missing counter
            yield from fit(pos + 1, slot + 1, link, [*counters, None], [*used, pos])
        if nxt >= len(sig):
            return
        s = sig[nxt]
        if kind == COUNTER and s.counter is not None:
            yield from fit(nxt + 1, slot + 1, link, [*counters, s.counter], [*used, nxt])
        elif kind == SEPARATE_RANK and s.rank == rank:
            yield from fit(nxt + 1, slot + 1, link, counters, [*used, nxt])
        elif kind == LINK and s.token.url:
            yield from fit(nxt + 1, slot + 1, (s.token, s.token.text), counters, [*used, nxt])
        elif kind == GLUED_RANK and s.token.url:
            title = _unglued(s.token.text, rank)
            if title is not None:
                yield from fit(nxt + 1, slot + 1, (s.token, title), counters, [*used, nxt])

    yield from fit(pos, 0, None, [], [])


def _unglued(text: str, rank: int) -> str | None:
    """The link's text without the rank it starts with ("1🥩🥒 Ярмарка", "1. Ярмарка"), or ``None``."""
    prefix = str(rank)
    if not text.startswith(prefix):
        return None
    rest = text[len(prefix) :]
    if rest[:1] in (".", ")") and rest[1:2].isspace():
        rest = rest[1:]
    rest = rest.strip()
    return rest if _letters(rest) else None


def _boxed(sig: list[_Sig], used: list[int]) -> bool:
    """Does the innermost element holding the entry's tokens hold no other rank, link or counter?
    Tokens in document order: it is enough that it holds neither the one just before nor the one
    just after. (An empty cell beside the entry does not count: it may be the entry's own.)"""
    box = _common([sig[i].token.owner for i in used])
    before, after = used[0] - 1, used[-1] + 1
    while before >= 0 and sig[before].token.empty:
        before -= 1
    while after < len(sig) and sig[after].token.empty:
        after += 1
    beside = [sig[i].token.owner for i in (before, after) if 0 <= i < len(sig)]
    return not any(_within(owner, box) for owner in beside)


def _common(elements: list[etree._Element]) -> etree._Element:
    """The innermost element holding all of ``elements``."""
    first = [elements[0], *elements[0].iterancestors()]
    depth = 0
    for el in elements[1:]:
        chain = {id(a) for a in (el, *el.iterancestors())}
        while id(first[depth]) not in chain:
            depth += 1
    return first[depth]


def _within(el: etree._Element, box: etree._Element) -> bool:
    return el is box or any(a is box for a in el.iterancestors())


# -- the rates -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Rate:
    """A token of the rates stream: a code, a buy / sell pair, one amount, a slash, a whole quote, or other digits."""

    kind: str  # code | pair | one | slash | inline | other
    values: tuple[str, ...]


def find_rates(root: etree._Element, captured_at: str | None = None) -> list[list[RateQuote]]:
    """Every rates block on the page, in page order, as the raw quotes the selectors would give.

    A quote is a currency code ("USD:", or "USD" alone in its cell) followed by buy / sell:
    "505.1 / 508.1" in one cell, or in two ("505.1", "508.1", a "/" between or not), or the
    whole quote in one piece ("USD: 505.1 / 508.1"). A block is at least ``MIN_QUOTES`` quotes of
    different currencies, no more than ``MAX_GAP`` other tokens apart.
    """
    stream = [r for r in (_rate_token(t.text) for t in tokens(root) if not t.empty) if r is not None]
    blocks: list[list[tuple[int, int, RateQuote]]] = []
    pos = 0
    while pos < len(stream):
        quote = _quote(stream, pos, captured_at)
        if quote is None:
            pos += 1
            continue
        end, item = quote
        if blocks and pos - blocks[-1][-1][1] <= MAX_GAP:
            blocks[-1].append((pos, end, item))
        else:
            blocks.append([(pos, end, item)])
        pos = end
    return [
        [item for _, _, item in block]
        for block in blocks
        if len(block) >= MIN_QUOTES and len({_code(item.currency) for _, _, item in block}) >= MIN_QUOTES
    ]


def _code(text: str | None) -> str:
    return (text or "").rstrip(":").strip()


def _rate_token(text: str) -> _Rate | None:
    for kind, pattern in (("inline", _INLINE), ("code", _CODE), ("pair", _PAIR), ("one", _ONE)):
        match = pattern.match(text)
        if match:
            return _Rate(kind, tuple(g for g in match.groups() if g is not None))
    if text == "/":
        return _Rate("slash", ())
    if any(ch.isdigit() for ch in text):
        return _Rate("other", ())
    return None  # a label, a name: no part of a quote, no gap between quotes


def _quote(stream: list[_Rate], pos: int, captured_at: str | None) -> tuple[int, RateQuote] | None:
    """(position after it, the quote) of a quote starting at ``stream[pos]``, or ``None``."""
    first = stream[pos]
    if first.kind == "inline":
        code, buy, sell = first.values
        return pos + 1, RateQuote(currency=code, buy=buy, sell=sell, captured_at=captured_at)
    if first.kind != "code":
        return None
    kinds = tuple(r.kind for r in stream[pos + 1 : pos + 4])
    code = first.values[0]
    if kinds[:1] == ("pair",):
        buy, sell = stream[pos + 1].values
        end = pos + 2
    elif kinds[:3] == ("one", "slash", "one"):
        buy, sell, end = stream[pos + 1].values[0], stream[pos + 3].values[0], pos + 4
    elif kinds[:2] == ("one", "one"):
        buy, sell, end = stream[pos + 1].values[0], stream[pos + 2].values[0], pos + 3
    else:
        return None
    return end, RateQuote(currency=code, buy=buy, sell=sell, captured_at=captured_at)
