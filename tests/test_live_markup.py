"""What public scrapers show of the live site (issue 14, item 1): URL shapes, the listing's entries
and pagination, and the article's lead, cards, microdata date, noise and photos.

Each rule is tested on a small page here, on a saved page in ``fixtures/pages`` (``article-kk-newskaz``,
``article-html-2022``, ``article-amp``, ``article-cards``, ``article-microdata-date``,
``article-live-noise``, ``listing-live``), and on the mirror, whose variants the real crawl meets
(``tests/test_end_to_end.py``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from crawler.fields import KZ_TZ, canonical_url, section_of
from crawler.pages import parse_article, parse_listing
from crawler.pages.dispatch import page_types
from crawler.pages.listing import home_cards
from mirror.server import MirrorServer
from mirror.site import AMP, LIVE_NOISE, Site, body_text, render_article, render_listing
from pipelines.normalize import normalize_item
from pipelines.preview import parse_page
from pipelines.validate import check_item
from tests.conftest import crawl, rows
from tests.record import PAGES
from tests.test_end_to_end import expected_articles

BASE = "https://informburo.kz"
NOW = datetime(2026, 1, 16, 15, 0, tzinfo=KZ_TZ)
STORY = (
    "Аким Алматы рассказал журналистам о планах ремонта дорог на следующий год. По его словам, в первую"
    " очередь отремонтируют улицы в Алатауском и Наурызбайском районах, на это выделят 40 млрд тенге."
)


def article(
    body: str = f"<p>{STORY}</p>",
    *,
    head: str = "",
    meta: str = '<time datetime="2026-01-16T10:52:00+05:00">10:52, 16 января 2026</time>',
    before: str = "",
    after: str = "",
    lang: str = "ru",
) -> str:
    """A small article page in the live template's shape."""
    return f"""<html lang="{lang}"><head>{head}</head><body>
    <header class="site-header"><a href="/">Informburo.kz</a></header>
    <div class="uk-width-2-3@m uk-width-1-1"><article><h1>Аким рассказал о ремонте дорог</h1>
    <div class="uk-width-1-1 article-meta">{meta}</div>{before}
    <div class="article">{body}</div>{after}</article></div>
    <aside class="uk-width-1-3@m"></aside><footer>© Informburo.kz</footer></body></html>"""


def read(html: str, url: str = BASE + "/novosti/test") -> Any:
    return normalize_item(parse_article(html, url))


def site_key(link: str, base: str = BASE) -> str | None:
    """A listed link as the spider keys it (``site_url``: ``canonical_url`` on the base URL), or
    ``None`` where it follows nothing (``is_article_url``: ``section_of``). The spider applies
    exactly these two rules of crawler/fields.py, so they are what is tested here."""
    url = canonical_url(link, base)
    return url if section_of(url) else None


# -- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "section"),
    [
        ("/kaz/newskaz/ubt-bejindik-paender-tizbesine-informatika-engizildi", "newskaz"),
        ("/novosti/novyj-most-cherez-ishim-otkroyut-osenyu.html", "novosti"),
        ("/amp/stati/kak-izmenitsya-pensionnyj-vozrast", "stati"),
        ("/amp/kaz/newskaz/ubt-2026", "newskaz"),
        ("/cards/kak-poluchit-vychet", "cards"),
        ("/kaz/newskaz", None),  # the Kazakh news listing
        ("/kaz/novosti/x", None),
        ("/newskaz/x", None),  # Kazakh news only under its language prefix
        ("/syuzhety/chto-proishodit-v-ukraine", None),  # a story hub
        ("/tags/ktk", None),
        ("/amp/tags/ktk", None),
        ("/amp/syuzhety/x", None),
        ("/amp", None),
        ("/amp/novosti", None),
    ],
)
def test_which_urls_are_articles_and_of_which_section(path: str, section: str | None) -> None:
    assert section_of(BASE + path) == section
    assert ("article" in page_types(BASE + path)) == (section is not None)


def test_a_kazakh_news_article_is_stored_with_section_newskaz() -> None:
    url = BASE + "/kaz/newskaz/ubt-2026"
    html = article(head=f'<link rel="canonical" href="{url}">', lang="kk")
    item = read(html, url)
    assert (item.url, item.section, item.lang, item.problems) == (url, "newskaz", "kk", {})
    check_item(item)  # validation takes it: newskaz is a section


