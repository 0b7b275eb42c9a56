"""Page objects on small pages: pure functions from HTML and URL to raw items."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

import crawler.pages
from crawler.fields import KZ_TZ, canonical_url
from crawler.items import Article
from crawler.pages import parse_article, parse_feed, parse_listing, parse_most_read, parse_rates, versions
from crawler.pages.dispatch import raw_items
from crawler.pages.versions import PageVersion, check_registry, parser_for, pick, version_for, version_named
from mirror.site import Site, render_article, render_listing
from pipelines.normalize import normalize_item

URL = "https://informburo.kz/novosti/test"


def article_html(body: str, head: str = "", extra: str = "") -> str:
    return f"""<html lang="ru"><head>{head}</head><body><div class="uk-width-2-3@m">
    <h1>Заголовок <em>статьи</em></h1><time datetime="2026-01-16T10:52:00+05:00">10:52, 16 января 2026</time>
    {extra}<div class="article">{body}</div></div></body></html>"""


def test_body_blocks_in_order_with_noise_dropped() -> None:
    html = article_html(
        """<p>Первый <strong>абзац</strong><br>со&nbsp;строкой.</p>
        <div class="read-more"><a href="/x">Читайте также: другое</a></div>
        <script>var x = 1;</script><style>p{}</style><iframe src="https://e/x"></iframe>
        <div class="banner">Реклама</div><div class="adv">Ещё реклама</div>
        <figure><img src="/a.jpg"><figcaption>Подпись к фото</figcaption></figure>
        <h2>Подзаголовок</h2>
        <blockquote><p>Цитата</p></blockquote>
        <blockquote class="twitter-tweet"><p>Твит</p></blockquote>
        <ul><li>один</li><li>два <a href="/y">ссылка</a></li></ul>
        <p>По\u00adсле\u200bдний</p>"""
    )
    item = normalize_item(parse_article(html, URL))
    assert item.body == "Первый абзац со строкой.\n\nПодзаголовок\n\nЦитата\n\nодин\n\nдва ссылка\n\nПоследний"
    assert item.title == "Заголовок статьи"
    assert item.published_at == "2026-01-16T10:52:00+05:00"


def test_date_from_visible_text_when_the_attribute_is_missing() -> None:
    html = article_html("<p>x</p>").replace(' datetime="2026-01-16T10:52:00+05:00"', "")
    assert normalize_item(parse_article(html, URL)).published_at == "2026-01-16T10:52:00+05:00"


def test_canonical_link_wins_and_tracking_is_dropped() -> None:
    # The canonical of this very page wins over how it was fetched (another article's is refused: see the end).
    head = '<link rel="canonical" href="/novosti/test/?utm_source=fb#comments">'
    item = normalize_item(parse_article(article_html("<p>x</p>", head), URL + "?from=main&utm_source=tg"))
    assert item.url == "https://informburo.kz/novosti/test"
    assert item.section == "novosti" and not item.problems


def test_lazy_image_relative_url_and_og_fallback() -> None:
    lazy = article_html("<p>x</p>", extra='<img class="article-img" data-src="/uploads/a.jpg" src="/ph.gif">')
    assert normalize_item(parse_article(lazy, URL)).image_url == "https://informburo.kz/uploads/a.jpg"
    og = article_html("<p>x</p>", head='<meta property="og:image" content="https://cdn.informburo.kz/b.jpg">')
    assert normalize_item(parse_article(og, URL)).image_url == "https://cdn.informburo.kz/b.jpg"
    assert normalize_item(parse_article(article_html("<p>x</p>"), URL)).image_url is None


def test_empty_views_widget_is_null_not_zero() -> None:
    html = article_html("<p>x</p>", extra='<small id="arrilot-widget-container-7"></small>')
    assert normalize_item(parse_article(html, URL)).views is None
    html = article_html("<p>x</p>", extra='<small id="arrilot-widget-container-7">11\u00a0674</small>')
    assert normalize_item(parse_article(html, URL)).views == 11674


def test_missing_title_and_date_are_left_empty_for_validation_to_reject() -> None:
    item = normalize_item(parse_article("<html><body><p>Один абзац без разметки.</p></body></html>", URL))
    assert item.title is None and item.published_at is None
    assert item.body == "Один абзац без разметки." and item.sources["body"] == "generic"
    assert "title" not in item.sources


def test_listing_links_and_pagination() -> None:
    site = Site.default()
    page = parse_listing(render_listing(site, 1), "http://127.0.0.1:1/novosti")
    paths = [link.removeprefix("http://127.0.0.1:1") for link in page.links]
    # The pinned first entry links with tracking parameters; one canonical URL for both copies.
    first = site.path_of(site.articles[0])
    assert paths[0].startswith(first + "?utm_source=pinned") and first in paths
    assert len({canonical_url(link) for link in page.links}) == len(paths) - 1
    # The partner link stays in the raw list for the spider to refuse.
    assert site.partner_url in page.links
    # Pagination in no known markup: the ?page=N links wherever they sit, and <link rel="next">.
    assert [p.removeprefix("http://127.0.0.1:1") for p in page.pages] == ["/novosti?page=2", "/novosti?page=3"]
    assert page.next_page == "http://127.0.0.1:1/novosti?page=2"
    last = parse_listing(
        render_listing(site, site.listing_pages), f"http://127.0.0.1:1/novosti?page={site.listing_pages}"
    )
    assert last.next_page is None and "http://127.0.0.1:1/novosti?page=1" in last.pages


def test_sidebar_and_rates_on_an_article_page() -> None:
    site = Site.default()
    html = render_article(site, site.articles[0], "http://127.0.0.1:1")
    entries = [normalize_item(e) for e in parse_most_read(html, "http://127.0.0.1:1/novosti/x")]
    assert [e.rank for e in entries] == list(range(1, 11))
    assert entries[0].url == "http://127.0.0.1:1" + site.most_read[0]["href"]
    rates = [normalize_item(r) for r in parse_rates(html, "http://127.0.0.1:1/")]
    assert [r.currency for r in rates] == ["USD", "EUR", "RUB"]


def test_rates_row_with_a_broken_value_keeps_the_reason() -> None:
    html = """<section class="currency-rates"><table class="currency-rates-table">
      <tr><td class="currency-code">CNY:</td><td class="currency-value">70,1 / —</td></tr>
      <tr><td class="currency-code">KGS:</td><td class="currency-value">5.8</td></tr></table></section>"""
    cny, kgs = (normalize_item(r) for r in parse_rates(html, URL))
    assert (cny.currency, cny.buy, cny.sell) == ("CNY", 70.1, None)
    assert kgs.buy is None and "buy / sell" in kgs.problems["buy"]


def test_a_garbled_attribute_does_not_break_the_sidebar() -> None:
    # found by tests/test_fuzz.py: a control character where an attribute name should be
    html = (
        '<section class="most-read"><ol class="most-read-list"><li class="most-read-item">'
        '<span class="most-read-rank">1</span><a class="most-read-link"\x08" href="/novosti/x">T</a>'
        "</li></ol></section>"
    )
    [entry] = parse_most_read(html, "https://informburo.kz/")
    assert (entry.rank, entry.title, entry.url) == ("1", "T", "https://informburo.kz/novosti/x")


# -- dated versions --------------------------------------------------------------

REDESIGN = datetime(2026, 6, 1, tzinfo=KZ_TZ)


def fake(name: str) -> Any:
    """A parser that says which version it is."""

    def parse(page: Any, url: str, captured_at: str | None = None, listing_published: str | None = None) -> Article:
        return Article(url=url, title=name, captured_at=captured_at)

    return parse


def test_every_page_type_has_versions_with_no_gap_and_no_overlap() -> None:
    assert set(versions.VERSIONS) == {"article", "listing", "most_read", "rates", "feed"}
    for page_type, chain in versions.VERSIONS.items():
        assert chain, page_type
        assert chain[0].valid_from is None and chain[-1].valid_until is None, f"{page_type}: a moment with no version"
        for old, new in pairwise(chain):
            assert old.valid_until is not None and old.valid_until == new.valid_from, f"{page_type}: {old} {new}"
        assert len({v.name for v in chain}) == len(chain), f"{page_type}: a version name twice"


def test_todays_extractors_are_v1_and_the_package_exports_the_current_versions() -> None:
    current = {
        "article": parse_article,
        "listing": parse_listing,
        "most_read": parse_most_read,
        "rates": parse_rates,
        "feed": parse_feed,
    }
    for page_type, parse in current.items():
        assert version_named(page_type, "v1").parse is parse
        assert parser_for(page_type) is parse, f"crawler.pages.parse_* must be the current {page_type} version"
    assert crawler.pages.parse_article is parser_for("article", "2026-01-16T10:52:00+05:00")


def test_a_second_version_is_picked_by_the_fetch_date(monkeypatch: pytest.MonkeyPatch) -> None:
    two = (PageVersion("v1", None, REDESIGN, fake("v1")), PageVersion("v2", REDESIGN, None, fake("v2")))
    monkeypatch.setattr(versions, "VERSIONS", check_registry({**versions.VERSIONS, "article": two}))
    before, after = REDESIGN - timedelta(seconds=1), REDESIGN + timedelta(days=30)
    assert version_for("article", before).name == "v1"
    assert version_for("article", REDESIGN).name == "v2"  # half-open: the boundary is the new version's
    assert version_for("article", "2026-05-31T23:59:59+05:00").name == "v1"
    assert version_for("article", "2026-05-31T19:00:00Z").name == "v2"  # 00:00 in Kazakhstan
    assert version_for("article", "2026-05-31T23:59:59").name == "v1"  # no offset: the site's time
    assert version_for("article").name == ("v2" if datetime.now(KZ_TZ) >= REDESIGN else "v1")
    assert parser_for("article", after)(None, "u").title == "v2"
    assert version_for("listing", before).name == "v1"  # other page types keep their own versions
    # the dispatcher picks by the crawl time too
    html = "<html><body><h1>T</h1></body></html>"
    url = "https://informburo.kz/novosti/x"
    assert raw_items(html, url, before)[0].title == "v1" and raw_items(html, url, after)[0].title == "v2"
    assert raw_items(html, url, after, {"article": "v1"})[0].title == "v1"
    with pytest.raises(ValueError):
        raw_items(html, url, after, {"article": "v3"})


def test_a_moment_outside_every_range_gets_the_nearest_end() -> None:
    start, end = datetime(2020, 1, 1, tzinfo=KZ_TZ), datetime(2030, 1, 1, tzinfo=KZ_TZ)
    chain = (PageVersion("v1", start, REDESIGN, fake("v1")), PageVersion("v2", REDESIGN, end, fake("v2")))
    check_registry({"article": chain})
    assert pick(chain, start - timedelta(days=1)).name == "v1"
    assert pick(chain, start).name == "v1"
    assert pick(chain, end - timedelta(seconds=1)).name == "v2"
    assert pick(chain, end + timedelta(days=1)).name == "v2"
    assert all(pick(chain, at).covers(at) for at in (start, REDESIGN, end - timedelta(seconds=1)))


@pytest.mark.parametrize(
    "chain",
    [
        # a gap
        (
            PageVersion("v1", None, REDESIGN, fake("v1")),
            PageVersion("v2", REDESIGN + timedelta(days=1), None, fake("v2")),
        ),
        # an overlap
        (
            PageVersion("v1", None, REDESIGN, fake("v1")),
            PageVersion("v2", REDESIGN - timedelta(days=1), None, fake("v2")),
        ),
        # an open end between two versions
        (PageVersion("v1", None, None, fake("v1")), PageVersion("v2", REDESIGN, None, fake("v2"))),
        # one name twice
        (PageVersion("v1", None, REDESIGN, fake("v1")), PageVersion("v1", REDESIGN, None, fake("v2"))),
        # no version at all
        (),
    ],
)
def test_the_registry_refuses_gaps_overlaps_and_reused_names(chain: tuple[PageVersion, ...]) -> None:
    with pytest.raises(ValueError):
        check_registry({"article": chain})


def test_a_version_range_is_aware_and_not_empty() -> None:
    with pytest.raises(ValueError):
        PageVersion("v1", datetime(2026, 1, 1), None, fake("v1"))
    with pytest.raises(ValueError):
        PageVersion("v1", REDESIGN, REDESIGN, fake("v1"))


def test_unknown_page_types_and_version_names_are_value_errors() -> None:
    with pytest.raises(ValueError):
        parser_for("comments")
    with pytest.raises(ValueError):
        version_for("sidebar", "2026-01-16T10:52:00+05:00")
    with pytest.raises(ValueError):
        version_named("article", "v9")
    with pytest.raises(ValueError):
        parser_for("article", "16 января 2026")


# -- layers ----------------------------------------------------------------------

ABOVE = ("pipelines", "storage", "crawler.spiders", "crawler.runner", "crawler.reparse", "jobs", "cli", "scheduler")


def test_page_objects_import_nothing_above_them() -> None:
    """Extraction is pure: no pipelines, storage or spiders, not even inside a function."""
    found = []
    for path in sorted(Path(crawler.pages.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            found += [f"{path.name}: {n}" for n in names if any(n == m or n.startswith(m + ".") for m in ABOVE)]
    assert not found


# -- canonical links, duplicated widgets, text hygiene ---------------------------

MIRROR = "http://127.0.0.1:8765"


@pytest.mark.parametrize(
    ("fetched", "canonical", "url"),
    [
        # this very page, spelled badly: taken, fully normalised, in the page's own scheme
        (URL, "http://INFORMBURO.KZ:443/novosti/test/", URL),
        (URL, "https://www.informburo.kz/novosti/test/#comments", URL),
        (URL + "/", "/novosti/test?utm_source=tg&fbclid=x", URL),
        (MIRROR + "/novosti/test", "https://127.0.0.1:8765/novosti/test/", MIRROR + "/novosti/test"),
        (MIRROR + "/novosti/test", "HTTP://127.0.0.1:8765/novosti/test/?utm_medium=a", MIRROR + "/novosti/test"),
        # no canonical: the fetched URL, normalised the same way
        ("https://INFORMBURO.kz:443/novosti/test/#top", None, URL),
    ],
)
def test_a_canonical_of_this_page_is_taken_in_the_pages_own_scheme(
    fetched: str, canonical: str | None, url: str
) -> None:
    head = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    item = normalize_item(parse_article(article_html("<p>x</p>", head), fetched))
    assert (item.url, item.problems) == (url, {})


@pytest.mark.parametrize(
    ("fetched", "canonical", "why"),
    [
        (URL, "https://kazinform.kz/novosti/test", "is on another host"),
        (URL, "https://informburo.kz.evil.example/novosti/test", "is on another host"),
        (MIRROR + "/novosti/test", "http://127.0.0.1:9/novosti/test", "is on another host"),  # another port
        (URL, "https://informburo.kz/novosti/another-article", "names another article"),
        (URL, "/stati/test", "names another article"),
        (URL, "https://informburo.kz/", "is not an article page"),
        (URL, "/tags/ktk", "is not an article page"),
        (URL, "javascript:alert(1)", "is not an http(s) URL"),
    ],
)
def test_a_canonical_elsewhere_is_refused_and_recorded(fetched: str, canonical: str, why: str) -> None:
    head = f'<link rel="canonical" href="{canonical}">'
    item = normalize_item(parse_article(article_html("<p>x</p>", head), fetched + "?utm_source=tg"))
    assert item.url == fetched and item.section == "novosti"  # stored under the fetched URL
    assert item.problems["url"].startswith("canonical link ")
    assert item.problems["url"].endswith(f"{why}: stored under the fetched URL")


def test_title_lead_and_author_leave_out_scripts_styles_and_bidi_controls() -> None:
    page = """<html><body><h1>Заголовок<script>document.title = "скрипт"</script> \u202eстатьи<style>h1{}</style></h1>
    <time datetime="2026-01-16T10:52:00+05:00">10:52</time>
    <span class="article-author">Асель<noscript>включите JS</noscript> \u2067Нурланова\u2069</span>
    <div class="article-excerpt">Лид<template>шаблон</template> статьи\u061c</div>
    <div class="article"><p>Текст\u202a абзаца\u202c.</p></div></body></html>"""
    item = normalize_item(parse_article(page, URL))
    assert (item.title, item.author, item.lead) == ("Заголовок статьи", "Асель Нурланова", "Лид статьи")
    assert item.body == "Текст абзаца."


def test_body_takes_text_outside_the_block_tags_in_document_order() -> None:
    body = """Голый текст<br>со строкой, <b>жирный</b>
      <p>Абзац.</p>
      <div>Текст в диве <i>с курсивом</i>.<div>Вложенный див.</div>И после него.</div>
      <h5>Подзаголовок пятого уровня</h5>
      <table><tr><th>Год</th><td>2026</td></tr></table>
      <blockquote>Вступление к цитате<p>Цитата.</p></blockquote>
      <section><h6>Шестой</h6><pre>код</pre></section>
      <button>Поделиться</button><svg><text>иконка</text></svg><div class="banner">Реклама</div>
      Хвост."""
    item = normalize_item(parse_article(article_html(body), URL))
    assert item.body.split("\n\n") == [
        "Голый текст со строкой, жирный",
        "Абзац.",
        "Текст в диве с курсивом.",
        "Вложенный див.",
        "И после него.",
        "Подзаголовок пятого уровня",
        "Год",
        "2026",
        "Вступление к цитате",
        "Цитата.",
        "Шестой",
        "код",
        "Хвост.",
    ]
    assert item.sources["body"] == "site"


def test_body_nested_deeper_than_the_recursion_limit_is_still_read() -> None:
    depth = 1500  # past Python's recursion limit, within what lxml parses
    body = "<div>" * depth + "Глубоко." + "</div>" * depth + "<p>Абзац.</p>"
    assert normalize_item(parse_article(article_html(body), URL)).body == "Глубоко.\n\nАбзац."


def test_other_fields_inside_the_body_container_are_not_repeated_in_the_body() -> None:
    page = """<html><body><div class="article">
      <h1>Заголовок</h1><time datetime="2026-01-16T10:52:00+05:00">10:52</time>
      <p class="article-excerpt">Лид статьи.</p>
      <p><span class="article-author">Асель Нурланова</span></p>
      <small id="arrilot-widget-container-1">11 674</small>
      <p>Текст статьи.</p>
      <ul class="article-tags"><li><a href="/tags/ktk">#КТК</a></li></ul>
    </div></body></html>"""
    item = normalize_item(parse_article(page, URL))
    assert (item.title, item.lead, item.author, item.views) == ("Заголовок", "Лид статьи.", "Асель Нурланова", 11674)
    assert item.tags == ["КТК"]
    assert item.body == "Текст статьи."
    # a date inside a sentence is words of the body, even when it is the date read
    page = """<html><body><h1>Заголовок</h1><div class="article"><p>Встреча прошла
      <time datetime="2026-01-16T10:52:00+05:00">16 января</time> в Астане.</p></div></body></html>"""
    item = normalize_item(parse_article(page, URL))
    assert (item.published_at, item.body) == ("2026-01-16T10:52:00+05:00", "Встреча прошла 16 января в Астане.")


def sidebar_html(*blocks: list[tuple[str, str]]) -> str:
    """A page with one ``section.most-read`` per block of (rank, link markup)."""
    return "".join(
        '<section class="most-read"><ol class="most-read-list">'
        + "".join(
            f'<li class="most-read-item"><span class="most-read-rank">{rank}</span>'
            f'<a class="most-read-link" href="/novosti/{rank}/">{link}</a><div class="most-read-stats">'
            '<span class="most-read-views">10</span><span class="most-read-comments">0</span>'
            '<span class="most-read-reactions">1</span></div></li>'
            for rank, link in block
        )
        + "</ol></section>"
        for block in blocks
    )


def test_a_rank_and_counters_inside_the_sidebar_link_are_not_in_the_title() -> None:
    link = (
        '<span class="most-read-rank">1</span>\u202b🥩 Ярмарка<script>x()</script>'
        '<div class="most-read-stats"><span class="most-read-views">99</span></div>'
    )
    html = sidebar_html([("1", link)]).replace('<span class="most-read-rank">1</span><a', "<a", 1)
    [entry] = [normalize_item(e) for e in parse_most_read(html, "https://INFORMBURO.KZ/")]
    assert (entry.rank, entry.emoji, entry.title, entry.views) == (1, "🥩", "Ярмарка", 99)
    assert entry.url == "https://informburo.kz/novosti/1"  # the article's stored key: no trailing slash


def test_two_most_read_blocks_keep_the_first_and_say_what_was_left() -> None:
    first = [(str(n), f"Первый {n}") for n in range(1, 11)]
    second = [(str(n), f"Второй {n}") for n in range(1, 11)]
    entries = parse_most_read(sidebar_html(first, second, first), URL)
    assert [e.title for e in entries] == [title for _, title in first]
    assert entries.problems == [
        "3 most-read blocks on the page: took the first (10 entries); left block 2: 10 entries, different from"
        " the first; block 3: 10 entries, the same as the first"
    ]
    assert parse_most_read(sidebar_html(first), URL).problems == []


def test_a_rank_listed_twice_keeps_the_first() -> None:
    entries = parse_most_read(sidebar_html([("1", "Один"), ("2", "Два"), ("02", "Снова два"), ("x", "Икс")]), URL)
    assert [e.title for e in entries] == ["Один", "Два", "Икс"]  # an unreadable rank is left for validation
    assert entries.problems == ["rank 2 listed twice in the most-read block: took the first ('Два'), left 'Снова два'"]


def rates_html(*tables: list[tuple[str, str]]) -> str:
    return "".join(
        '<section class="currency-rates"><table class="currency-rates-table">'
        + "".join(f'<tr><td class="currency-code">{c}</td><td class="currency-value">{v}</td></tr>' for c, v in rows)
        + "</table></section>"
        for rows in tables
    )


def test_rates_twice_or_a_currency_twice_keep_the_first() -> None:
    quotes = parse_rates(rates_html([("USD:", "505 / 508"), ("EUR:", "591 / 595"), ("usd", "600 / 610")]), URL)
    assert [(q.currency, q.buy) for q in quotes] == [("USD:", "505"), ("EUR:", "591")]
    assert quotes.problems == ["USD listed twice in the currency rates: took the first ('505 / 508'), left '600 / 610'"]
    quotes = parse_rates(rates_html([("USD:", "505 / 508")], [("USD:", "700 / 710")]), URL)
    assert [(q.currency, q.sell) for q in quotes] == [("USD:", "508")]
    assert quotes.problems == [
        "2 currency-rates blocks on the page: took the first (1 entries); left block 2: 1 entries, different from"
        " the first"
    ]
    # an empty widget before the real one is not a duplicate
    assert (
        parse_rates(
            '<section class="currency-rates"><table class="currency-rates-table"></table></section>'
            + rates_html([("USD:", "1 / 2")]),
            URL,
        ).problems
        == []
    )


# -- hostile depth and cut-off pages ----------------------------------------------------------------


def test_element_text_reads_markup_nested_deeper_than_python_recurses() -> None:
    from lxml import etree

    from crawler.pages.base import element_text

    root = node = etree.Element("h1")
    for _ in range(10_000):
        node = etree.SubElement(node, "b")
    node.text, node.tail = "Глубоко", None
    etree.SubElement(root, "br").tail = "и дальше"
    assert element_text(root) == "Глубоко и дальше"


def test_a_title_and_paragraph_nested_1500_deep_read_as_if_flat() -> None:
    deep = article_html(f"<p>{'<span>' * 1500}Первый абзац.{'</span>' * 1500}</p><p>Второй.</p>")
    deep = deep.replace("<h1>Заголовок <em>статьи</em></h1>", f"<h1>{'<b>' * 1500}Заголовок статьи{'</b>' * 1500}</h1>")
    item = parse_article(deep, URL)
    assert (item.title, item.body, item.problems) == ("Заголовок статьи", ["Первый абзац.", "Второй."], {})


def mirror_response(body: bytes | None = None, **headers: str) -> Any:
    """An article page of the mirror as Scrapy hands it to the spider (``body`` replaces the page)."""
    from scrapy.http import HtmlResponse

    site = Site.default()
    page = render_article(site, site.articles[2], "https://informburo.kz").encode()
    flags = headers.pop("flags", "").split()
    headers = {"Content-Type": "text/html; charset=utf-8", **headers}
    return HtmlResponse(URL, body=page if body is None else body, headers=headers, flags=flags), page


@pytest.mark.parametrize(
    ("cut", "problem"),
    [
        ("whole", None),
        ("unclosed", None),  # no </body>, no </html>: optional end tags
        ("minified", None),  # no </p>, </li>, </head> either, no line breaks
        ("in the sidebar", None),  # the article is whole: the sidebar is not read from article pages
        ("in the body", "truncated page: it stops inside the article"),
        ("in the tags", "truncated page: it stops inside the article"),
        ("in the head", "truncated page: it stops before the article"),
        ("declared longer", "truncated page (9000 of the "),  # … bytes its Content-Length declares)
        ("dataloss", "truncated page (9000 bytes: the connection closed before the declared length)"),
        ("nested past the parser", "page nested deeper than the parser reads (2000+ levels): it stops before the"),
        ("nested in the body", "page nested deeper than the parser reads (2000+ levels): it stops inside the"),
        ("nested in the footer", None),  # what the parser dropped is not the article's
    ],
)
def test_truncation_is_judged_by_length_and_the_article_not_by_a_closing_tag(cut: str, problem: str | None) -> None:
    from crawler.spiders.informburo import page_problem
    from mirror.faults import minified

    _, page = mirror_response()
    body, headers = page, {}
    if cut in ("unclosed", "minified"):
        body = minified(page, optional=cut == "minified")
    elif cut.startswith("in the "):  # a few bytes into the first of these
        where = {"sidebar": b'<section class="most-read">', "body": b"</p>", "tags": b"<li><a", "head": b"<link"}
        body = page[: page.index(where[cut.removeprefix("in the ")]) + 4]
    elif cut == "declared longer":
        body, headers = page[:9000], {"Content-Length": str(len(page))}
    elif cut == "dataloss":
        body, headers = page[:9000], {"flags": "dataloss"}
    elif cut.startswith("nested"):  # lxml drops whatever lies deeper than 2,048 levels, and the rest of the page
        where = {"past the parser": b"<h1>", "in the body": b"<p>", "in the footer": b"<footer>"}[cut[7:]]
        body = page.replace(where, b"<div>" * 2100 + where, 1)
    response, _ = mirror_response(body, **headers)
    found = page_problem(response)
    assert found is None if problem is None else found is not None and found.startswith(problem), found


def test_a_sidebar_link_that_is_no_url_is_kept_for_the_normaliser_to_record() -> None:
    """``href="http://[::1"`` must not fail the home page (a start page: the whole run would fail)."""
    from crawler.items import MostReadEntry
    from crawler.pages.sidebar import _site_url
    from pipelines.normalize import normalize_item

    assert _site_url("http://[::1", "http://127.0.0.1:8000/") == "http://[::1"
    entry = normalize_item(MostReadEntry(rank="1", title="Заголовок", url="http://[::1", captured_at="2026-01-16"))
    assert entry.url is None and "url" in entry.problems
