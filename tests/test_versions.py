"""Every field the site may change is versioned, so nothing once stored is unrecoverable (issue 13).

A version records the text (``content_hash`` over title, lead and body, as before) and the
language, author, dates, tags and image; a re-crawl that changes any of them adds a version,
one that changes none adds nothing. Databases from before schema 10 get the new columns filled
in each article's latest version, from its row; earlier versions hold NULL there: not recorded.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from mirror.server import MirrorServer
from mirror.site import Site
from storage.db import open_database
from storage.schema import MIGRATIONS, SCHEMA_VERSION, content_hash, migrate
from tests.conftest import crawl, rows
from tests.test_history import RECHECK
from tests.test_store import BODY, URL, article, new_store

T1, T2, T3 = (f"2026-01-16T{hour}:00:00+05:00" for hour in (12, 13, 14))
#: The columns a version records besides its text.
RECORDED = ("lang", "author", "published_at", "modified_at", "tags", "image_url")


def versions(db: Database, url: str = URL) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM article_versions WHERE url = ? ORDER BY id", [url]))


def recorded(row: dict[str, Any]) -> dict[str, Any]:
    """The versioned columns of an ``articles`` or ``article_versions`` row, tags decoded."""
    found = {c: row[c] for c in RECORDED}
    found["tags"] = json.loads(found["tags"]) if found["tags"] is not None else None
    return found


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = open_database(tmp_path / "versions.db")
    yield db
    db.close()


CHANGES = {
    "author lost": {"author": None},
    "tags changed": {"tags": ["КТК", "сериалы"]},
    "tags lost": {"tags": []},
    "image changed": {"image_url": "https://informburo.kz/img/2.jpg"},
    "modified_at set": {"modified_at": "2026-01-16T12:30:00+05:00"},
    "published_at corrected": {"published_at": "2026-01-16T09:00:00+05:00"},
    "language changed": {"lang": "kk"},
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_recrawl_that_changes_only_one_field_adds_a_version_that_keeps_the_old_value(
    database: Database, change: dict[str, Any]
) -> None:
    store = new_store(database)
    store.store(article())
    store.store(article(captured_at=T2, **change))
    store.commit()
    first, second = versions(database)
    row = database["articles"].get(URL)
    (name,) = change
    expected = json.dumps(change[name], ensure_ascii=False) if name == "tags" else change[name]
    assert row[name] == expected  # the row follows the page: a lost author is NULL there …
    before = article()
    assert first[name] == (json.dumps(before.tags, ensure_ascii=False) if name == "tags" else getattr(before, name))
    assert first[name] != expected  # … and the version before still holds what was lost
    assert recorded(second) == recorded(row)
    assert first["content_hash"] == second["content_hash"] == content_hash(before.title, before.lead, BODY)
    assert (row["versions"], row["last_change_seen"]) == (2, T2)
    assert [v["run_id"] for v in (first, second)] == [store.run_id] * 2


def test_an_unchanged_recrawl_adds_no_version_and_the_one_version_records_every_field(database: Database) -> None:
    store = new_store(database)
    store.store(article())
    # a new view count, a new layer for a field, the same page otherwise: not a version
    store.store(article(captured_at=T2, views=999, sources={"title": "jsonld", "body": "site"}))
    store.store(article(captured_at=T3, views=None))
    store.commit()
    (only,) = versions(database)
    item = article()
    assert recorded(only) == {c: getattr(item, c) for c in RECORDED}
    row = database["articles"].get(URL)
    assert (row["versions"], row["last_change_seen"], row["last_seen_at"], row["views"]) == (1, None, T3, 999)


def test_a_field_lost_then_back_is_three_versions_and_nothing_is_lost(database: Database) -> None:
    store = new_store(database)
    store.store(article())
    store.store(article(captured_at=T2, author=None))
    store.store(article(captured_at=T3))
    store.commit()
    assert [v["author"] for v in versions(database)] == ["Айгерим Ахметова", None, "Айгерим Ахметова"]
    assert database["articles"].get(URL)["versions"] == 3


# --- upgrading a database from schema 9 ---

A, B, C = (f"https://informburo.kz/novosti/{slug}" for slug in ("a", "b", "c"))


def schema_9(path: Path) -> None:
    """A database at schema 9, as the release before this one left it: two versions of A, one of B,
    and C, whose latest version does not hold its row's text (a hand-edited database)."""
    db = Database(sqlite3.connect(path, isolation_level=None))
    assert migrate(db, MIGRATIONS[:9]) == 9
    db.execute("INSERT INTO crawl_runs (id, started_at, status) VALUES (1, ?, 'ok'), (2, ?, 'ok')", [T1, T2])
    for url, body, author, tags in ((A, "Вторая редакция.", None, '["КТК"]'), (B, "Текст Б.", "Б. Автор", "[]")):
        db.execute(
            "INSERT INTO articles (url, section, lang, title, lead, body, author, published_at, modified_at, tags,"
            " image_url, first_seen_at, last_seen_at) VALUES (?, 'novosti', 'ru', 'Заголовок', NULL, ?, ?, ?, ?,"
            " ?, ?, ?, ?)",
            [url, body, author, T1, T2 if url == A else None, tags, f"{url}.jpg", T1, T3],
        )
    db.execute(
        "INSERT INTO articles (url, title, body, published_at, first_seen_at, last_seen_at)"
        " VALUES (?, 'В', 'Правка вручную.', ?, ?, ?)",
        [C, T1, T1, T1],
    )
    for url, run_id, at, body in (
        (A, 1, T1, "Первая редакция."),
        (A, 2, T2, "Вторая редакция."),
        (B, 1, T1, "Текст Б."),
        (C, 1, T1, "Текст В."),
    ):
        title = "В" if url == C else "Заголовок"
        db.execute(
            "INSERT INTO article_versions (url, run_id, captured_at, content_hash, title, lead, body)"
            " VALUES (?, ?, ?, ?, ?, NULL, ?)",
            [url, run_id, at, content_hash(title, None, body), title, body],
        )
    db.close()


