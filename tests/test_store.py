"""The Store alone, on a temporary database: no crawl, no subprocess.

What a crawl relies on: articles upserted by URL, a version on any changed field, a
worse re-crawl refused, items committed in batches with a savepoint each, snapshots
keyed by run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

import pipelines.store
from core.clock import now_kz
from crawler.items import Article, MostReadEntry, PageError, RateQuote
from pipelines.store import Store, store_item
from pipelines.validate import Rejected
from storage.db import open_database
from storage.ledger import start_run
from storage.writes import add_version, delete_versions_since

URL = "https://informburo.kz/novosti/ktk-pokazal-novyy-sezon"
HOME = "https://informburo.kz/"
BODY = "Первый абзац статьи о новом сезоне.\n\nВторой абзац с подробностями и цитатами."


def article(url: str = URL, **changes: Any) -> Article:
    """A normalised, valid article item (what the validate pipeline hands the store)."""
    item = Article(
        url=url,
        section="novosti",
        lang="ru",
        title="КТК показал новый сезон",
        lead="Коротко о главном",
        body=BODY,
        author="Айгерим Ахметова",
        published_at="2026-01-16T10:00:00+05:00",
        tags=["КТК", "телевидение"],
        image_url="https://informburo.kz/img/1.jpg",
        views=120,
        captured_at="2026-01-16T12:00:00+05:00",
        sources={"title": "site", "body": "site", "published_at": "site"},
    )
    return replace(item, **changes)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def database(path: Path) -> Iterator[Database]:
    db = open_database(path)
    yield db
    db.close()


def new_store(db: Database, **options: Any) -> Store:
    return Store(db, start_run(db, now_kz(), parts="articles"), **options)


def committed(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """What another connection sees: only committed rows."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_an_article_stored_twice_is_one_row_upserted_by_url(database: Database) -> None:
    store = new_store(database)
    store.store(article())
    store.store(article(captured_at="2026-01-16T13:00:00+05:00", views=150))
    store.commit()
    rows = list(database.query("SELECT url, first_seen_at, last_seen_at, views, versions FROM articles"))
    assert rows == [
        {
            "url": URL,
            "first_seen_at": "2026-01-16T12:00:00+05:00",  # kept from the first sighting
            "last_seen_at": "2026-01-16T13:00:00+05:00",
            "views": 150,
            "versions": 1,
        }
    ]
    assert store.stored == store.stored_articles == 2


def test_an_empty_view_counter_keeps_the_count_seen(database: Database) -> None:
    store = new_store(database)
    store.store(article())
    store.store(article(captured_at="2026-01-16T13:00:00+05:00", views=None))
    store.commit()
    assert database["articles"].get(URL)["views"] == 120


def test_a_version_is_added_only_when_the_text_changes(database: Database) -> None:
    store = new_store(database)
    store.store(article())
    store.store(article(captured_at="2026-01-16T13:00:00+05:00", views=130))  # same text, new count
    store.commit()
    assert database["article_versions"].count == 1
    edited = BODY + "\n\nДобавлен абзац после правки."
    store.store(article(captured_at="2026-01-16T14:00:00+05:00", body=edited))
    store.commit()
    versions = list(database.query("SELECT captured_at, body FROM article_versions WHERE url = ? ORDER BY id", [URL]))
    assert [v["body"] for v in versions] == [BODY, edited]
    row = database["articles"].get(URL)
    assert (row["versions"], row["last_change_seen"], row["body"]) == (2, "2026-01-16T14:00:00+05:00", edited)


def test_a_worse_recrawl_is_rejected_and_the_stored_row_is_unchanged(database: Database) -> None:
    store = new_store(database)
    store.store(article())
    store.commit()
    before = database["articles"].get(URL)
    broken = article(captured_at="2026-01-16T13:00:00+05:00", body="Обрывок.", views=999)
    with pytest.raises(Rejected) as raised:
        store.store(broken)
    assert raised.value.field == "body"
    lost = article(captured_at="2026-01-16T13:00:00+05:00", lead=None, author=None)  # two kept fields gone
    assert not store_item(store, lost)
    store.commit()
    assert database["articles"].get(URL) == before
    assert database["article_versions"].count == 1 and database["article_views"].count == 1
    rejects = list(database.query("SELECT url, field, reason FROM rejects"))
    assert [(r["url"], r["field"]) for r in rejects] == [(URL, "lead")]
    assert "lost lead, author" in rejects[0]["reason"]


