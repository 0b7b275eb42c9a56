"""A large synthetic Informburo-style site, rendered with the mirror's own templates.

Articles are dicts in ``mirror/content/articles.json``'s shape (so ``mirror.site.render_article``
renders them and ``mirror.site.body_text`` is their ground truth), with text drawn from a
Zipf-weighted vocabulary (the mirror's real Russian words first, then made-up words),
realistic noise inside the body (figures, scripts, banners, read-more links, embeds) and
realistic page weight around it: inline CSS and JS in the head, a mega-menu, related
articles, footer menus and trailing scripts, so a page weighs 60–120 KB as the live
site's do. Everything is deterministic for a given seed.

The listing (``/novosti?page=N``) has ``PER_PAGE`` entries a page under date headings,
with a windowed pagination (first, last and five pages either side) as real feeds have.
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from html import escape
from pathlib import Path
from typing import Any

from mirror.site import (
    Site,
    _page,
    body_text,
    encode_page,
    listing_items,
    load_content,
    render_article,
    render_home,
    robots_txt,
)

PER_PAGE = 20
SECTIONS = ("novosti", "novosti", "novosti", "novosti", "stati", "cards", "interview")
#: Share of pages per layout variant the mirror knows (None is the site's usual markup).
VARIANTS = ((None, 0.88), ("text-date", 0.05), ("jsonld-date", 0.03), ("meta-date", 0.02), ("cp1251", 0.02))
NOW = datetime.fromisoformat("2026-01-16T12:00:00+05:00")
PAGE_BYTES = (58_000, 110_000)
_CYRILLIC_WORD = re.compile(r"[А-Яа-яЁёҚқҢңӘәІіҮүҰұҒғӨөҺһ]{3,}")
_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюяқңәіүұғөһ",
        "a b v g d e e zh z i j k l m n o p r s t u f h c ch sh shch  y  e yu ya k n a i u u g o h".split(" "),
        strict=True,
    )
)
_SYLLABLES = [c + v for c in "бвгджзклмнпрстфхцчшщ" for v in "аеиоуыяю"] + ["қа", "ңы", "әл", "үр", "ұл", "ғы", "өз"]
_EMOJI = ["🥩🥒", "📚", "💵", "🚌", "‼️", "⚠️", "🚗", "🎅", "📱", "👵"]
_AUTHORS = ["Асель Нурланова", "Дмитрий Пачин", "Айгерим Сейтова", "Виктор Осипов", "Жанна Керимбаева", None]


def _real_words() -> list[str]:
    """The mirror's own Russian and Kazakh words, most frequent first."""
    seed = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "seed" / "informburo-page.txt"
    text = seed.read_text(encoding="utf-8") if seed.exists() else ""
    for article in load_content()["articles"]:
        text += " " + article["title"] + " " + body_text(article)
    counts: dict[str, int] = {}
    for word in _CYRILLIC_WORD.findall(text):
        counts[word.lower()] = counts.get(word.lower(), 0) + 1
    return sorted(counts, key=lambda w: (-counts[w], w))


class TextGen:
    """Sentences from a Zipf-weighted vocabulary: real words at the top ranks, made-up ones in the tail."""

    def __init__(self, seed: int = 1, vocabulary: int = 30_000, zipf: float = 1.07) -> None:
        self.rng = random.Random(seed)
        real = _real_words()
        made: list[str] = []
        seen = set(real)
        while len(real) + len(made) < vocabulary:
            word = "".join(self.rng.choice(_SYLLABLES) for _ in range(self.rng.choice((2, 3, 3, 4))))
            if word not in seen:
                seen.add(word)
                made.append(word)
        # Real words keep the head of the distribution; made-up words fill the long tail.
        words = real[:400] + [w for pair in itertools.zip_longest(real[400:], made) for w in pair if w]
        self.words = words
        self.cum = list(itertools.accumulate(1 / (rank + 1) ** zipf for rank in range(len(words))))

    def rank_word(self, rank: int) -> str:
        return self.words[rank]

    def word(self) -> str:
        return self.words[bisect.bisect(self.cum, self.rng.random() * self.cum[-1])]

    def words_n(self, n: int) -> list[str]:
        total = self.cum[-1]
        return [self.words[bisect.bisect(self.cum, r * total)] for r in (self.rng.random() for _ in range(n))]

    def sentence(self, low: int = 7, high: int = 20) -> str:
        words = self.words_n(self.rng.randint(low, high))
        if self.rng.random() < 0.3:
            words.insert(self.rng.randrange(1, len(words)), str(self.rng.choice((2025, 2026, 15, 300, 12))))
        if len(words) > 8 and self.rng.random() < 0.5:
            words[self.rng.randrange(2, len(words) - 2)] += ","
        return " ".join(words).capitalize() + self.rng.choice(".....!?")

    def title(self) -> str:
        return " ".join(self.words_n(self.rng.randint(5, 11))).capitalize()


