"""The database as a record over time: versions, views, full-text search, upgrades, concurrent readers."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlite_utils import Database

from mirror.server import MirrorServer
from mirror.site import Site, body_text
from storage.db import open_database
from storage.schema import MIGRATIONS, SCHEMA_VERSION, content_hash
from tests.conftest import crawl, rows

RECHECK = ("--only", "recheck", "-s", "INFORMBURO_RECHECK_DAYS=100000")


@pytest.mark.slow
def test_edits_add_versions_and_every_run_adds_a_views_point(site: Site, db: Path) -> None:
    edited = site.articles[3]
    with MirrorServer(site) as mirror:
        url = mirror.url + site.path_of(edited)
        assert crawl(db, mirror.url).returncode == 0
        edited["blocks"][0]["html"] = edited["blocks"][0]["text"] = "Исправлено: новый первый абзац."
        edited["views"] = (edited["views"] or 0) + 100
        assert crawl(db, mirror.url, *RECHECK).returncode == 0  # picks up the edit
        assert crawl(db, mirror.url, *RECHECK).returncode == 0  # nothing changed since
    versions = rows(db, "SELECT run_id, content_hash, body FROM article_versions WHERE url = ? ORDER BY id", (url,))
    assert [v["run_id"] for v in versions] == [1, 2]
    assert versions[1]["body"] == body_text(edited) != versions[0]["body"]
    assert versions[1]["content_hash"] == content_hash(edited["title"], edited["lead"], body_text(edited))
    article = rows(db, "SELECT body, views, first_seen_at, last_seen_at FROM articles WHERE url = ?", (url,))[0]
    assert article["body"] == body_text(edited) and article["views"] == edited["views"]
    # Other articles: rechecked twice, unchanged: still one version each.
    counts = rows(db, "SELECT url, count(*) AS n FROM article_versions GROUP BY url")
    assert all(c["n"] == 1 for c in counts if c["url"] != url) and len(counts) == len(
        rows(db, "SELECT url FROM articles")
    )
    views = rows(
        db, "SELECT run_id, views FROM article_views WHERE url = ? AND source = 'page' ORDER BY run_id", (url,)
    )
    # Run 3's recheck got 304 Not Modified: the page (views included) had not changed, so no new point.
    assert [(v["run_id"], v["views"]) for v in views] == [(1, edited["views"] - 100), (2, edited["views"])]
    sidebar = rows(db, "SELECT url, views FROM article_views WHERE source = 'most_read' AND run_id = 1")
    assert len(sidebar) == 10 and {r["views"] for r in sidebar} == {int(e["views"]) for e in site.most_read}


def search(db: Path, query: str) -> list[str]:
    sql = "SELECT a.title FROM articles_fts JOIN articles a ON a.rowid = articles_fts.rowid WHERE articles_fts MATCH ?"
    return [r["title"] for r in rows(db, sql, (query,))]


@pytest.mark.slow
def test_full_text_search_folds_cyrillic_and_kazakh_case_and_follows_updates(site: Site, db: Path) -> None:
    seed, kazakh = site.articles[0], next(a for a in site.articles if a["lang"] == "kk")
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url).returncode == 0
        assert search(db, "ктк")[:1] and seed["title"] in search(db, "ктк")
        assert kazakh["title"] in search(db, "астанада") == search(db, "АСТАНАДА")
        assert search(db, "айдыны") == search(db, "АЙДЫНЫ") == [kazakh["title"]]
        kazakh["blocks"][0]["html"] = kazakh["blocks"][0]["text"] = "Қаңтар айында жаңа алаң ашылды."
        assert crawl(db, mirror.url, *RECHECK).returncode == 0
    assert search(db, "қаңтар") == search(db, "ҚАҢТАР") == [kazakh["title"]]  # the update trigger re-indexed it
    assert search(db, "жасөспірімдерге") == []  # the old first paragraph is gone from the index


def test_upgrade_from_the_first_schema_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
    conn.execute("INSERT INTO crawl_runs (id, started_at, status) VALUES (1, '2026-01-16T10:00:00+05:00', 'ok')")
    conn.execute(
        "INSERT INTO articles (url, title, body, published_at, tags, views, first_seen_at, last_seen_at)"
        " VALUES ('https://informburo.kz/novosti/a', 'КТК', 'Текст', '2026-01-16T10:52:00+05:00', '[\"КТК\"]', 5,"
        " '2026-01-16T11:00:00+05:00', '2026-01-16T11:00:00+05:00')"
    )
    conn.execute(
        "INSERT INTO most_read VALUES (1, '2026-01-16T11:00:00+05:00', 1, '🥩', 'Ярмарка',"
        " 'https://informburo.kz/novosti/b', 11674, 0, 5)"
    )
    conn.execute("INSERT INTO rates VALUES (1, '2026-01-16T11:00:00+05:00', 'USD', 505.1, 508.1)")
    conn.close()

    db = open_database(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    article = db["articles"].get("https://informburo.kz/novosti/a")
    assert (article["title"], article["views"], json.loads(article["sources"])) == ("КТК", 5, {})
    assert [r["rank"] for r in db["most_read"].rows] == [1] and [r["buy"] for r in db["rates"].rows] == [505.1]
    assert [(v["url"], v["content_hash"]) for v in db["article_versions"].rows] == [
        ("https://informburo.kz/novosti/a", content_hash("КТК", None, "Текст"))
    ]
    # the only version is the latest: schema 10 filled in the fields it records from the row
    (version,) = db["article_versions"].rows
    assert (version["published_at"], version["tags"], version["author"]) == (
        "2026-01-16T10:52:00+05:00",
        '["КТК"]',
        None,
    )
    assert {(v["source"], v["views"]) for v in db["article_views"].rows} == {("page", 5), ("most_read", 11674)}
    assert [r["url"] for r in db["articles"].search("ктк")] == ["https://informburo.kz/novosti/a"]
    assert [(r["tag"], r["url"]) for r in db["article_tags"].rows] == [("КТК", "https://informburo.kz/novosti/a")]
    assert db["articles"].get("https://informburo.kz/novosti/a")["versions"] == 1
    db.close()


def test_a_failed_upgrade_leaves_the_old_schema_untouched(tmp_path: Path, monkeypatch) -> None:
    import storage.schema as schema

    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
    conn.close()

    def broken(db: Database) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(schema, "MIGRATIONS", [MIGRATIONS[0], MIGRATIONS[1], broken])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 3)
    try:
        open_database(path)
    except RuntimeError as exc:
        assert "disk on fire" in str(exc)
    else:
        raise AssertionError("the broken migration did not raise")
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == 2  # step 2 committed, step 3 rolled back
    assert not check.execute("SELECT 1 FROM sqlite_master WHERE name = 'half_done'").fetchone()


READER = """
import sqlite3, sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
queries = ["SELECT count(*) FROM articles", "SELECT * FROM most_read ORDER BY run_id DESC LIMIT 10",
           "SELECT a.title FROM articles_fts JOIN articles a ON a.rowid = articles_fts.rowid"
           " WHERE articles_fts MATCH 'ктк'",
           "SELECT currency, buy, sell FROM rates ORDER BY captured_at DESC LIMIT 3"]
n = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    for q in queries:
        conn.execute(q).fetchall()
        n += 1
print(n)
"""


@pytest.mark.slow
def test_a_reader_hammering_queries_neither_errs_nor_blocks_a_crawl(mirror: MirrorServer, db: Path) -> None:
    open_database(db).close()  # schema in place, as after a first run
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(db), "8"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    time.sleep(0.3)
    first = crawl(db, mirror.url)
    second = crawl(db, mirror.url, *RECHECK)
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0 and "locked" not in err, err
    assert int(out) > 100  # it really did query throughout
    for result in (first, second):
        assert result.returncode == 0 and "locked" not in result.stderr, result.stderr
    assert [r["status"] for r in rows(db, "SELECT status FROM crawl_runs")] == ["ok", "ok"]


@pytest.mark.slow
def test_a_recheck_of_an_unchanged_site_downloads_no_article_again(site: Site, db: Path) -> None:
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url).returncode == 0
        articles = {mirror.site.path_of(a) for a in site.articles}
        first = len(mirror.requests)
        edited = site.articles[2]
        edited["blocks"][0]["html"] = edited["blocks"][0]["text"] = "Правка после публикации."
        widgets = {site.path_of(a): a for a in site.articles if a.get("views_widget")}
        for article in widgets.values():
            article["views"] += 7  # read only by the page's script: the page itself is unchanged
        assert crawl(db, mirror.url, *RECHECK).returncode == 0
        answers = [(path, status) for path, status in mirror.statuses()[first:] if path in articles]
    stored = rows(db, "SELECT url FROM articles")
    assert len(answers) == len(stored) and len(widgets) == 3  # every stored article re-checked once …
    full = {site.path_of(edited), *widgets}
    assert [status for path, status in answers if path not in full] == [304] * (len(stored) - 4)  # … unchanged
    assert [status for path, status in answers if path in full] == [200] * 4  # the edited one came in full …
    # … and the pages whose counter a script loads, so their views are not left as they were
    for path, article in widgets.items():
        views = rows(db, "SELECT views FROM article_views WHERE url LIKE ? ORDER BY run_id", ("%" + path,))
        assert [v["views"] for v in views] == [article["views"] - 7, article["views"]], path
    versions = rows(db, "SELECT count(*) AS n FROM article_versions")[0]["n"]
    assert versions == len(stored) + 1
    validators = rows(db, "SELECT url FROM http_validators")
    assert len(validators) == len(stored) - 3 and not any(v["url"].endswith(tuple(widgets)) for v in validators)


@pytest.mark.slow
def test_a_page_answering_304_after_a_failure_is_no_longer_failing(site: Site, db: Path) -> None:
    article = next(a for a in site.articles if not a.get("views_widget") and a.get("variant") is None)
    path = site.path_of(article)
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url).returncode == 0
        site.faults[path] = "500"
        assert crawl(db, mirror.url, *RECHECK, "-s", "INFORMBURO_RETRY_BACKOFF=0").returncode == 0
        failing = "SELECT url FROM crawl_errors WHERE resolved_at IS NULL AND stage = 'fetch'"
        assert [r["url"] for r in rows(db, failing)] == [mirror.url + path]
        del site.faults[path]
        first = len(mirror.requests)
        assert crawl(db, mirror.url, *RECHECK).returncode == 0
        assert (path, 304) in mirror.statuses()[first:]
    assert rows(db, failing) == []  # unchanged since it was stored: resolved, not shown in status forever


@pytest.mark.slow
def test_the_rss_feed_finds_articles_and_a_broken_feed_is_only_logged(site: Site, db: Path) -> None:
    with MirrorServer(site) as mirror:
        result = crawl(db, mirror.url, "-s", "INFORMBURO_MAX_PAGES=1", "-s", "LOG_LEVEL=INFO")
        assert result.returncode == 0
        assert "/xml/rss.xml" in mirror.paths()
    # Page 1 of the listing holds six entries; the feed adds the newest ten.
    assert len(rows(db, "SELECT url FROM articles")) > 6
    site.feed = "broken"
    broken_db = db.with_name("broken.db")
    with MirrorServer(site) as mirror:
        result = crawl(broken_db, mirror.url, "-s", "LOG_LEVEL=INFO")
    assert result.returncode == 0
    logged = [
        line for line in result.stderr.splitlines() if "WARNING: RSS feed http" in line and "is unreadable" in line
    ]
    assert len(logged) == 1  # logged once, not once per fallback path
    assert rows(broken_db, "SELECT status FROM crawl_runs") == [{"status": "ok"}]
    # not an error of the run, but the part of the site it was: the run's warning names the feed
    assert [r["stage"] for r in rows(broken_db, "SELECT stage FROM crawl_errors")] == ["drift"]
    (run,) = rows(broken_db, "SELECT errors, warning FROM crawl_runs")
    assert run["errors"] == 0 and "RSS feed: RSS feed unreadable" in run["warning"]