def test_items_are_committed_in_batches_of_n(database: Database, path: Path) -> None:
    store = new_store(database, batch_size=3, batch_seconds=float("inf"))
    for i in range(2):
        store.store(article(f"{URL}-{i}"))
    assert committed(path, "SELECT count(*) FROM articles") == [(0,)]  # still in the open batch
    store.store(article(f"{URL}-2"))
    assert committed(path, "SELECT count(*) FROM articles") == [(3,)]  # the third item closed the batch
    store.store(article(f"{URL}-3"))
    assert committed(path, "SELECT count(*) FROM articles") == [(3,)]
    store.finish("ok", pages=4, drift_threshold=1.0)  # the run's end commits the rest
    assert committed(path, "SELECT count(*) FROM articles") == [(4,)]


def test_a_batch_is_committed_after_its_time_runs_out(database: Database, path: Path) -> None:
    store = new_store(database, batch_size=1000, batch_seconds=0.0)
    store.store(article())
    assert committed(path, "SELECT count(*) FROM articles") == [(1,)]


def test_a_failed_item_inside_a_batch_undoes_only_itself(
    database: Database, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(database, batch_size=100, batch_seconds=float("inf"))
    store.store(article(f"{URL}-a"))
    store.store(article(f"{URL}-b"))

    def disk_on_fire(*args: Any) -> None:  # after the article, its version and its views are written
        raise sqlite3.OperationalError("disk on fire")

    with monkeypatch.context() as patch:
        patch.setattr(pipelines.store, "resolve_errors", disk_on_fire)
        with pytest.raises(sqlite3.OperationalError):
            store.store(article(f"{URL}-c"))
    with pytest.raises(Rejected):  # a worse re-crawl of a stored article, in the same batch
        store.store(article(f"{URL}-a", body="Обрывок."))
    store.store(article(f"{URL}-d"))
    assert database.conn.in_transaction  # the batch went on
    store.commit()
    urls = [u for (u,) in committed(path, "SELECT url FROM articles ORDER BY url")]
    assert urls == [f"{URL}-a", f"{URL}-b", f"{URL}-d"]
    assert committed(path, "SELECT count(*) FROM article_versions WHERE url = ?", (f"{URL}-c",)) == [(0,)]
    assert committed(path, "SELECT count(*) FROM article_views WHERE url = ?", (f"{URL}-c",)) == [(0,)]
    assert committed(path, "SELECT body FROM articles WHERE url = ?", (f"{URL}-a",)) == [(BODY,)]
    assert store.stored == 3


def test_snapshots_are_keyed_by_run(database: Database) -> None:
    def snapshot(store: Store, views: int) -> None:
        at = now_kz()
        store.store(MostReadEntry(rank=1, emoji="🥩", title="Ярмарка", url=URL, views=views, captured_at=at))
        store.store(MostReadEntry(rank=2, title="Курс", url=f"{URL}-2", views=50, captured_at=at))
        store.store(RateQuote(currency="USD", buy=505.1, sell=508.1, captured_at=at))
        store.commit()

    first = new_store(database)
    snapshot(first, 100)
    snapshot(first, 110)  # the same run again (a replayed batch): its rows are overwritten, not doubled
    second = new_store(database)
    snapshot(second, 130)
    most_read = [
        (r["run_id"], r["rank"], r["views"]) for r in database.query("SELECT * FROM most_read ORDER BY run_id, rank")
    ]
    run1, run2 = first.run_id, second.run_id
    assert most_read == [(run1, 1, 110), (run1, 2, 50), (run2, 1, 130), (run2, 2, 50)]
    assert [(r["run_id"], r["currency"]) for r in database.query("SELECT * FROM rates ORDER BY run_id")] == [
        (run1, "USD"),
        (run2, "USD"),
    ]
    points = database.query("SELECT run_id, views FROM article_views WHERE url = ? AND source = 'most_read'", [URL])
    assert sorted((p["run_id"], p["views"]) for p in points) == [(run1, 110), (run2, 130)]


def test_a_stored_page_resolves_its_earlier_failure(database: Database) -> None:
    store = new_store(database)
    store.store(PageError(URL, "fetch", "HTTP 503", 503, "2026-01-16T11:00:00+05:00"))
    store.commit()
    assert store.stored == 0  # an error is recorded, not stored
    assert [r["resolved_at"] for r in database.query("SELECT resolved_at FROM crawl_errors")] == [None]
    store.store(article())
    store.commit()
    assert [r["resolved_at"] for r in database.query("SELECT resolved_at FROM crawl_errors")] == [
        "2026-01-16T12:00:00+05:00"
    ]


def test_delete_versions_since_keeps_older_versions_and_other_urls(database: Database) -> None:
    run_id = start_run(database, now_kz())
    for url, at in (
        (URL, "2026-01-01T10:00:00+05:00"),
        (URL, "2026-01-10T10:00:00+05:00"),
        (f"{URL}-x", "2026-01-10T10:00:00+05:00"),
    ):
        database["articles"].insert(
            {"url": url, "title": "t", "body": "b", "published_at": at, "first_seen_at": at, "last_seen_at": at},
            ignore=True,
        )
        add_version(
            database,
            {
                "url": url,
                "run_id": run_id,
                "captured_at": at,
                "content_hash": "h",
                "title": "t",
                "lead": None,
                "body": "b",
            },
        )
    delete_versions_since(database, {URL, "https://informburo.kz/novosti/never-stored"}, "2026-01-05T00:00:00+05:00")
    left = [(r["url"], r["captured_at"]) for r in database.query("SELECT url, captured_at FROM article_versions")]
    assert sorted(left) == [(URL, "2026-01-01T10:00:00+05:00"), (f"{URL}-x", "2026-01-10T10:00:00+05:00")]


def test_the_drift_warning_names_every_part_that_drifted(database: Database) -> None:
    """A widget missing or found only by its shape, no next listing page: each named in the run's warning,
    whatever the article pages did; a run with none of these and no fallback has no warning."""
    store = new_store(database)
    store.store(article())
    assert store.finish("ok", 1, 0.5)["warning"] is None
    store = new_store(database)
    store.store(PageError(HOME, "parse", "no currency rates on the home page", 200, drift="rates"))
    store.store(PageError(HOME, "layers", "most-read sidebar found by its shape", 200, drift="most_read"))
    store.store(PageError(HOME, "parse", "no next listing page after page 1", 200, drift="listing"))
    warning = store.finish("ok", 1, 0.5)["warning"]
    assert warning == (
        "layout drift: listing: no next listing page after page 1; most-read sidebar: most-read sidebar found"
        " by its shape; currency rates: no currency rates on the home page; check the selectors in crawler/pages/"
    )
    errors = database.execute("SELECT errors FROM crawl_runs WHERE id = ?", [store.run_id]).fetchone()
    assert errors == (2,)  # the stage `layers` row is a doubt, not an error


def test_no_view_count_on_any_stored_article_and_no_feed_are_drift_too(database: Database) -> None:
    """Counters moved to a script (every stored article without views) and a feed gone: both named."""
    store = new_store(database)
    store.store(article(views=None))
    store.store(PageError(HOME + "xml/rss.xml", "drift", "RSS feed unavailable (HTTP 404)", 404, drift="feed"))
    row = store.finish("ok", 2, 0.5)
    assert row["warning"] == (
        "layout drift: RSS feed: RSS feed unavailable (HTTP 404); view counters: none of the 1 stored article"
        " pages had a view count; check the selectors in crawler/pages/"
    )
    assert row["errors"] == 0
