"""The raw-page archive and ``informburo reparse``: rebuild articles from it, no network."""

from __future__ import annotations

import json
import sqlite3
import threading
import urllib.request
import zlib
from datetime import datetime
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler

from core.clock import KZ_TZ
from crawler.extensions import ArchiveExtension
from mirror.server import MirrorServer
from mirror.site import Site
from storage.archive import Archive, RawPage, archive_path
from storage.schema import ARCHIVE_SCHEMA_VERSION
from tests.conftest import crawl, informburo, rows
from tests.test_end_to_end import expected_articles
from tests.test_history import RECHECK

ARTICLE_COLUMNS = "url, section, lang, title, lead, body, author, published_at, modified_at, tags, image_url, views,"
ARTICLE_COLUMNS += " first_seen_at, last_seen_at, sources"


@pytest.mark.slow
def test_every_fetched_article_page_is_archived(mirror: MirrorServer, db: Path) -> None:
    assert crawl(db, mirror.url).returncode == 0
    archive = Archive(archive_path(db))
    try:
        pages = list(archive.pages())
    finally:
        archive.close()
    wanted = {mirror.url + mirror.site.path_of(a) for a in expected_articles(mirror.site)}
    assert sorted(p.url for p in pages) == sorted(wanted)
    sample = pages[0]
    with urllib.request.urlopen(sample.url) as response:
        assert sample.body == response.read()  # byte for byte what the server sent
    assert sample.status == 200 and "text/html" in sample.headers["Content-Type"] and sample.run_id == 1
    stored = {r["url"]: r["first_seen_at"] for r in rows(db, "SELECT url, first_seen_at FROM articles")}
    assert all(stored[p.url] == p.fetched_at for p in pages)


@pytest.mark.slow
def test_reparse_rebuilds_the_articles_table_identically(site: Site, db: Path) -> None:
    edited = site.articles[5]
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url).returncode == 0
        edited["blocks"][0]["html"] = edited["blocks"][0]["text"] = "Обновлённый абзац после правки."
        assert crawl(db, mirror.url, *RECHECK).returncode == 0
    before = rows(db, f"SELECT {ARTICLE_COLUMNS} FROM articles ORDER BY url")
    versions = rows(db, "SELECT url, run_id, captured_at, content_hash FROM article_versions ORDER BY url, id")
    assert len(versions) == len(before) + 1
    conn = sqlite3.connect(db)
    conn.executescript("DELETE FROM article_versions; DELETE FROM articles;")
    conn.close()
    assert rows(db, "SELECT count(*) AS n FROM articles")[0]["n"] == 0

    result = informburo("reparse", "--db", str(db))
    assert result.returncode == 0, result.stderr
    # the first crawl's pages, and those the recheck downloaded again: the edited one and the three
    # whose counter a script loads (they keep no validators); the others answered 304
    widgets = sum(bool(a.get("views_widget")) for a in site.articles)
    assert widgets == 3 and f"reparsed {len(before) + 1 + widgets} archived pages" in result.stdout
    assert rows(db, f"SELECT {ARTICLE_COLUMNS} FROM articles ORDER BY url") == before
    assert rows(db, "SELECT url, run_id, captured_at, content_hash FROM article_versions ORDER BY url, id") == versions
    run = rows(db, "SELECT job, status FROM crawl_runs ORDER BY id DESC LIMIT 1")[0]
    assert run == {"job": "reparse", "status": "ok"}
    # search still works on the rebuilt rows (the FTS triggers followed)
    hits = rows(db, "SELECT count(*) AS n FROM articles_fts WHERE articles_fts MATCH 'обновлённый'")
    assert hits[0]["n"] == 1


@pytest.mark.slow
def test_reparse_carries_an_extractor_fix_to_old_articles(mirror: MirrorServer, db: Path) -> None:
    assert crawl(db, mirror.url).returncode == 0
    conn = sqlite3.connect(db)
    conn.execute("UPDATE articles SET title = 'broken by an old extractor', body = 'x'")
    conn.commit()
    conn.close()
    assert informburo("reparse", "--db", str(db)).returncode == 0
    titles = {r["title"] for r in rows(db, "SELECT title FROM articles")}
    assert titles == {a["title"] for a in expected_articles(mirror.site)}


@pytest.mark.slow
def test_reparse_needs_an_archive(tmp_path: Path) -> None:
    result = informburo("reparse", "--db", str(tmp_path / "none.db"))
    assert result.returncode == 2 and "archive" in result.stderr


