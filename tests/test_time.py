"""Kazakhstan time as it was: UTC+06:00 until 1 March 2024, UTC+05:00 since, in new rows and in stored ones."""

from __future__ import annotations

import json
import pickle
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from sqlite_utils import Database

from core import clock
from crawler.fields import listing_datetime, parse_datetime
from crawler.pages.feed import parse_feed
from storage.db import open_database
from storage.export import export_rows
from storage.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from tests.conftest import ROOT

#: From the tz database (tzdata.zi, Asia/Almaty): "6 - %z 2024 Mar" then "5 - %z", i.e. UTC+06:00 until
#: 00:00 local on 1 March 2024 (18:00 UTC on 29 February), UTC+05:00 from then: the clocks went back an hour.
LAST_SECOND_AT_SIX = ("2024-02-29T17:59:59+00:00", "2024-02-29T23:59:59+06:00")
FIRST_SECOND_AT_FIVE = ("2024-02-29T18:00:00+00:00", "2024-02-29T23:00:00+05:00")


@pytest.mark.parametrize(("utc", "local"), [LAST_SECOND_AT_SIX, FIRST_SECOND_AT_FIVE])
def test_the_offset_is_the_one_in_force_on_either_side_of_the_2024_change(utc: str, local: str) -> None:
    assert parse_datetime(utc) == local
    assert parse_datetime(local) == local  # a stored value reads back as itself


def test_the_zone_in_use_and_the_tzdata_package_both_hold_the_2024_change() -> None:
    from zoneinfo import ZoneInfo

    assert clock.has_2024_change(clock.KZ_TZ)
    assert clock.has_2024_change(clock.load_zone(timezone(timedelta(hours=6))))  # the packaged copy
    assert not clock.has_2024_change(timezone(timedelta(hours=5)))
    almaty = ZoneInfo("Asia/Almaty")
    assert datetime(2024, 2, 29, 17, 59, 59, tzinfo=UTC).astimezone(almaty).utcoffset() == timedelta(hours=6)
    assert datetime(2024, 2, 29, 18, 0, tzinfo=UTC).astimezone(almaty).utcoffset() == timedelta(hours=5)


def test_an_outdated_system_zone_falls_back_to_the_tzdata_package() -> None:
    # Data older than tz 2024a keeps Almaty at +06:00 after March 2024; the package's copy replaces it.
    zone = clock.load_zone(timezone(timedelta(hours=6)))
    assert datetime(2023, 5, 1, 0, 30, tzinfo=zone).isoformat() == "2023-05-01T00:30:00+06:00"
    assert datetime(2026, 1, 16, 10, 52, tzinfo=zone).isoformat() == "2026-01-16T10:52:00+05:00"
    # A zone read from a file cannot pickle itself; Scrapy's JOBDIR pickles what requests carry.
    assert pickle.loads(pickle.dumps(datetime(2023, 5, 1, tzinfo=zone))).utcoffset() == timedelta(hours=6)


def test_no_zone_with_the_change_anywhere_is_an_error_not_a_wrong_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_package(name: str) -> None:
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(clock.resources, "files", no_package)
    with pytest.raises(RuntimeError, match="tzdata"):
        clock.load_zone(timezone(timedelta(hours=6)))


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("2023-05-01T00:30:00+06:00", "2023-05-01T00:30:00+06:00"),  # the finding: not 2023-04-30T23:30+05:00
        ("2023-04-30T23:30:00+05:00", "2023-05-01T00:30:00+06:00"),  # same instant, the offset of then
        ("2023-05-01T00:30", "2023-05-01T00:30:00+06:00"),  # naive: the local time in force then
        ("1 мая 2023 года в 00:30", "2023-05-01T00:30:00+06:00"),
        ("00:30, 1 мамыр 2023", "2023-05-01T00:30:00+06:00"),
        ("2024-02-29T23:30", "2024-02-29T23:30:00+06:00"),  # the repeated hour: its first pass
        ("2024-03-01T00:00", "2024-03-01T00:00:00+05:00"),
        ("2003-03-30T02:30", "2003-03-30T03:30:00+07:00"),  # skipped by the 2003 spring-forward
        ("2003-07-01T12:00:00+07:00", "2003-07-01T12:00:00+07:00"),  # Almaty kept DST until 2004
    ],
)
def test_old_times_keep_their_own_offset(raw: str, iso: str) -> None:
    assert parse_datetime(raw) == iso