def _slug(title: str, number: int) -> str:
    latin = "".join(_TRANSLIT.get(ch, ch) for ch in title.lower())
    words = re.findall(r"[a-z0-9]+", latin)[:7]
    return "-".join([*words, str(number)])


def _inline(gen: TextGen, text_words: list[str]) -> tuple[str, str]:
    """(html, visible text) of a run of words with some inline markup."""
    html_parts: list[str] = []
    text_parts: list[str] = []
    i = 0
    while i < len(text_words):
        take = gen.rng.randint(1, 3)
        chunk = " ".join(text_words[i : i + take])
        roll = gen.rng.random()
        if roll < 0.04:
            html_parts.append(f"<strong>{escape(chunk)}</strong>")
        elif roll < 0.07:
            html_parts.append(f'<a href="/novosti/{escape(_slug(chunk, i))}">{escape(chunk)}</a>')
        elif roll < 0.09:
            html_parts.append(f"<em>{escape(chunk)}</em>")
        else:
            html_parts.append(escape(chunk))
        text_parts.append(chunk)
        i += take
    return " ".join(html_parts), " ".join(text_parts)


def _paragraph(gen: TextGen, sentences: int) -> dict[str, str]:
    words = " ".join(gen.sentence() for _ in range(sentences)).split(" ")
    html, text = _inline(gen, words)
    return {"html": html, "text": text}


def _js(rng: random.Random, size: int) -> str:
    """Minified-looking JavaScript of about ``size`` characters."""
    names = ["e", "t", "n", "r", "o", "i", "a", "s", "c", "u", "l", "d", "f", "p", "h", "m"]
    calls = [
        "function({0}){{return {0}&&{0}.__esModule?{0}.default:{0}}}",
        "{0}.prototype.{1}=function({2}){{this._{1}=({2}||[]).map(function(x){{return x*{3}}})}}",
        'window.dataLayer.push({{event:"{1}",id:{3},ts:Date.now()}})',
        'document.querySelectorAll(".{1}-{3}").forEach(function({0}){{{0}.classList.add("is-{2}")}})',
        'var {0}={{"{1}":{3},"{2}":"{1}-{3}","ready":!0}};',
        "if(typeof {0}==='undefined'){{{0}=[]}}else{{{0}.length>{3}&&{0}.splice(0,{3})}}",
        "try{{localStorage.setItem('{1}',JSON.stringify({{v:{3}}}))}}catch({0}){{}}",
    ]
    parts: list[str] = []
    length = 0
    while length < size:
        snippet = rng.choice(calls).format(
            rng.choice(names), f"w{rng.randrange(10_000):x}", rng.choice(names), rng.randrange(1, 999)
        )
        parts.append(snippet)
        length += len(snippet) + 1
    return ";".join(parts)


def _css(rng: random.Random, size: int) -> str:
    props = [
        "margin:0 0 {0}px",
        "padding:{0}px {1}px",
        "color:#{2}",
        "background:#{2}",
        "font-size:{0}px",
        "line-height:1.{1}",
        "display:flex",
        "border:1px solid #{2}",
        "transition:opacity .{1}s",
    ]
    parts: list[str] = []
    length = 0
    while length < size:
        selector = f".uk-{rng.choice(['card', 'nav', 'panel', 'grid', 'button', 'tile', 'modal'])}-{rng.randrange(999)}"
        body = ";".join(
            rng.choice(props).format(rng.randrange(40), rng.randrange(9), f"{rng.randrange(0xFFFFFF):06x}")
            for _ in range(rng.randint(2, 6))
        )
        rule = f"{selector}{{{body}}}"
        parts.append(rule)
        length += len(rule)
    return "".join(parts)