def test_retention_drops_old_pages_then_the_oldest_beyond_the_size_budget(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "a.db")
    try:
        for day, size in ((1, 10), (10, 10), (11, 10)):
            body = bytes(range(256)) * (size * 1000 // 256)  # incompressible enough
            archive.add(
                RawPage(f"https://informburo.kz/novosti/{day}", f"2026-01-{day:02d}T10:00:00+05:00", 200, {}, body)
            )
        now = datetime(2026, 1, 12, 12, 0, tzinfo=KZ_TZ)
        assert archive.prune(max_days=5, max_mb=None, now=now) == 1  # the 1 January page
        assert [p.url[-2:] for p in archive.pages()] == ["10", "11"]
        one_page = archive.conn.execute("SELECT max(length(body)) FROM raw_pages").fetchone()[0]
        assert archive.prune(max_days=None, max_mb=one_page / 1_000_000, now=now) == 1  # keeps the newest
        assert [p.url[-2:] for p in archive.pages()] == ["11"]
    finally:
        archive.close()


#: The archive's schema as the code before migrations made it (no user_version), copied here on purpose.
UNVERSIONED_ARCHIVE = """
CREATE TABLE IF NOT EXISTS raw_pages (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    status INTEGER NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    size INTEGER NOT NULL,
    run_id INTEGER,
    listing_published TEXT
);
CREATE INDEX IF NOT EXISTS raw_pages_url ON raw_pages (url, id);
CREATE INDEX IF NOT EXISTS raw_pages_fetched_at ON raw_pages (fetched_at);
"""


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def test_an_archive_made_before_migrations_is_upgraded_with_its_pages(tmp_path: Path) -> None:
    path = tmp_path / "old.archive.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(UNVERSIONED_ARCHIVE)
    body = "<html><body>Статья</body></html>".encode()
    conn.execute(
        "INSERT INTO raw_pages (url, fetched_at, status, headers, body, size, run_id, listing_published)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            "https://informburo.kz/novosti/old",
            "2026-01-10T10:00:00+05:00",
            200,
            json.dumps({"Content-Type": "text/html; charset=utf-8"}),
            zlib.compress(body, 1),
            len(body),
            3,
            "2026-01-10T09:00:00+05:00",
        ],
    )
    conn.close()
    assert user_version(path) == 0

    with Archive(path) as archive:
        assert [(p.url, p.body, p.run_id, p.listing_published) for p in archive.pages()] == [
            ("https://informburo.kz/novosti/old", body, 3, "2026-01-10T09:00:00+05:00")
        ]
        archive.add(RawPage("https://informburo.kz/novosti/new", "2026-01-11T10:00:00+05:00", 200, {}, b"new"))
        assert archive.count() == 2
    assert user_version(path) == ARCHIVE_SCHEMA_VERSION >= 1
    with Archive(path) as archive:  # opening an archive at the current version changes nothing
        assert archive.urls() == {"https://informburo.kz/novosti/old", "https://informburo.kz/novosti/new"}
    assert user_version(path) == ARCHIVE_SCHEMA_VERSION


def test_a_new_archive_is_created_at_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "new.archive.db"
    with Archive(path) as archive:
        assert archive.count() == 0 and archive.urls() == set()
        for day in (1, 2):
            archive.add(RawPage("https://informburo.kz/novosti/a", f"2026-01-0{day}T10:00:00+05:00", 200, {}, b"x"))
        assert archive.urls() == {"https://informburo.kz/novosti/a"}
        assert archive.count(since="2026-01-02T00:00:00+05:00") == 1
    assert user_version(path) == ARCHIVE_SCHEMA_VERSION


def test_an_archive_from_a_newer_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.archive.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {ARCHIVE_SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        Archive(path)


def test_a_failing_archive_never_blocks_the_crawl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer thread keeps taking pages after a failure: more than the queue holds still go through."""

    def disk_on_fire(self: Archive, pages: list[RawPage]) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(Archive, "add_many", disk_on_fire)
    crawler = get_crawler(settings_dict={"INFORMBURO_DB": str(tmp_path / "x.db"), "INFORMBURO_ARCHIVE_ENABLED": True})
    ext = ArchiveExtension(crawler)
    ext.spider_opened()

    def crawl_on() -> None:
        for i in range(ext.pages.maxsize + 200):
            request = Request(f"https://informburo.kz/novosti/{i}", meta={"archive": True})
            ext.response_received(HtmlResponse(request.url, body=b"<html></html>", request=request), request)
        ext.spider_closed("finished")

    reactor = threading.Thread(target=crawl_on, daemon=True)
    reactor.start()
    reactor.join(30)
    assert not reactor.is_alive(), "the crawl waited on a dead archive writer"