def test_listing_and_feed_dates_before_2024_are_on_their_kazakhstan_day() -> None:
    now = datetime(2023, 5, 1, 12, 0, tzinfo=clock.KZ_TZ)
    assert listing_datetime("Сегодня", "00:30", now) == "2023-05-01T00:30:00+06:00"
    assert listing_datetime("30 апреля", "23:30", now) == "2023-04-30T23:30:00+06:00"
    assert listing_datetime("Вчера", "23:30", datetime(2023, 5, 1, 0, 10)) == "2023-04-30T23:30:00+06:00"  # naive: KZ
    rss = b"""<rss version="2.0"><channel><item><link>https://informburo.kz/novosti/a</link>
        <pubDate>Sun, 30 Apr 2023 18:30:00 GMT</pubDate></item></channel></rss>"""
    assert [e.published_at for e in parse_feed(rss)] == ["2023-05-01T00:30:00+06:00"]


@pytest.mark.parametrize("raw", ["0001-01-01T00:00", "00:00, 1 января 0001", "9999-12-31T23:59:00Z"])
def test_a_time_the_offset_pushes_off_the_calendar_is_refused_as_unreadable(raw: str) -> None:
    with pytest.raises(ValueError):  # the field rules refuse with ValueError, never OverflowError
        parse_datetime(raw)


@pytest.mark.parametrize(
    ("since", "bound"),
    [
        ("2023-05-01", "2023-05-01T00:00:00+06:00"),
        ("2026-01-16", "2026-01-16T00:00:00+05:00"),
        ("2023-04-30T18:20:00Z", "2023-05-01T00:20:00+06:00"),  # was 2023-04-30T23:20:00+05:00: sorts wrong
        ("2023-05-01T00:20", "2023-05-01T00:20:00+06:00"),
        ("2026-01-16T05:00:00Z", "2026-01-16T10:00:00+05:00"),
    ],
)
def test_since_bounds_are_in_the_stored_form_of_their_day(since: str, bound: str) -> None:
    assert clock.since_bound(since) == bound


@pytest.fixture
def utc_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone is UTC, as on most servers, whatever this machine's."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_parse_now_without_an_offset_is_kazakhstan_time(utc_process: None, capsys: pytest.CaptureFixture) -> None:
    from cli import main

    page = ROOT / "tests" / "fixtures" / "pages" / "listing.html"
    # 23:30 in Almaty is still 16 January: "Сегодня" is the 16th (read as UTC it would be the 17th).
    assert main(["parse", str(page), "--url", "https://informburo.kz/novosti", "--now", "2026-01-16T23:30"]) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    listed = [e["published_at"] for e in entries if e["type"] == "listing_entry"]
    assert listed[:3] == ["2026-01-16T13:51:00+05:00", "2026-01-16T09:10:00+05:00", "2026-01-15T23:40:00+05:00"]


# An older database (schema 8) whose times were all written at a fixed +05:00.
OLD, OLD_NOW = "2023-04-30T23:30:00+05:00", "2023-05-01T00:30:00+06:00"
LAST_AT_SIX, LAST_AT_SIX_NOW = "2024-02-29T22:59:59+05:00", "2024-02-29T23:59:59+06:00"
AT_CHANGE = "2024-02-29T23:00:00+05:00"  # 18:00 UTC: the first instant of UTC+05:00, kept
NEW = "2026-01-16T10:52:00+05:00"
SUMMER_2003, SUMMER_2003_NOW = "2003-07-01T10:00:00+05:00", "2003-07-01T12:00:00+07:00"
A, B, C, D = (f"https://informburo.kz/novosti/{s}" for s in "abcd")
#: Each article's published_at before and after the upgrade.
PUBLISHED = {A: (OLD, OLD_NOW), B: (NEW, NEW), C: (AT_CHANGE, AT_CHANGE), D: (LAST_AT_SIX, LAST_AT_SIX_NOW)}


def is_time_column(name: str) -> bool:
    return name.endswith("_at") or name == "last_change_seen"


