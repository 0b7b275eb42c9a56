"""The whole pass through the real Scrapy engine against the served mirror."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mirror.server import MirrorServer
from mirror.site import AMP, DISALLOWED, Site, body_text
from tests.conftest import crawl, informburo, rows

pytestmark = pytest.mark.slow  # crawls, each an `informburo` child process

LAYER_OF_DATE = {"drifted": "jsonld", "jsonld-date": "jsonld", "meta-date": "meta", "microdata-date": "microdata"}


def expected_articles(site: Site) -> list[dict]:
    return [a for a in site.articles if not site.path_of(a).startswith(DISALLOWED)]


def fallback_pages(site: Site) -> int:
    """Mirror articles whose title, body or date can only come from a fallback layer."""
    return sum(1 for a in expected_articles(site) if a.get("variant") in LAYER_OF_DATE)


def test_crawl_stores_every_article_once_and_never_leaves_the_allowed_pages(site: Site, db: Path) -> None:
    with MirrorServer() as other_host:
        # A feed entry that looks like an article but lives on another host (another port).
        site.partner_url = f"{other_host.url}/novosti/{site.articles[0]['slug']}"
        with MirrorServer(site) as mirror:
            first = crawl(db, mirror.url)
            assert first.returncode == 0, first.stderr
            first_paths = mirror.paths()
            second = crawl(db, mirror.url)
            assert second.returncode == 0, second.stderr
            second_paths = mirror.paths()[len(first_paths) :]
        assert other_host.paths() == []  # offsite: never requested

    wanted = {mirror.url + site.path_of(a) for a in expected_articles(site)}
    stored = rows(db, "SELECT url FROM articles")
    assert sorted(r["url"] for r in stored) == sorted(wanted)  # each once, after two crawls

    assert not any(p.startswith(DISALLOWED) for p in first_paths + second_paths)  # robots.txt obeyed
    assert "/robots.txt" in first_paths
    assert not any(p.startswith("/tags/") for p in first_paths)
    # An article listed by its AMP copy is fetched and stored once, under its own URL (in `wanted`).
    amp = [site.path_of(a) for a in site.articles if a.get("amp")]
    assert amp and all(path in first_paths and AMP + path not in first_paths for path in amp)
    # The pinned copy (with utm_* parameters) and the feed entry are one page, fetched once.
    assert len(first_paths) == len(set(first_paths)) and not any("utm_" in p for p in first_paths)
    # Second pass: page 1 holds only stored articles, so it stops there and refetches none.
    assert "/novosti?page=2" in first_paths and "/novosti?page=2" not in second_paths
    assert not any(p.startswith(("/stati/", "/cards/", "/interview/", "/kaz/", AMP)) for p in second_paths)

    runs = rows(db, "SELECT * FROM crawl_runs ORDER BY id")
    assert [r["status"] for r in runs] == ["ok", "ok"]
    assert all(r["finished_at"] >= r["started_at"] for r in runs)
    assert runs[0]["items_stored"] == len(wanted) + 10 + 3 and runs[0]["errors"] == 0
    assert runs[1]["items_stored"] == 10 + 3
    assert len(rows(db, "SELECT * FROM most_read")) == 20  # one snapshot per run
    assert len(rows(db, "SELECT * FROM rates")) == 6


def test_every_field_matches_the_mirror(site: Site, mirror: MirrorServer, db: Path) -> None:
    assert crawl(db, mirror.url).returncode == 0
    stored = {r["url"]: r for r in rows(db, "SELECT * FROM articles")}
    for article in expected_articles(site):
        row = stored[mirror.url + site.path_of(article)]
        assert row["section"] == article["section"]
        assert row["lang"] == article["lang"]
        assert row["title"] == article["title"]
        assert row["lead"] == article["lead"]
        assert row["body"] == body_text(article)
        assert row["author"] == article["author"]
        assert row["published_at"] == article["published"]
        assert row["modified_at"] == article["modified"]
        assert json.loads(row["tags"]) == article["tags"]
        assert row["image_url"] == (mirror.url + article["image"] if article["image"] else None)
        assert row["views"] == article["views"]
        assert row["first_seen_at"] == row["last_seen_at"] and row["first_seen_at"].endswith("+05:00")
        sources = json.loads(row["sources"])
        variant = article.get("variant")
        assert sources["title"] == sources["body"] == ("jsonld" if variant == "drifted" else "site")
        assert sources["published_at"] == LAYER_OF_DATE.get(variant, "site")
    variants = {a.get("variant") for a in expected_articles(site)}
    assert {"drifted", "cp1251", "text-date", "jsonld-date", "meta-date"} <= variants  # the crawl meets them all
    assert {"microdata-date", "kazakh-news", "html-2022", "amp", "text-cards"} <= variants  # and the live ones
    run = rows(db, "SELECT * FROM crawl_runs")[0]
    # A redesigned page and three without a <time> are not drift: below the threshold, no warning.
    assert run["warning"] is None and run["fallback_pages"] == fallback_pages(site) == 4
    coverage = json.loads(run["field_coverage"])
    assert coverage["author"] == round(sum(1 for a in expected_articles(site) if a["author"]) / len(stored), 3)


def test_a_broken_article_is_rejected_with_its_reason_and_the_run_goes_on(site: Site, db: Path) -> None:
    broken = site.articles[2]
    broken["title"] = ""
    with MirrorServer(site) as mirror:
        result = crawl(db, mirror.url)
        url = mirror.url + site.path_of(broken)
    assert result.returncode == 0, result.stderr
    rejects = rows(db, "SELECT * FROM rejects")
    assert [(r["url"], r["field"], r["reason"]) for r in rejects] == [(url, "title", "missing")]
    assert json.loads(rejects[0]["item"])["published_at"] == broken["published"]
    assert rows(db, "SELECT count(*) AS n FROM articles WHERE url = ?", (url,))[0]["n"] == 0
    run = rows(db, "SELECT * FROM crawl_runs")[0]
    assert run["status"] == "ok" and run["items_rejected"] == 1
    assert len(rows(db, "SELECT * FROM articles")) == len(expected_articles(site)) - 1


def test_a_dead_article_link_is_recorded_and_the_run_is_still_ok(site: Site, db: Path) -> None:
    dead = site.articles[4]
    site.gone.add(site.path_of(dead))
    with MirrorServer(site) as mirror:
        result = crawl(db, mirror.url)
        url = mirror.url + site.path_of(dead)
    assert result.returncode == 0, result.stderr
    errors = rows(db, "SELECT * FROM crawl_errors")
    assert [(e["url"], e["stage"], e["http_status"], e["reason"]) for e in errors] == [(url, "fetch", 404, "HTTP 404")]
    run = rows(db, "SELECT * FROM crawl_runs")[0]
    assert run["status"] == "ok" and run["errors"] == 1
    assert len(rows(db, "SELECT * FROM articles")) == len(expected_articles(site)) - 1


def test_an_unreadable_optional_field_is_stored_as_null_and_recorded(site: Site, db: Path) -> None:
    odd = site.articles[1]
    odd["views"] = "много"
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url).returncode == 0
        url = mirror.url + site.path_of(odd)
    assert rows(db, "SELECT views FROM articles WHERE url = ?", (url,)) == [{"views": None}]
    errors = rows(db, "SELECT url, stage, reason FROM crawl_errors")
    assert errors == [{"url": url, "stage": "parse", "reason": "views: not a counter: 'много'"}]


def test_layout_drift_fires_a_warning_that_status_shows(site: Site, db: Path) -> None:
    for article in site.articles:
        article["variant"] = "drifted"
        article["lead"] = article["views"] = None  # the redesign hides them
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url).returncode == 0
        stored = rows(db, "SELECT url, title, author, body, published_at, image_url, sources FROM articles")
    assert len(stored) == len(expected_articles(site))  # still stored, through the fallbacks
    by_title = {a["title"]: a for a in site.articles}
    for row in stored:
        article = by_title[row["title"]]
        assert row["body"] == body_text(article) and row["published_at"] == article["published"]
        assert row["author"] == article["author"]
        assert json.loads(row["sources"])["body"] == "jsonld"
    run = rows(db, "SELECT * FROM crawl_runs")[0]
    assert run["status"] == "ok" and run["fallback_pages"] == run["article_pages"] == len(stored)
    assert run["warning"].startswith(f"layout drift: articles: {len(stored)} of {len(stored)} article pages (100%)")
    status = informburo("status", "--db", str(db))
    assert f"WARNING run 1: layout drift: articles: {len(stored)} of {len(stored)}" in status.stdout


# (link text, views, comments, reactions) as a page may print them → what must be stored.
SIDEBAR_VARIANTS = [
    (("🥩🥒 Ярмарка", "11 674", "0", "5"), ("🥩🥒", "Ярмарка", 11674, 0, 5)),
    (("⚠️ Внимание", "11\u2009674", "—", ""), ("⚠️", "Внимание", 11674, None, None)),
    (("👨\u200d👩\u200d👧 Семья", "1,2 тыс.", "3", "12K"), ("👨\u200d👩\u200d👧", "Семья", 1200, 3, 12000)),
    (("🇰🇿 Флаг", "7693", "1", "125"), ("🇰🇿", "Флаг", 7693, 1, 125)),
    (("2026: год реформ", "2442", "0", "8"), (None, "2026: год реформ", 2442, 0, 8)),
]
RATE_VARIANTS = [
    (("USD:", "505,1 / 508,1"), ("USD", 505.1, 508.1)),
    (("EUR:", "591.0 / —"), ("EUR", 591.0, None)),
    (("CNY:", "70.2 / 72.9"), ("CNY", 70.2, 72.9)),
]


def test_sidebar_and_rates_variants_through_the_crawl(site: Site, db: Path) -> None:
    site.most_read = [
        {"rank": str(rank), "link_text": text, "href": "/novosti/x", "views": v, "comments": c, "reactions": r}
        for rank, ((text, v, c, r), _) in enumerate(SIDEBAR_VARIANTS, start=1)
    ]
    site.rates = [{"code": code, "value": value} for (code, value), _ in RATE_VARIANTS]
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url, "--only", "most_read,rates").returncode == 0
    stored = rows(db, "SELECT rank, emoji, title, views, comments, reactions FROM most_read ORDER BY rank")
    assert [tuple(r.values()) for r in stored] == [(i, *want) for i, (_, want) in enumerate(SIDEBAR_VARIANTS, 1)]
    rates = rows(db, "SELECT currency, buy, sell FROM rates ORDER BY rowid")
    assert [tuple(r.values()) for r in rates] == [want for _, want in RATE_VARIANTS]
    assert rows(db, "SELECT status FROM crawl_runs") == [{"status": "ok"}]
