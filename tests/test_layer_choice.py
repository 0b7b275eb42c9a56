"""Each field's value chosen by plausibility across the page's layers, not by which layer answers first.

Small pages, one class of lie each (issue 13, findings 2 and 4): the site's own markup gives
something non-empty but wrong, and the other layers (JSON-LD, meta, the generic extractor)
must outvote it, with the disagreement noted and the chosen layer in ``sources``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from crawler.fields import garbled, readable_body, shared_words
from crawler.pages.article import ArticlePage
from crawler.pages.base import read_html
from pipelines.normalize import normalize_item
from pipelines.store import worse_than_stored
from pipelines.validate import Rejected, check_item

URL = "https://informburo.kz/novosti/test"
TITLE = "Аким Алматы рассказал о ремонте дорог"
STORY = [
    "Аким Алматы Ерболат Досаев рассказал журналистам о планах ремонта дорог на следующий год.",
    "По его словам, в первую очередь отремонтируют улицы в Алатауском и Наурызбайском районах.",
    "На работы из городского бюджета выделят более 40 миллиардов тенге, сообщили в акимате.",
    "Подрядчиков выберут на открытом конкурсе весной, а сами работы начнутся в мае и продлятся до октября.",
    "Жители смогут следить за ходом ремонта на карте, которую акимат опубликует на своём сайте.",
]
LD: dict[str, Any] = {"@type": "NewsArticle", "headline": TITLE, "datePublished": "2026-01-16T10:52:00+05:00"}


def page(
    *,
    h1: str = f"<h1>{TITLE}</h1>",
    header: str = "",
    time: str = '<time datetime="2026-01-16T10:52:00+05:00">10:52, 16 января 2026</time>',
    byline: str = "",
    before: str = "",
    body: list[str] | None = None,
    container: str = "article",
    ld: dict[str, Any] | None = LD,
    meta: str = "",
    title_tag: str = f"{TITLE} | Informburo.kz",
) -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in (STORY if body is None else body))
    script = f'<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>' if ld else ""
    return f"""<html lang="ru"><head><title>{title_tag}</title>{meta}{script}</head><body>
    <header class="site-header">{header}<nav><a href="/novosti">Новости</a></nav></header>
    <div class="uk-width-2-3@m">{h1}<div class="article-meta">{time} {byline}</div>
    {before}<div class="{container}">{paragraphs}</div></div>
    <footer>© Informburo.kz</footer></body></html>"""


def read(html: str, url: str = URL) -> Any:
    return normalize_item(ArticlePage(html, url).to_item())


# -- title ---------------------------------------------------------------------------------


def test_a_logo_h1_before_the_story_is_passed_over() -> None:
    item = read(page(header='<h1 class="logo">Informburo.kz</h1>'))
    assert (item.title, item.sources["title"], item.notes) == (TITLE, "site", {})


def test_a_navigation_h1_that_agrees_with_no_layer_loses_to_the_structured_ones() -> None:
    html = page(h1=f"<h1>Новости Казахстана</h1><h2>{TITLE}</h2>", meta=f'<meta property="og:title" content="{TITLE}">')
    item = read(html)
    assert (item.title, item.sources["title"]) == (TITLE, "jsonld")
    assert "Новости Казахстана" in item.notes["title"]


def test_the_only_h1_being_the_site_name_is_no_title() -> None:
    item = read(page(h1="", header='<h1 class="logo">Informburo.kz</h1>', ld=None, title_tag="Informburo.kz"))
    assert item.title is None and "site's own" in item.notes["title"]
    with pytest.raises(Rejected):
        check_item(item)


def test_one_structured_title_does_not_outvote_a_plausible_h1() -> None:
    """og:title alone, say a CMS's default, disagrees: the story's h1 stays, the doubt is noted."""
    html = page(
        ld=None, meta='<meta property="og:title" content="Informburo.kz — новости Казахстана">', title_tag="Informburo"
    )
    item = read(html)
    assert (item.title, item.sources["title"]) == (TITLE, "site")
    assert "meta says" in item.notes["title"]


def test_jsonld_text_is_html_unescaped() -> None:
    ld = {**LD, "headline": "Аким: &quot;ремонт&quot; &amp; дороги", "articleBody": "Первый &#171;абзац&#187;."}
    item = read(page(h1="", ld=ld, body=[], container="other"))
    assert item.title == 'Аким: "ремонт" & дороги'
    assert item.body.startswith("Первый «абзац».")


# -- dates ---------------------------------------------------------------------------------


def test_a_visible_time_that_does_not_parse_counts_as_absent() -> None:
    item = read(page(time="<time>Сегодня, 10:52</time>"))
    assert (item.published_at, item.sources["published_at"]) == ("2026-01-16T10:52:00+05:00", "jsonld")
    assert "published_at" not in item.problems


def test_no_readable_date_anywhere_is_still_a_recorded_reject() -> None:
    item = read(page(time="<time>Сегодня, 10:52</time>", ld={**LD, "datePublished": "вчера"}))
    assert item.published_at is None and "not a date" in item.problems["published_at"]
    with pytest.raises(Rejected, match="published_at"):
        check_item(item)


def test_a_site_time_the_structured_layers_disagree_with_is_outvoted() -> None:
    """A visible time without an offset on a site in Moscow time: JSON-LD and meta agree on the instant."""
    meta = '<meta property="article:published_time" content="2026-01-16T08:52:00+03:00">'
    item = read(
        page(
            time="<time>10:52, 16 января 2026</time>",
            ld={**LD, "datePublished": "2026-01-16T08:52:00+03:00"},
            meta=meta,
        )
    )
    assert item.published_at == "2026-01-16T10:52:00+05:00"  # 08:52 Moscow is 10:52 in Almaty
    assert item.sources["published_at"] == "site"  # it agrees once read: the site's own value stays
    item = read(
        page(
            time="<time>08:52, 16 января 2026</time>",
            ld={**LD, "datePublished": "2026-01-16T08:52:00+03:00"},
            meta=meta,
        )
    )
    assert (item.published_at, item.sources["published_at"]) == ("2026-01-16T10:52:00+05:00", "jsonld")
    assert "layers disagree" in item.notes["published_at"]


def test_an_updated_time_before_the_dateline_is_skipped() -> None:
    time = (
        'Обновлено: <time datetime="2026-01-16T15:00:00+05:00">15:00</time> '
        '<time datetime="2026-01-16T10:52:00+05:00">10:52</time>'
    )
    item = read(page(time=time, ld=None))
    assert (item.published_at, item.sources["published_at"]) == ("2026-01-16T10:52:00+05:00", "site")


def test_a_site_time_alone_against_one_structured_layer_loses_to_it() -> None:
    item = read(page(time='<time datetime="2026-01-16T15:00:00+05:00">15:00</time>'))
    assert (item.published_at, item.sources["published_at"]) == ("2026-01-16T10:52:00+05:00", "jsonld")
    assert "layers disagree" in item.notes["published_at"]


def test_an_unreadable_modified_time_falls_to_the_next_layer() -> None:
    meta = '<meta property="article:modified_time" content="2026-01-17T09:00:00+05:00">'
    item = read(page(ld={**LD, "dateModified": "9999-12-31T23:59:59Z"}, meta=meta))
    assert (item.modified_at, item.sources["modified_at"]) == ("2026-01-17T09:00:00+05:00", "meta")


# -- author --------------------------------------------------------------------------------


def test_a_publisher_organization_is_no_author() -> None:
    ld = {**LD, "author": {"@type": "Organization", "name": "Informburo.kz"}}
    item = read(page(ld=ld))
    assert item.author is None and "author" not in item.sources
    ld = {**LD, "author": [{"@type": "Organization", "name": "Zakon.kz"}, {"@type": "Person", "name": "Анна Ли"}]}
    assert read(page(ld=ld)).author == "Анна Ли"


@pytest.mark.parametrize("value", ["https://facebook.com/someone", "Informburo.kz"])
def test_an_author_that_is_a_link_or_the_site_is_passed_over(value: str) -> None:
    meta = f'<meta name="author" content="{value}">'
    item = read(page(meta=meta, byline=f'<span class="article-author">{value}</span>'))
    assert item.author is None


def test_a_byline_linking_an_author_page_gives_the_author_when_no_layer_does() -> None:
    ld = {**LD, "author": {"@type": "Organization", "name": "Zakon.kz"}}
    byline = '<div class="by">Автор: <a href="/author/arman-kaliev/">Арман Калиев</a></div>'
    item = read(page(ld=ld, byline=byline))
    assert (item.author, item.sources["author"]) == ("Арман Калиев", "generic")


# -- body ----------------------------------------------------------------------------------


def test_a_read_also_box_before_the_story_is_not_the_body() -> None:
    box = '<div class="article"><p>Читайте также: <a href="/x">другая новость</a></p></div>'
    item = read(page(before=box))
    assert item.body == "\n\n".join(STORY) and item.sources["body"] == "site"


def test_a_teaser_article_body_loses_to_the_page_text() -> None:
    """No site container; JSON-LD's articleBody is a 90-character teaser: the generic extractor's text wins."""
    ld = {**LD, "articleBody": STORY[0]}
    item = read(page(ld=ld, container="entry-content"))
    assert item.sources["body"] == "generic"
    assert all(p in item.body for p in STORY)
    assert "characters by layer" in item.notes["body"]


def test_a_full_article_body_wins_over_a_site_teaser() -> None:
    ld = {**LD, "articleBody": "\n\n".join(STORY)}
    item = read(page(ld=ld, body=STORY[:1]))
    assert (item.body, item.sources["body"]) == ("\n\n".join(STORY), "jsonld")


def test_a_consent_notice_is_not_a_body() -> None:
    notice = ["Мы используем файлы cookie. Продолжая, вы даёте согласие на обработку персональных данных."]
    item = read(page(body=notice))
    assert item.body is None and "a notice, not an article" in item.problems["body"]
    with pytest.raises(Rejected, match="body"):
        check_item(item)


def test_a_long_article_about_cookies_is_still_an_article() -> None:
    text = ["Мы используем файлы cookie, — говорят в компании, — и политика конфиденциальности это описывает."] * 20
    assert readable_body(text)


# -- mojibake ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        TITLE.encode("utf-8").decode("latin-1"),  # Ð\x90ÐºÐ¸Ð¼…
        TITLE.encode("cp1251").decode("latin-1"),  # Àêèì…
        TITLE.encode("cp1251").decode("utf-8", errors="replace"),  # U+FFFD
    ],
)
def test_mojibake_is_detected(text: str) -> None:
    assert garbled(text)


@pytest.mark.parametrize("text", [TITLE, "Café Müller à Paris: été", "Emoji \ufffd once", "Qazaqstan Respýblıkasy"])
def test_real_text_is_not_mojibake(text: str) -> None:
    assert garbled(text) is None


def test_a_page_declared_utf8_in_cp1251_is_read_as_cp1251_and_said_so() -> None:
    raw = page().encode("cp1251")
    text, why = read_html(raw, "text/html; charset=utf-8")
    assert TITLE in text and "read as cp1251" in why
    assert read_html(page().encode(), "text/html; charset=utf-8") == (page(), None)


def test_a_garbled_page_is_rejected_with_the_reason() -> None:
    item = read(page().encode("utf-8").decode("latin-1"))
    with pytest.raises(Rejected, match="mojibake"):
        check_item(item)


# -- a stored article against its re-crawl -------------------------------------------------


def stored(body: str, title: str = TITLE) -> dict[str, Any]:
    return {"title": title, "body": body, "lead": None, "author": None, "image_url": None, "tags": "[]"}


def test_another_text_under_the_same_title_is_worse_than_the_stored_one() -> None:
    other = " ".join(
        "Сборная Казахстана по футболу проиграла в товарищеском матче команде Армении со счётом два один".split() * 3
    )
    worse = worse_than_stored(stored(other), stored("\n\n".join(STORY)))
    assert worse is not None and worse[0] == "body" and "another text" in worse[1]


def test_an_edited_story_is_not_worse() -> None:
    edited = "\n\n".join([*STORY[:3], "Работы начнутся в июне.", *STORY[4:], "Обновлено: акимат уточнил сроки."])
    assert shared_words(edited, "\n\n".join(STORY)) > 0.8
    assert worse_than_stored(stored(edited), stored("\n\n".join(STORY))) is None
    # a new title may come with a new text: that is an edit the archive keeps as a version
    other = "Совсем другая история, написанная заново, о погоде на севере страны и снегопадах в горах. " * 4
    assert worse_than_stored(stored(other, "Новый заголовок"), stored("\n\n".join(STORY))) is None
