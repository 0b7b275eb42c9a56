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
