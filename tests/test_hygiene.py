"""Canonical links, duplicated widgets and text hygiene through the real crawl against the mirror.

Each test serves the mirror with the fault on its pages (mirror/site.py's optional article keys,
``Site.second_most_read`` / ``second_rates``) and asserts on what the database holds: the page
is stored once, under the URL the listing gives, nothing else is overwritten, and what was left
out is recorded in ``crawl_errors`` with its reason.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from crawler.fields import split_emoji
from mirror.server import MirrorServer
from mirror.site import Site, body_text
from tests.conftest import crawl, rows

pytestmark = pytest.mark.slow  # crawls, each an `informburo` child process


def new_article(site: Site, slug: str, minute: int, **changes: Any) -> dict[str, Any]:
    """A copy of an ordinary mirror article under a new slug, newer than every other (listing page 1)."""
    article = copy.deepcopy(site.articles[1])
    article.update(slug=slug, published=f"2026-01-16T11:{minute:02d}:00+05:00", **changes)
    return article


# canonical link (with {base}, {host}, {path} filled in by the mirror) → the problem recorded, or None
CANONICALS = {
    "canonical-offsite": ("https://kazinform.kz{path}", "is on another host"),
    "canonical-home": ("{base}/", "is not an article page"),
    "canonical-not-http": ("javascript:void(0)", "is not an http(s) URL"),
    # an http canonical with a trailing slash, a fragment and tracking: this very page, spelled badly
    "canonical-messy": ("HTTP://{host}{path}/?utm_source=tg&fbclid=1#comments", None),
    # https on the http mirror: the page's own scheme wins, so the key is the listing's URL
    "canonical-https": ("https://{host}{path}/", None),
}


def test_canonical_links_never_store_a_page_under_another_url_and_stop_early_still_works(site: Site, db: Path) -> None:
    victim = site.articles[0]  # an article of ours that a wrong canonical points at
    victim_path = site.path_of(victim)
    added = [new_article(site, slug, i, canonical=link) for i, (slug, (link, _)) in enumerate(CANONICALS.items())]
    added.append(new_article(site, "canonical-other-article", 9, canonical="{base}" + victim_path, title="Другая"))
    site.articles[:0] = sorted(added, key=lambda a: a["published"], reverse=True)
    with MirrorServer(site) as mirror:
        first = crawl(db, mirror.url)
        assert first.returncode == 0, first.stderr
        seen = len(mirror.paths())
        second = crawl(db, mirror.url)
        assert second.returncode == 0, second.stderr
        second_paths = mirror.paths()[seen:]

    stored = {r["url"]: r for r in rows(db, "SELECT url, title FROM articles")}
    for article in added:  # each under the URL it was listed and fetched at, once
        assert stored[mirror.url + site.path_of(article)]["title"] == article["title"]
    assert stored[mirror.url + victim_path]["title"] == victim["title"]  # not overwritten
    assert all(url.startswith(mirror.url + "/") for url in stored)  # nothing under another host's URL
    assert not any(url.endswith("/") or "#" in url or "utm_" in url for url in stored)

    errors = {e["url"]: e for e in rows(db, "SELECT url, stage, reason FROM crawl_errors")}
    wanted = {slug: why for slug, (_, why) in CANONICALS.items() if why}
    wanted["canonical-other-article"] = "names another article"
    assert sorted(errors) == sorted(f"{mirror.url}/novosti/{slug}" for slug in wanted)
    for slug, why in wanted.items():
        error = errors[f"{mirror.url}/novosti/{slug}"]
        assert error["stage"] == "parse" and error["reason"].startswith("url: canonical link ")
        assert error["reason"].endswith(f"{why}: stored under the fetched URL"), error["reason"]

    # The listing's URL is the stored key: the second pass stops at page 1 and refetches none of them.
    assert not any(p.startswith(("/novosti/canonical-", victim_path)) for p in second_paths), second_paths
    assert "/novosti?page=2" not in second_paths
    runs = rows(db, "SELECT status, items_stored FROM crawl_runs ORDER BY id")
    assert [r["status"] for r in runs] == ["ok", "ok"] and runs[1]["items_stored"] == 10 + 3


def test_a_widget_twice_keeps_the_first_records_the_rest_and_counts_what_was_stored(site: Site, db: Path) -> None:
    first_block = [dict(e) for e in site.most_read]
    site.second_most_read = [{**e, "link_text": "Другой блок " + e["rank"], "views": "1"} for e in first_block]
    site.most_read = [*first_block, {**first_block[2], "link_text": "Третий ещё раз"}]  # rank 3 twice
    usd = dict(site.rates[0])
    site.rates = [*site.rates, {"code": "usd", "value": "600 / 610"}]  # a currency twice
    site.second_rates = [{"code": "USD:", "value": "700 / 710"}]
    with MirrorServer(site) as mirror:
        result = crawl(db, mirror.url, "--only", "most_read,rates")
    assert result.returncode == 0, result.stderr

    stored = rows(db, "SELECT rank, title, views FROM most_read ORDER BY rank")
    want = [(int(e["rank"]), split_emoji(e["link_text"])[1], int(e["views"])) for e in first_block]
    assert [tuple(r.values()) for r in stored] == want
    rates = rows(db, "SELECT currency, buy, sell FROM rates ORDER BY rowid")
    assert [r["currency"] for r in rates] == ["USD", "EUR", "RUB"]
    assert (rates[0]["buy"], rates[0]["sell"]) == tuple(float(x) for x in usd["value"].split(" / "))

    errors = rows(db, "SELECT url, stage, reason FROM crawl_errors ORDER BY id")
    assert {(e["url"], e["stage"]) for e in errors} == {(mirror.url + "/", "parse")}
    reasons = [e["reason"] for e in errors]
    assert len(reasons) == 4, reasons
    assert any(r.startswith("2 most-read blocks on the page: took the first (11 entries)") for r in reasons)
    assert any(r.startswith("rank 3 listed twice in the most-read block: took the first") for r in reasons)
    assert any(r.startswith("2 currency-rates blocks on the page: took the first (4 entries)") for r in reasons)
    assert "USD listed twice in the currency rates: took the first ('505.1 / 508.1'), left '600 / 610'" in reasons
    run = rows(db, "SELECT status, items_stored, errors FROM crawl_runs")[0]
    assert run == {"status": "ok", "items_stored": 10 + 3, "errors": 4}  # what was really stored


def test_text_fields_keep_only_what_a_reader_sees(site: Site, db: Path) -> None:
    article = new_article(
        site,
        "gigiena-teksta",
        30,
        title="Заголовок статьи",
        title_html="Заголовок<script>document.title = 'скрипт'</script> \u202eстатьи<style>h1 {}</style>",
        lead="Лид статьи.",
        lead_html="<p>Лид <script>track('lead')</script>статьи.\u2066</p>",  # a paragraph: a body block
        lead_in_body=True,
        author="Асель Нурланова",
        author_html="Асель<style>.a {}</style> \u202bНурланова",
        blocks=[
            {"tag": None, "html": "Голый текст, <b>с выделением</b>.", "text": "Голый текст, с выделением."},
            {"tag": "p", "html": "Обычный абзац.", "text": "Обычный абзац."},
            {"tag": "div", "html": "Текст в диве.", "text": "Текст в диве."},
            {"tag": "h5", "html": "Подзаголовок пятого уровня", "text": "Подзаголовок пятого уровня"},
            {"tag": "table", "html": "<tr><td>Год</td><td>2026</td></tr>", "text": "Год\n\n2026"},
            {"tag": "p", "html": "Конец\u2067 текста\u2069.", "text": "Конец текста."},
        ],
    )
    site.articles.insert(0, article)
    entry = site.most_read[0]
    entry["link_html"] = f'<span class="most-read-rank">{entry["rank"]}</span>\u202a{entry["link_text"]}'
    with MirrorServer(site) as mirror:
        result = crawl(db, mirror.url)
    assert result.returncode == 0, result.stderr

    [row] = rows(db, "SELECT * FROM articles WHERE url = ?", (mirror.url + site.path_of(article),))
    assert (row["title"], row["lead"], row["author"]) == ("Заголовок статьи", "Лид статьи.", "Асель Нурланова")
    assert row["body"] == body_text(article)  # bare, div, h5 and table text in order; the lead not repeated
    first = rows(db, "SELECT rank, emoji, title FROM most_read WHERE rank = 1")[0]
    assert (first["emoji"], first["title"]) == ("🥩🥒", "Сельскохозяйственная ярмарка выходного дня пройдет в Астане")
    assert rows(db, "SELECT * FROM crawl_errors") == [] and rows(db, "SELECT * FROM rejects") == []


def test_a_base_url_spelled_with_its_default_port_is_the_same_site() -> None:
    """``https://informburo.kz:443`` must match links spelled without the port (the stored keys)."""
    from scrapy.utils.test import get_crawler

    from crawler.spiders.informburo import InformburoSpider

    spider = InformburoSpider.from_crawler(get_crawler(InformburoSpider), base_url="HTTPS://Informburo.kz:443/")
    assert spider.base_url == "https://informburo.kz" and spider.base_netloc == "informburo.kz"
    assert spider.is_article_url("https://informburo.kz/novosti/slug")