def test_migration_10_fills_each_latest_version_from_its_row_and_leaves_earlier_ones_not_recorded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v9.db"
    schema_9(path)
    db = open_database(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 10
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    a1, a2 = versions(db, A)
    assert recorded(a1) == dict.fromkeys(RECORDED)  # before the latest: not recorded
    assert (
        recorded(a2)
        == recorded(db["articles"].get(A))
        == {
            "lang": "ru",
            "author": None,
            "published_at": T1,
            "modified_at": T2,
            "tags": ["КТК"],
            "image_url": f"{A}.jpg",
        }
    )
    assert a2["tags"] == '["КТК"]'  # the row's very text, as article_row writes it
    assert recorded(versions(db, B)[0])["author"] == "Б. Автор"
    assert recorded(versions(db, C)[0]) == dict.fromkeys(RECORDED)  # not the row's text: not its fields either
    # what was there is untouched: texts, hashes, runs, times
    assert [(v["run_id"], v["captured_at"], v["body"]) for v in versions(db, A)] == [
        (1, T1, "Первая редакция."),
        (2, T2, "Вторая редакция."),
    ]
    assert all(v["content_hash"] == content_hash(v["title"], v["lead"], v["body"]) for v in db["article_versions"].rows)
    db.close()


def test_after_the_upgrade_an_unchanged_recrawl_adds_nothing_and_a_changed_one_a_version(tmp_path: Path) -> None:
    path = tmp_path / "v9.db"
    schema_9(path)
    db = open_database(path)
    store = new_store(db)
    row = db["articles"].get(B)
    same = article(
        url=B,
        title=row["title"],
        lead=None,
        body=row["body"],
        author=row["author"],
        published_at=T1,
        tags=[],
        image_url=row["image_url"],
        captured_at=T3,
    )
    store.store(same)
    store.commit()
    assert len(versions(db, B)) == 1  # the filled-in latest version matches the page
    store.store(replace(same, captured_at="2026-01-16T15:00:00+05:00", author=None))
    store.commit()
    assert [v["author"] for v in versions(db, B)] == ["Б. Автор", None]
    db.close()


def test_a_latest_version_that_recorded_no_fields_is_compared_with_the_row(database: Database) -> None:
    """Only the text of a version from before schema 10 is known: its other fields are the row's."""
    store = new_store(database)
    store.store(article())
    store.commit()
    database.execute(f"UPDATE article_versions SET {', '.join(f'{c} = NULL' for c in RECORDED)}")
    store.store(article(captured_at=T2))
    store.commit()
    assert len(versions(database)) == 1  # the same as the row: no change
    store.store(article(captured_at=T3, author=None))
    store.commit()
    assert [v["author"] for v in versions(database)] == [None, None]
    assert versions(database)[1]["published_at"] == article().published_at  # recorded from now on
    assert database["articles"].get(URL)["versions"] == 2


# --- the real thing: the mirror's pages change their metadata ---


@pytest.mark.slow
def test_a_recheck_versions_a_lost_author_changed_tags_a_new_image_and_a_modification(site: Site, db: Path) -> None:
    unsigned = next(a for a in site.articles if a.get("author"))
    others = [a for a in site.articles if a is not unsigned and a.get("image") and not a.get("modified")]
    retagged, pictured, modified, steady = others[:4]
    changed = {"author": unsigned, "tags": retagged, "image_url": pictured, "modified_at": modified}
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url).returncode == 0
        url = {a["slug"]: mirror.url + site.path_of(a) for a in site.articles}
        first = {column: stored(db, url[a["slug"]])[column] for column, a in changed.items()}
        unsigned["author"] = None
        retagged["tags"] = [*retagged["tags"][:1], "Новый тег"]
        pictured["image"] = "/uploads/2026/01/new-picture.jpg"
        modified["modified"] = "2026-02-01T09:00:00+05:00"
        assert crawl(db, mirror.url, *RECHECK).returncode == 0  # picks up the changes
        assert crawl(db, mirror.url, *RECHECK).returncode == 0  # nothing changed since
    assert first["author"] and first["modified_at"] is None
    second = {
        "author": None,
        "tags": json.dumps(retagged["tags"], ensure_ascii=False),
        "image_url": mirror.url + pictured["image"],
        "modified_at": "2026-02-01T09:00:00+05:00",
    }
    for column, page in changed.items():
        history = rows(
            db,
            f"SELECT run_id, content_hash, {column} FROM article_versions WHERE url = ? ORDER BY id",
            (url[page["slug"]],),
        )
        assert [(v["run_id"], v[column]) for v in history] == [(1, first[column]), (2, second[column])], column
        assert history[0]["content_hash"] == history[1]["content_hash"]  # the text never changed
        assert stored(db, url[page["slug"]])[column] == second[column]  # the row follows the page
    steady_versions = rows(db, "SELECT run_id FROM article_versions WHERE url = ?", (url[steady["slug"]],))
    assert steady_versions == [{"run_id": 1}]  # fetched three times, unchanged: one version


def stored(db: Path, url: str) -> dict[str, Any]:
    return rows(db, "SELECT * FROM articles WHERE url = ?", (url,))[0]