def time_columns(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return [
        (table, column)
        for table in tables
        if not table.startswith("articles_fts")
        for (column,) in conn.execute("SELECT name FROM pragma_table_info(?)", (table,))
        if is_time_column(column)
    ]


def older_database(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(Database(conn), MIGRATIONS[:8])
    conn.execute("INSERT INTO crawl_runs (id, started_at, finished_at, status) VALUES (1, ?, ?, 'ok')", (OLD, OLD))
    for url, (published, _) in PUBLISHED.items():
        old = url == A
        conn.execute(
            "INSERT INTO articles (url, title, body, published_at, modified_at, tags, first_seen_at, last_seen_at,"
            " last_change_seen) VALUES (?, 'КТК', 'Текст', ?, ?, '[\"КТК\"]', ?, ?, ?)",
            (url, published, SUMMER_2003 if old else None, *[OLD if old else NEW] * 3),
        )
    conn.execute(
        "INSERT INTO article_versions (url, run_id, captured_at, content_hash, title, body)"
        " VALUES (?, 1, ?, 'h', 'КТК', 'Текст')",
        (A, OLD),
    )
    conn.execute(
        "INSERT INTO article_views (url, run_id, captured_at, views, source) VALUES (?, 1, ?, 5, 'page')", (A, OLD)
    )
    conn.execute("INSERT INTO most_read VALUES (1, ?, 1, NULL, 'КТК', ?, 5, 0, 0)", (OLD, A))
    conn.execute("INSERT INTO rates VALUES (1, ?, 'USD', 450.1, 452.3)", (OLD,))
    conn.execute(
        "INSERT INTO crawl_errors (run_id, url, stage, reason, captured_at, resolved_at) VALUES (1, ?, 'fetch',"
        " 'HTTP 500', ?, ?)",
        (A, OLD, OLD),
    )
    conn.execute(
        "INSERT INTO rejects (run_id, url, field, reason, captured_at) VALUES (1, ?, 'body', 'missing', ?)", (A, OLD)
    )
    conn.execute("INSERT INTO scheduler_jobs VALUES ('articles', 'articles', 'interval', ?, ?)", (OLD, OLD))
    conn.execute("INSERT INTO http_validators VALUES (?, NULL, 'Sun, 30 Apr 2023 18:30:00 GMT', ?)", (A, OLD))
    # The fixture covers every time column of the old schema.
    for table, column in time_columns(conn):
        assert conn.execute(f"SELECT count(*) FROM [{table}] WHERE [{column}] IS NOT NULL").fetchone()[0], column
    conn.close()


def test_the_upgrade_rewrites_every_time_before_march_2024_in_the_offset_of_then(tmp_path: Path) -> None:
    path = tmp_path / "v8.db"
    older_database(path)
    db = open_database(path)
    conn = db.conn
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    articles = {r["url"]: r for r in db["articles"].rows}
    assert {url: a["published_at"] for url, a in articles.items()} == {u: new for u, (_, new) in PUBLISHED.items()}
    assert articles[A]["modified_at"] == SUMMER_2003_NOW
    assert {url: a["first_seen_at"] for url, a in articles.items()} == {A: OLD_NOW, B: NEW, C: NEW, D: NEW}
    # A version's own published_at and modified_at (schema 10) are its article's, filled in after the rewrite.
    followers = {("article_versions", "published_at"), ("article_versions", "modified_at")}
    # Columns and tables added after the rewrite (schema 11: monitoring, the daemon's books) hold no old time.
    later = {("scheduler_jobs", "last_fire_at"), ("scheduler_jobs", "last_started_at")}
    later_tables = {"monitor_results", "incidents", "scheduler_events"}
    for table, column in time_columns(conn):
        if table in ("articles", "article_tags", *later_tables) or (table, column) in followers | later:
            continue
        values = {v for (v,) in conn.execute(f"SELECT [{column}] FROM [{table}]")}
        assert values == {OLD_NOW}, f"{table}.{column}"
    version = db["article_versions"].get(1)
    assert (version["published_at"], version["modified_at"]) == (articles[A]["published_at"], SUMMER_2003_NOW)
    assert db["http_validators"].get(A)["last_modified"] == "Sun, 30 Apr 2023 18:30:00 GMT"  # the site's, as sent
    # What follows published_at: the tag index (a trigger), full-text search (triggers), the day of an article.
    tags = {r["url"]: r["published_at"] for r in db["article_tags"].rows}
    assert tags == {u: new for u, (_, new) in PUBLISHED.items()}
    conn.execute("INSERT INTO articles_fts (articles_fts) VALUES ('integrity-check')")  # raises if out of step
    assert {r["url"] for r in db["articles"].search("ктк")} == set(PUBLISHED)
    assert [r["url"] for r in published_on(conn, "2023-05-01")] == [A]
    assert published_on(conn, "2023-04-30") == []
    assert {r["url"] for r in published_on(conn, "2024-02-29")} == {C, D}
    assert [r["url"] for r in export_rows(db, "articles", since="2023-05-01") if r["published_at"] < "2024"] == [A]
    db.close()


def published_on(conn: sqlite3.Connection, day: str) -> list[dict[str, str]]:
    """The ``published_on`` canned query of datasette/metadata.yml, as Datasette runs it."""
    metadata = yaml.safe_load((ROOT / "datasette" / "metadata.yml").read_text(encoding="utf-8"))
    sql = metadata["databases"]["informburo"]["queries"]["published_on"]["sql"]
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, {"date": day})]
    finally:
        conn.row_factory = None


def test_an_rss_date_of_unknown_offset_is_utc_not_the_servers_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 5322's "-0000" is UTC with the local offset unknown: it must not follow the machine's TZ."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        feed = b"<rss><channel><item><link>http://x/novosti/a</link>"
        feed += b"<pubDate>Fri, 16 Jan 2026 05:52:00 -0000</pubDate></item></channel></rss>"
        assert [e.published_at for e in parse_feed(feed)] == ["2026-01-16T10:52:00+05:00"]
    finally:
        monkeypatch.undo()
        time.tzset()