@dataclass
class Padding:
    """Page weight around the content, from a fixed pool shared by every page (as a site's chrome is)."""

    seed: int = 7
    head: list[str] = field(default_factory=list)
    top: list[str] = field(default_factory=list)
    bottom: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        gen = TextGen(self.seed + 1, vocabulary=3_000)
        self.head = [f"  <style>{_css(rng, rng.randint(4_000, 12_000))}</style>\n" for _ in range(12)]
        self.head += [
            f"  <script>(function(){{{_js(rng, rng.randint(2_000, 9_000))}}})();</script>\n" for _ in range(16)
        ]
        self.head += [
            '  <script type="application/json" id="ads-config">'
            + json.dumps({"slots": [{"id": f"slot-{i}", "sizes": [[300, 250], [728, 90]]} for i in range(40)]})
            + "</script>\n"
        ]
        menu = "".join(
            f'<li><a href="/tags/{_slug(w, i)}">{escape(w.capitalize())}</a></li>'
            for i, w in enumerate(gen.words_n(120))
        )
        self.top = [f'<div class="mega-menu" hidden><ul class="menu-list">{menu}</ul></div>\n']
        self.bottom = []
        for variant in range(20):
            cards = "".join(
                f'<div class="related-card"><a href="/novosti/{_slug(title, variant * 100 + i)}">'
                f'<img data-src="/uploads/2026/01/rel-{variant}-{i}.jpg" src="/img/placeholder.gif" alt="">'
                f'<span class="related-title">{escape(title)}</span></a>'
                f'<span class="related-date">{i + 1} ч. назад</span></div>'
                for i, title in enumerate(gen.title() for _ in range(12))
            )
            self.bottom.append(f'<section class="related-news"><h3>Читайте также</h3>{cards}</section>\n')
        footer_links = "".join(
            f'<li><a href="/{_slug(w, i)}">{escape(w)}</a></li>' for i, w in enumerate(gen.words_n(90))
        )
        self.bottom.append(f'<div class="site-footer-menu"><ul>{footer_links}</ul></div>\n')
        self.bottom += [f"<script>{_js(rng, rng.randint(3_000, 10_000))}</script>\n" for _ in range(16)]

    def pad(self, html: str, target: int, rng: random.Random) -> str:
        """Insert chrome into the head, after <body> and before </body> until the page weighs about ``target``."""
        size = len(html.encode("utf-8"))
        head: list[str] = []
        bottom: list[str] = [rng.choice(self.bottom[:20])]
        size += len(bottom[0].encode("utf-8"))
        top = self.top[0]
        size += len(top)
        heads = rng.sample(self.head, len(self.head))
        scripts = rng.sample(self.bottom[20:], len(self.bottom) - 20)
        while size < target and (heads or scripts):
            piece = heads.pop() if heads and (not scripts or rng.random() < 0.6) else None
            if piece is not None:
                head.append(piece)
            else:
                piece = scripts.pop()
                bottom.append(piece)
            size += len(piece)
        html = html.replace("</head>", "".join(head) + "</head>", 1)
        html = html.replace("<body>\n", "<body>\n" + top, 1)
        return html.replace("</body>", "".join(bottom) + "</body>", 1)