def test_an_older_articles_html_suffix_is_kept_by_listing_canonical_and_known_url_alike() -> None:
    url = BASE + "/novosti/novyj-most-cherez-ishim-otkroyut-osenyu.html"
    assert site_key("/novosti/novyj-most-cherez-ishim-otkroyut-osenyu.html/?utm_source=tg") == url
    html = article(head='<link rel="canonical" href="/novosti/novyj-most-cherez-ishim-otkroyut-osenyu.html">')
    item = read(html, url + "?utm_source=tg")
    assert (item.url, item.section, item.problems) == (url, "novosti", {})
    # A canonical without the suffix names another page: the fetched one is kept (no invented redirect).
    html = article(head='<link rel="canonical" href="/novosti/novyj-most-cherez-ishim-otkroyut-osenyu">')
    item = read(html, url)
    assert item.url == url and "names another article" in item.problems["url"]


@pytest.mark.parametrize(
    ("amp", "key"),
    [
        ("/amp/stati/pensiya", "/stati/pensiya"),
        ("/amp/kaz/newskaz/ubt.html", "/kaz/newskaz/ubt.html"),
        ("https://www.informburo.kz/amp/novosti/x/?utm_source=tg", "/novosti/x"),
        ("/amp/tags/ktk", "/amp/tags/ktk"),  # not an article's copy: left as it is
    ],
)
def test_an_amp_copy_has_its_articles_key(amp: str, key: str) -> None:
    assert canonical_url(amp, BASE) == BASE + key


@pytest.mark.parametrize(
    "canonical",
    [
        '<link rel="canonical" href="https://informburo.kz/stati/pensiya">',
        '<link rel="canonical" href="/amp/stati/pensiya">',  # a copy naming itself
        "",  # none at all
    ],
)
def test_an_amp_page_is_stored_under_its_article_never_twice(canonical: str) -> None:
    amp = read(article(head=canonical), BASE + "/amp/stati/pensiya")
    plain = read(article(head=canonical.replace("/amp", "")), BASE + "/stati/pensiya")
    assert amp.url == plain.url == site_key("/amp/stati/pensiya") == BASE + "/stati/pensiya"
    assert amp.section == "stati" and amp.problems == {}


def test_listing_links_become_the_keys_the_spider_requests_and_knows() -> None:
    listing = parse_listing((PAGES / "listing-live.html").read_bytes(), BASE + "/novosti?page=2", NOW)
    keys = [site_key(link) for link in listing.links]
    assert keys == [
        BASE + "/stati/kak-izmenitsya-pensionnyj-vozrast-zhenshchin-v-2026-godu",  # listed by its AMP copy
        BASE + "/kaz/newskaz/ubt-bejindik-paender-tizbesine-informatika-engizildi",
        BASE + "/cards/kak-poluchit-nalogovyj-vychet-na-lechenie-poshagovaya-instrukciya",
        None,  # a story hub: not followed
        BASE + "/novosti/novyj-most-cherez-ishim-otkroyut-osenyu.html",
    ]
    # ... and each is the key its page is stored under (the saved pages of those articles).
    for name in ("article-amp", "article-kk-newskaz", "article-cards", "article-html-2022"):
        stored = json.loads((PAGES / f"{name}.json").read_text(encoding="utf-8"))["items"][0]["url"]
        assert stored in keys


# -- the listing -----------------------------------------------------------------------------


def listing(entries: str, head: str = "", after: str = "") -> str:
    return f"""<html><head>{head}</head><body><div class="uk-width-2-3@m uk-width-1-1">
    <ul class="uk-nav uk-nav-default"><li><h2 class="date-heading">Сегодня</h2></li>{entries}</ul>{after}
    </div></body></html>"""


LIVE_ENTRY = (
    '<li class="uk-grid uk-grid-small uk-margin-remove-top" uk-grid>'
    '<div class="uk-width-auto"><a href="/novosti/thumb-only"><img data-src="/storage/photos/1/main/a.jpg" alt="x">'
    '</a></div><div class="uk-width-expand"><a href="/novosti/ktk">Переговоры по КТК\n'
    '<time class="article-time">13:51</time><span class="article-mark">#КТК</span></a></div></li>'
)


def test_a_live_entry_the_title_link_in_its_text_column_with_the_time_inside() -> None:
    [entry] = parse_listing(listing(LIVE_ENTRY), BASE + "/novosti", NOW).entries
    assert entry.url == BASE + "/novosti/ktk"  # not the thumbnail's link before it
    assert entry.title == "Переговоры по КТК"  # the link's own text: not its time, not its hashtag
    assert entry.published_at == "2026-01-16T13:51:00+05:00"


