"""Page objects on small pages: pure functions from HTML and URL to raw items."""

from __future__ import annotations

from crawler.fields import canonical_url
from crawler.pages import parse_article, parse_listing, parse_most_read, parse_rates
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
    head = '<link rel="canonical" href="/novosti/real-slug?utm_source=fb#comments">'
    item = normalize_item(parse_article(article_html("<p>x</p>", head), URL + "?utm_source=tg"))
    assert item.url == "https://informburo.kz/novosti/real-slug"
    assert item.section == "novosti"


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
    assert [p.removeprefix("http://127.0.0.1:1") for p in page.pages] == [f"/novosti?page={n}" for n in (1, 2, 3)]


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