@dataclass
class SyntheticSite:
    """``n`` articles newest first, their listing and home page; pages render on demand."""

    n: int
    seed: int = 1
    base_url: str = "http://127.0.0.1"

    @cached_property
    def gen(self) -> TextGen:
        return TextGen(self.seed)

    @cached_property
    def padding(self) -> Padding:
        return Padding(self.seed + 6)

    @cached_property
    def articles(self) -> list[dict[str, Any]]:
        return [self._article(i) for i in range(self.n)]

    @cached_property
    def site(self) -> Site:
        rates = load_content()["rates"]
        most_read = [
            {
                "rank": str(rank),
                "link_text": f"{_EMOJI[rank - 1]} {a['title']}",
                "href": f"/{a['section']}/{a['slug']}",
                "views": str(a["views"]),
                "comments": str(rank % 4),
                "reactions": str(rank * 7),
            }
            for rank, a in enumerate(self.articles[:10], start=1)
        ]
        return Site(articles=self.articles, most_read=most_read, rates=rates)

    @property
    def listing_pages(self) -> int:
        return max(1, -(-self.n // PER_PAGE))

    def _article(self, i: int) -> dict[str, Any]:
        gen = self.gen
        rng = gen.rng
        title = gen.title()
        variant = rng.choices([v for v, _ in VARIANTS], [w for _, w in VARIANTS])[0]
        lang = "kk" if variant == "text-date" and rng.random() < 0.5 else "ru"
        published = NOW - timedelta(minutes=12 * i + rng.randint(0, 9))
        blocks: list[dict[str, Any]] = []
        for _ in range(rng.randint(5, 16)):
            roll = rng.random()
            if roll < 0.72:
                blocks.append({"tag": "p", **_paragraph(gen, rng.randint(1, 4))})
            elif roll < 0.80:
                blocks.append({"tag": rng.choice(("h2", "h3")), **_paragraph(gen, 1)})
            elif roll < 0.86:
                items = [_paragraph(gen, 1) for _ in range(rng.randint(2, 5))]
                blocks.append({"tag": rng.choice(("ul", "ol")), "items": items})
            elif roll < 0.90:
                blocks.append({"tag": "blockquote", **_paragraph(gen, rng.randint(1, 2))})
            else:
                blocks.append(self._noise(i, rng))
        if rng.random() < 0.7:
            blocks.insert(rng.randrange(1, len(blocks) + 1), self._noise(i, rng))
        if variant == "cp1251":
            lang = "ru"
        return {
            "slug": _slug(title, i),
            "section": rng.choice(SECTIONS),
            "lang": lang,
            "title": title,
            "lead": gen.sentence(10, 25) if rng.random() < 0.6 else None,
            "published": published.isoformat(timespec="seconds"),
            "modified": (published + timedelta(minutes=rng.randint(5, 90))).isoformat(timespec="seconds")
            if rng.random() < 0.1
            else None,
            "author": rng.choice(_AUTHORS),
            "tags": sorted({w.capitalize() for w in gen.words_n(rng.randint(0, 5))}),
            "image": f"/uploads/2026/01/img-{i}.jpg" if rng.random() < 0.9 else None,
            "views": rng.choice([rng.randint(100, 9_999), rng.randint(10_000, 90_000), "1,2 тыс."]),
            "variant": variant,
            "blocks": blocks,
        }

    def _noise(self, i: int, rng: random.Random) -> dict[str, Any]:
        kind = rng.choice(("figure", "script", "banner", "read-more", "iframe"))
        if kind == "figure":
            return {"noise": "figure", "src": f"/uploads/2026/01/fig-{i}.jpg", "caption": self.gen.sentence(4, 9)}
        if kind == "script":
            return {"noise": "script", "html": _js(rng, rng.randint(300, 1500))}
        if kind == "banner":
            return {"noise": "banner", "html": '<a href="https://ads.example.com/">Реклама</a>'}
        if kind == "read-more":
            other = self.gen.title()
            return {
                "noise": "read-more",
                "html": f'<a href="/stati/{_slug(other, i)}">Читайте также: {escape(other)}</a>',
            }
        return {"noise": "iframe", "src": f"https://www.youtube.com/embed/v{i}"}

    # -- paths and pages -------------------------------------------------------

    def path_of(self, article: dict[str, Any]) -> str:
        return f"/{article['section']}/{article['slug']}"

    def listing_path(self, page: int) -> str:
        return "/novosti" + (f"?page={page}" if page > 1 else "")

    def crawl_paths(self, articles: int | None = None) -> list[str]:
        """What one full pass over the first ``articles`` articles fetches: home, listing pages, articles."""
        count = self.n if articles is None else min(articles, self.n)
        pages = max(1, -(-count // PER_PAGE))
        return (
            ["/"]
            + [self.listing_path(p) for p in range(1, pages + 1)]
            + [self.path_of(a) for a in self.articles[: pages * PER_PAGE]]
        )

    def _weight(self, key: str) -> int:
        low, high = PAGE_BYTES
        return low + zlib.crc32(key.encode()) % (high - low)

    def render_article(self, article: dict[str, Any]) -> tuple[str, bytes]:
        """(Content-Type, body) of an article page as served from ``base_url``."""
        html = render_article(self.site, article, self.base_url)
        rng = random.Random(article["slug"])
        html = self.padding.pad(html, self._weight(article["slug"]), rng)
        return encode_page(article, html)

    def render_listing(self, page: int) -> str | None:
        if not 1 <= page <= self.listing_pages:
            return None
        chunk = self.articles[(page - 1) * PER_PAGE : page * PER_PAGE]
        items = listing_items(self.site, chunk)
        window = sorted({1, self.listing_pages, *range(max(1, page - 5), min(self.listing_pages, page + 5) + 1)})
        active = ' class="uk-active"'
        links = "".join(f'<li{active if n == page else ""}><a href="/novosti?page={n}">{n}</a></li>' for n in window)
        main = f"""    <h1>Новости</h1>
    <ul class="uk-nav uk-nav-default">
{chr(10).join(items)}
    </ul>
    <ul class="uk-pagination">{links}</ul>"""
        html = _page("Новости", main, self.site)
        return self.padding.pad(html, self._weight(f"listing-{page}"), random.Random(page))

    def render_home(self) -> str:
        return self.padding.pad(render_home(self.site), self._weight("home"), random.Random(0))

    def pages(self) -> Iterator[tuple[str, int, str, bytes]]:
        """Every page of the site: (path, status, content type, body)."""
        yield "/robots.txt", 200, "text/plain; charset=utf-8", robots_txt().encode()
        yield "/", 200, "text/html; charset=utf-8", self.render_home().encode()
        for page in range(1, self.listing_pages + 1):
            html = self.render_listing(page)
            assert html is not None
            yield self.listing_path(page), 200, "text/html; charset=utf-8", html.encode()
        for article in self.articles:
            yield self.path_of(article), 200, *self.render_article(article)

    def truth(self, article: dict[str, Any]) -> str:
        return body_text(article)