def test_an_entry_without_a_text_column_takes_the_first_link_with_text_of_its_own() -> None:
    entry_html = (
        '<li class="uk-grid"><div><a href="/novosti/thumb"><img data-src="/a.jpg"></a></div>'
        '<div><a href="/novosti/story">Заголовок <time class="article-time">09:10</time></a></div></li>'
    )
    [entry] = parse_listing(listing(entry_html), BASE + "/novosti", NOW).entries
    assert (entry.url, entry.title, entry.published_at) == (
        BASE + "/novosti/story",
        "Заголовок",
        "2026-01-16T09:10:00+05:00",
    )


@pytest.mark.parametrize(
    ("head", "after", "next_page"),
    [
        # rel="next", in the head or on a link, whatever else the page has
        ('<link rel="next" href="/novosti?page=3">', "", "/novosti?page=3"),
        ("", '<nav><a rel="next" href="/novosti?page=3">→</a></nav>', "/novosti?page=3"),
        # a ?page=N+1 link wherever it sits, in markup of no known class
        ("", '<div class="x"><a href="/novosti">1</a><a href="/novosti?page=3">3</a></div>', "/novosti?page=3"),
        ("", '<p>Дальше: <a href="https://informburo.kz/novosti?page=3&amp;s=x">ещё</a></p>', "/novosti?page=3&s=x"),
        # the old guess still works
        ("", '<ul class="uk-pagination"><li><a href="/novosti?page=3">3</a></li></ul>', "/novosti?page=3"),
        # not this listing's pages: a tag page's, another host's, a page far ahead
        ("", '<a href="/tags/ktk?page=3">3</a><a href="https://kazinform.kz/novosti?page=3">3</a>', None),
        ("", '<a href="/novosti?page=7">7</a><a href="/novosti?page=1">1</a>', None),
    ],
)
def test_the_next_page_is_found_by_rel_next_or_by_its_number_not_by_a_class(
    head: str, after: str, next_page: str | None
) -> None:
    page = parse_listing(listing(LIVE_ENTRY, head, after), BASE + "/novosti?page=2", NOW)
    assert page.next_page == (BASE + next_page if next_page else None)
    if next_page:  # the spider walks on when page.pages holds page N+1 (its _page_number check)
        assert BASE + next_page in page.pages
    assert not any("tags" in p or "kazinform" in p for p in page.pages)


def test_on_a_first_page_only_links_naming_a_page_are_read_yet_an_escaped_one_still_counts() -> None:
    """The first page's URL names no page, so links that do not say "page" are skipped unread (most
    of a listing's links); a percent-escaped ``?%70age=2`` still says it, to the URL parser."""
    page = parse_listing(listing(LIVE_ENTRY, after='<a href="?%70age=2">2</a>'), BASE + "/novosti", NOW)
    assert page.next_page == BASE + "/novosti?%70age=2" and page.pages == [BASE + "/novosti?%70age=2"]


def test_the_live_listing_saved_page_pagination() -> None:
    page = parse_listing((PAGES / "listing-live.html").read_bytes(), BASE + "/novosti?page=2", NOW)
    assert page.next_page == BASE + "/novosti?page=3"
    assert page.pages == [BASE + "/novosti?page=3", BASE + "/novosti?page=4"]
    assert [e.published_at for e in page.entries][-1] == "2022-05-21T09:00:00+06:00"


@pytest.mark.parametrize(
    ("after", "next_page"),
    [
        ('<a href="/novosti/page/1">1</a> <a href="/novosti/page/3">3</a>', "/novosti/page/3"),  # /page/N links
        ('<a rel="next" href="/novosti/archive?from=2026-01-10">Ранее</a>', "/novosti/archive?from=2026-01-10"),
        ('<a href="/tags/ktk/page/3">3</a>', None),  # another listing's
    ],
)
def test_a_next_page_in_another_form_is_the_one_the_site_names(after: str, next_page: str | None) -> None:
    page = parse_listing(listing(LIVE_ENTRY, after=after), BASE + "/novosti/page/2", NOW)
    assert page.next_page == (BASE + next_page if next_page else None)
    assert not any("tags" in p for p in page.pages)


@pytest.mark.slow
def test_the_crawl_walks_a_listing_paged_by_path_by_its_rel_next(site: Site, db: Path) -> None:
    site.pagination = "path"  # /novosti/page/N: no ?page= link anywhere
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url, "--only", "articles").returncode == 0
        paths = mirror.paths()
    walked = [p for p in paths if p.startswith("/novosti/page/")]
    assert walked == [f"/novosti/page/{n}" for n in range(2, site.listing_pages + 1)] and "?page=" not in str(paths)
    assert rows(db, "SELECT count(*) AS n FROM articles")[0]["n"] == len(expected_articles(site))
    assert rows(db, "SELECT warning FROM crawl_runs") == [{"warning": None}]  # the last page is no drift


def test_the_home_pages_cards_give_their_articles_once_each() -> None:
    home = (
        '<div class="uk-inline"><a href="/novosti/a"><img data-src="/storage/photos/1/main/a.jpg"></a>'
        '<div class="uk-overlay-primary uk-position-bottom"><a href="/novosti/a">Первая история</a></div></div>'
        '<div class="uk-inline"><div class="uk-overlay-primary"><span class="tag">#КТК</span>'
        '<a href="/stati/b?utm_source=main">Вторая <b>история</b></a></div></div>'
        '<div class="uk-overlay-primary"><a href="/novosti/a">Первая история</a></div>'  # the same story again
        '<button onclick="loadMore(this)">Показать больше</button>'
    )
    cards = home_cards(listing(home), BASE + "/")
    assert [(c.url, c.title) for c in cards] == [
        (BASE + "/novosti/a", "Первая история"),
        (BASE + "/stati/b?utm_source=main", "Вторая"),  # the link's own text; the spider canonicalises the URL
    ]
    assert home_cards(listing(LIVE_ENTRY), BASE + "/") == []  # no card: nothing


@pytest.mark.slow
def test_an_article_only_the_home_pages_cards_show_is_collected(site: Site, db: Path) -> None:
    featured = site.articles[1]
    site.unlisted.add(site.path_of(featured))  # in no listing page and no feed: only in a home card
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url, "--only", "articles").returncode == 0
        url = mirror.url + site.path_of(featured)
    assert rows(db, "SELECT title FROM articles WHERE url = ?", (url,)) == [{"title": featured["title"]}]


def test_a_last_page_has_no_next_page() -> None:
    page = parse_listing(listing(LIVE_ENTRY, after='<a href="/novosti?page=1">1</a>'), BASE + "/novosti?page=2", NOW)
    assert page.next_page is None and page.pages == [BASE + "/novosti?page=1"]


# -- the article: lead, cards ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "body"),
    [
        ('<strong class="article-excerpt">Лид статьи.</strong>', f"<p>{STORY}</p>"),  # 2026
        ('<h3 class="article-excerpt">Лид статьи.</h3>', f"<p>{STORY}</p>"),  # 2022
        ("", f'<h3 class="article-excerpt">Лид статьи.</h3><p>{STORY}</p>'),  # 2022, inside the body
    ],
)
def test_the_lead_is_read_by_its_class_whatever_its_tag(before: str, body: str) -> None:
    item = read(article(body, before=before))
    assert (item.lead, item.body) == ("Лид статьи.", STORY)


CARDS = [
    ("Шаг 1. Соберите документы", "Понадобятся договор и чеки."),
    ("Шаг 2. Подайте заявление", "Предел – 118 МРП."),
]


def cards_html() -> str:
    return "".join(f'<div class="article-text-card"><h3>{h}</h3><p>{p}</p></div>' for h, p in CARDS)


def test_a_cards_page_reads_its_text_cards_inside_the_body() -> None:
    item = read(article(f"<p>{STORY}</p>{cards_html()}"), BASE + "/cards/vychet")
    assert item.body.split("\n\n") == [STORY] + [text for card in CARDS for text in card]
    assert item.sources["body"] == "site"


def test_text_cards_outside_the_body_container_are_body_too_in_page_order() -> None:
    item = read(article(f"<p>{STORY}</p>", after=cards_html()), BASE + "/cards/vychet")
    assert item.body.split("\n\n") == [STORY] + [text for card in CARDS for text in card]
    empty = read(article("", after=cards_html()), BASE + "/cards/vychet")  # beside an empty container
    assert empty.body.split("\n\n") == [text for card in CARDS for text in card]


def test_text_cards_with_no_container_at_all_are_not_taken_alone_for_the_site_body() -> None:
    """A redesign that renamed the container but not the cards: the intro would be lost, so the
    layers that have the whole story (JSON-LD, the generic extractor) give it."""
    story = {"@type": "NewsArticle", "articleBody": STORY + "\n\n" + "\n\n".join(t for c in CARDS for t in c)}
    head = f'<script type="application/ld+json">{json.dumps(story, ensure_ascii=False)}</script>'
    page = article(f"<p>{STORY}</p>{cards_html()}", head=head).replace('class="article"', 'class="content-v2"')
    item = read(page, BASE + "/cards/vychet")
    assert item.body == story["articleBody"] and item.sources["body"] == "jsonld"


# -- the article: the microdata date takes part in the vote --------------------------------------

MICRODATA = '<meta itemprop="datePublished" content="{}">'
LD = '<script type="application/ld+json">{{"@type": "NewsArticle", "datePublished": "{}"}}</script>'


def test_a_date_only_in_microdata_is_read_from_it() -> None:
    item = read(article(meta=MICRODATA.format("2026-01-10T21:15:00+05:00")))
    assert (item.published_at, item.sources["published_at"]) == ("2026-01-10T21:15:00+05:00", "microdata")


def test_microdata_votes_with_the_layer_it_agrees_with() -> None:
    site_time = '<time datetime="2026-01-16T15:00:00+05:00">15:00, 16 января 2026</time>'
    # Alone against JSON-LD the site's time loses (a tie goes to the structured layer) ...
    item = read(article(head=LD.format("2026-01-16T10:52:00+05:00"), meta=site_time))
    assert item.sources["published_at"] == "jsonld"
    # ... with microdata behind it, it wins two to one.
    meta = site_time + MICRODATA.format("2026-01-16T15:00:00+05:00")
    item = read(article(head=LD.format("2026-01-16T10:52:00+05:00"), meta=meta))
    assert (item.published_at, item.sources["published_at"]) == ("2026-01-16T15:00:00+05:00", "site")
    assert "microdata" in item.notes["published_at"]
    # And microdata agreeing with JSON-LD outvotes the site's time.
    meta = site_time + MICRODATA.format("2026-01-16T10:52:00+05:00")
    item = read(article(head=LD.format("2026-01-16T10:52:00+05:00"), meta=meta))
    assert (item.published_at, item.sources["published_at"]) == ("2026-01-16T10:52:00+05:00", "jsonld")


def test_the_dateline_marked_as_microdata_is_one_vote_not_two() -> None:
    meta = '<time itemprop="datePublished" datetime="2026-01-16T15:00:00+05:00">15:00, 16 января 2026</time>'
    item = read(article(head=LD.format("2026-01-16T10:52:00+05:00"), meta=meta))
    assert item.sources["published_at"] == "jsonld"  # 1 : 1, the tie goes to JSON-LD
    assert "microdata" not in item.notes["published_at"]


@pytest.mark.parametrize(
    "meta",
    [
        MICRODATA.format("2026-01-10"),  # a date without a time names no instant
        '<ul class="several-images-read-more"><li>' + MICRODATA.format("2026-01-15T20:40:00+05:00") + "</li></ul>",
        '<aside class="related">' + MICRODATA.format("2026-01-15T20:40:00+05:00") + "</aside>",
    ],
)
def test_microdata_that_names_no_instant_or_another_story_takes_no_part(meta: str) -> None:
    item = read(article(meta=meta + '<time datetime="2026-01-16T10:52:00+05:00">10:52</time>'))
    assert (item.published_at, item.sources["published_at"]) == ("2026-01-16T10:52:00+05:00", "site")
    assert "published_at" not in item.notes


def test_another_storys_microdata_before_this_ones_is_skipped() -> None:
    related = '<ul class="several-images-read-more"><li>' + MICRODATA.format("2026-01-15T20:40:00+05:00") + "</li></ul>"
    item = read(article(meta=related + MICRODATA.format("2026-01-10T21:15:00+05:00")))
    assert (item.published_at, item.sources["published_at"]) == ("2026-01-10T21:15:00+05:00", "microdata")


# -- the article: noise and photos ---------------------------------------------------------------


def test_the_live_noise_is_not_body() -> None:
    body = f"""<p>{STORY}</p>
      <ul class="several-images-read-more"><li><a href="/novosti/x"><img data-src="/storage/photos/2/main/b.jpg">
        <span>Другая новость</span></a></li></ul>
      <div class="article-banner">Реклама</div><div class="uk-margin article-banner-mobile">Реклама 2</div>
      <div class="no-article-banner">Второй абзац.</div>
      <p><strong>Читайте также:</strong> <a href="/novosti/y">Ещё одна новость</a></p>
      <p><b>Читайте также</b></p>
      <p>Читайте также в законе: правила не меняются.</p>
      <p>Третий абзац, <strong>Читайте также:</strong> в середине фразы.</p>
      <p>Скачайте мобильное приложение informburo.kz для <a href="https://apps.apple.com/x">iOS</a></p>
      <p><a href="/syuzhety/x">Все новости сюжета читайте здесь</a></p>"""
    assert read(article(body)).body.split("\n\n") == [
        STORY,
        "Второй абзац.",
        "Читайте также в законе: правила не меняются.",
        "Третий абзац, Читайте также: в середине фразы.",
    ]


def test_the_app_line_is_dropped_and_a_mention_of_it_inside_a_sentence_is_not() -> None:
    body = f"<p>{STORY}</p><p>Редакция просит: скачайте мобильное приложение informburo.kz, там удобнее.</p>"
    assert read(article(body)).body.split("\n\n")[-1].startswith("Редакция просит")


def test_a_photo_under_the_sites_store_is_the_last_image_reading() -> None:
    photo = '<p><img data-src="/storage/photos/1187/main/pension.jpg" src="/img/placeholder.gif"></p>'
    related = '<ul class="several-images-read-more"><li><img data-src="/storage/photos/2/main/b.jpg"></li></ul>'
    item = read(article(f"{related}{photo}<p>{STORY}</p>"))
    assert (item.image_url, item.sources["image_url"]) == (BASE + "/storage/photos/1187/main/pension.jpg", "site")
    og = '<meta property="og:image" content="https://informburo.kz/storage/photos/5/main/og.jpg">'
    item = read(article(f"{photo}<p>{STORY}</p>", head=og))
    assert (item.image_url, item.sources["image_url"]) == (BASE + "/storage/photos/5/main/og.jpg", "meta")
    assert read(article(f"{related}<p>{STORY}</p>")).image_url is None  # another story's thumbnail
    assert read(article('<p><img src="/uploads/x.jpg"></p>' + f"<p>{STORY}</p>")).image_url is None


# -- the mirror: each variant, served as the crawl meets it --------------------------------------


def test_the_mirror_carries_every_live_variant() -> None:
    site = Site.default()
    by = {key: [a for a in site.articles if pred(a)] for key, pred in VARIANTS.items()}
    assert all(by.values()), {k: len(v) for k, v in by.items()}
    assert {b["noise"] for a in site.articles for b in a["blocks"] if b.get("noise")} >= set(LIVE_NOISE)
    listed = "\n".join(render_listing(site, n) or "" for n in range(1, site.listing_pages + 1))
    assert 'class="uk-grid uk-grid-small uk-margin-remove-top"' in listed and '<link rel="next"' in listed
    assert "uk-pagination" not in listed
    for amp in by["amp"]:
        assert f'href="{AMP}{site.path_of(amp)}"' in listed  # the crawl meets the AMP link
        assert site.article_at(AMP + site.path_of(amp)) == {**amp, "amp_copy": True}


VARIANTS = {
    "kazakh": lambda a: a["section"] == "newskaz" and a["lang"] == "kk",
    "html": lambda a: a["slug"].endswith(".html"),
    "amp": lambda a: a.get("amp"),
    "cards": lambda a: any(b.get("tag") == "card" for b in a["blocks"]),
    "microdata-date": lambda a: a.get("variant") == "microdata-date",
    "strong-lead": lambda a: a.get("lead_tag") == "strong",
    "h3-lead": lambda a: a.get("lead_tag") == "h3",
    "stored-photo": lambda a: (a["image"] or "").startswith("/storage/photos/"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_mirror_variant_parses_to_its_ground_truth(variant: str) -> None:
    site = Site.default()
    for art in (a for a in site.articles if VARIANTS[variant](a)):
        base, path = "http://127.0.0.1:1", site.path_of(art)
        url = base + path
        copies = [(render_article(site, art, base), url)]
        if art.get("amp"):  # the AMP copy too: the same row
            copies.append((render_article(site, site.article_at(AMP + path) or {}, base), base + AMP + path))
        for html, fetched in copies:
            item = parse_page(html, fetched, NOW)[0]
            assert (item["url"], item["section"], item["lang"]) == (url, art["section"], art["lang"])
            assert (item["title"], item["lead"], item["body"]) == (art["title"], art["lead"], body_text(art))
            assert item["published_at"] == art["published"]
            assert not item.get("problems") and not item.get("notes")
