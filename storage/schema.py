"""The schema, as an ordered list of migrations recorded in ``PRAGMA user_version``: the main
database's (``MIGRATIONS``) and the raw-page archive's (``ARCHIVE_MIGRATIONS``), each in its file.

Never edit a released migration: append a new one. Each runs in one transaction,
so a database is either at the old version or fully at the new one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from sqlite_utils import Database

from core.clock import UNIFIED_AT, as_kz

#: Tokenizer for full-text search: Unicode case folding (Cyrillic and Kazakh letters included),
#: diacritics removed, so "ктк" finds "КТК" and "қаңтар" finds "Қаңтар".
FTS_TOKENIZE = "unicode61 remove_diacritics 2"
FTS_COLUMNS = ("title", "lead", "body", "tags")


def content_hash(title: str | None, lead: str | None, body: str | None) -> str:
    """What makes an article version: its title, lead and body (SHA-256, hex)."""
    payload = json.dumps([title, lead, body], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _v3_history_and_search(db: Database) -> None:
    """Article versions and views over time, full-text search, indexes for the canned queries."""
    db.executescript(
        """
        CREATE TABLE article_versions (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL REFERENCES articles (url),
            run_id INTEGER REFERENCES crawl_runs (id),
            captured_at TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            title TEXT NOT NULL,
            lead TEXT,
            body TEXT NOT NULL
        );
        CREATE INDEX article_versions_url ON article_versions (url, id);
        CREATE TABLE article_views (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL,
            run_id INTEGER REFERENCES crawl_runs (id),
            captured_at TEXT NOT NULL,
            views INTEGER NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('page', 'most_read'))
        );
        CREATE UNIQUE INDEX article_views_run ON article_views (url, run_id, source);
        CREATE INDEX article_views_url ON article_views (url, captured_at);
        CREATE INDEX most_read_url ON most_read (url, run_id);
        CREATE INDEX rates_currency ON rates (currency, captured_at);
        CREATE INDEX articles_section ON articles (section, published_at);
        CREATE INDEX articles_modified_at ON articles (modified_at);
        """
    )
    # What was stored before versions existed is each article's first version.
    for row in db.query("SELECT url, title, lead, body, first_seen_at, views, last_seen_at FROM articles"):
        db["article_versions"].insert(
            {
                "url": row["url"],
                "run_id": None,
                "captured_at": row["first_seen_at"],
                "content_hash": content_hash(row["title"], row["lead"], row["body"]),
                "title": row["title"],
                "lead": row["lead"],
                "body": row["body"],
            }
        )
        if row["views"] is not None:
            db["article_views"].insert(
                {
                    "url": row["url"],
                    "run_id": None,
                    "captured_at": row["last_seen_at"],
                    "views": row["views"],
                    "source": "page",
                }
            )
    for row in db.query(
        "SELECT url, run_id, captured_at, views FROM most_read WHERE url IS NOT NULL AND views IS NOT NULL"
    ):
        db["article_views"].insert({**row, "source": "most_read"}, ignore=True)
    db["articles"].enable_fts(FTS_COLUMNS, create_triggers=True, tokenize=FTS_TOKENIZE)


#: Every column holding a time the program wrote, as of schema version 8. Not http_validators.last_modified
#: (the site's own HTTP header), nor article_tags.published_at (its trigger follows articles.published_at).
_TIME_COLUMNS: dict[str, tuple[str, ...]] = {
    "articles": ("published_at", "modified_at", "first_seen_at", "last_seen_at", "last_change_seen"),
    "article_versions": ("captured_at",),
    "article_views": ("captured_at",),
    "most_read": ("captured_at",),
    "rates": ("captured_at",),
    "crawl_runs": ("started_at", "finished_at"),
    "crawl_errors": ("captured_at", "resolved_at"),
    "rejects": ("captured_at",),
    "scheduler_jobs": ("next_run_at", "updated_at"),
    "http_validators": ("updated_at",),
}


def _time_in_force(value: str | None) -> str | None:
    """A stored +05:00 time from before Kazakhstan's move to UTC+05:00, as the same instant in the offset
    in force then (+06:00; +07:00 in the summers up to 2004, when Almaty kept DST); any other value as it is."""
    if not isinstance(value, str) or not value.endswith("+05:00"):
        return value
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    return as_kz(at).isoformat() if at < UNIFIED_AT else value


def _v9_kazakhstan_time_in_force(db: Database) -> None:
    """Times were written at a fixed +05:00, but Kazakhstan kept UTC+06:00 until 1 March 2024: a page
    published at 00:30 on 1 May 2023 was stored on 30 April. Rewrite each earlier time in the offset
    in force then, one UPDATE per table so each article's triggers (search, tags) fire once."""
    db.conn.create_function("informburo_time_in_force", 1, _time_in_force, deterministic=True)
    # A +05:00 text sorts as its instant: every time before the change is below this one.
    bound = UNIFIED_AT.astimezone(timezone(timedelta(hours=5))).isoformat()
    for table, columns in _TIME_COLUMNS.items():
        sets = ", ".join(f"[{c}] = informburo_time_in_force([{c}])" for c in columns)
        where = " OR ".join(f"([{c}] LIKE '%+05:00' AND [{c}] < :bound)" for c in columns)
        db.execute(f"UPDATE [{table}] SET {sets} WHERE {where}", {"bound": bound})


MIGRATIONS: list[str | Callable[[Database], None]] = [
    # 1: the anatomy's field contract, plus where failures and rejects are recorded.
    """
    CREATE TABLE crawl_runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'interrupted')),
        pages INTEGER NOT NULL DEFAULT 0,
        items_stored INTEGER NOT NULL DEFAULT 0,
        items_rejected INTEGER NOT NULL DEFAULT 0,
        errors INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE articles (
        url TEXT PRIMARY KEY,
        section TEXT,
        lang TEXT,
        title TEXT NOT NULL,
        lead TEXT,
        body TEXT NOT NULL,
        author TEXT,
        published_at TEXT NOT NULL,
        modified_at TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        image_url TEXT,
        views INTEGER,
        first_seen_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL
    );
    CREATE INDEX articles_published_at ON articles (published_at);
    CREATE TABLE most_read (
        run_id INTEGER NOT NULL REFERENCES crawl_runs (id),
        captured_at TEXT NOT NULL,
        rank INTEGER NOT NULL,
        emoji TEXT,
        title TEXT NOT NULL,
        url TEXT,
        views INTEGER,
        comments INTEGER,
        reactions INTEGER,
        PRIMARY KEY (run_id, rank)
    );
    CREATE TABLE rates (
        run_id INTEGER NOT NULL REFERENCES crawl_runs (id),
        captured_at TEXT NOT NULL,
        currency TEXT NOT NULL,
        buy REAL,
        sell REAL,
        PRIMARY KEY (run_id, currency)
    );
    CREATE TABLE crawl_errors (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES crawl_runs (id),
        url TEXT NOT NULL,
        stage TEXT NOT NULL,
        reason TEXT NOT NULL,
        http_status INTEGER,
        captured_at TEXT NOT NULL
    );
    CREATE INDEX crawl_errors_run_id ON crawl_errors (run_id);
    CREATE TABLE rejects (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES crawl_runs (id),
        url TEXT,
        field TEXT,
        reason TEXT NOT NULL,
        captured_at TEXT NOT NULL,
        item TEXT
    );
    CREATE INDEX rejects_run_id ON rejects (run_id);
    """,
    # 2: which extraction layer produced each field, and per-run drift and coverage.
    """
    ALTER TABLE articles ADD COLUMN sources TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE crawl_runs ADD COLUMN article_pages INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE crawl_runs ADD COLUMN fallback_pages INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE crawl_runs ADD COLUMN field_coverage TEXT;
    ALTER TABLE crawl_runs ADD COLUMN warning TEXT;
    """,
    # 3: history (versions, views over time) and full-text search.
    _v3_history_and_search,
    # 4: which scheduled job started a run, and the daemon's view of its jobs.
    """
    ALTER TABLE crawl_runs ADD COLUMN job TEXT;
    ALTER TABLE crawl_runs ADD COLUMN parts TEXT;
    CREATE INDEX crawl_runs_job ON crawl_runs (job, id);
    CREATE TABLE scheduler_jobs (
        name TEXT PRIMARY KEY,
        task TEXT NOT NULL,
        trigger TEXT NOT NULL,
        next_run_at TEXT,
        updated_at TEXT NOT NULL
    );
    """,
    # 5: HTTP validators of each article page's last full download, for conditional requests.
    """
    CREATE TABLE http_validators (
        url TEXT PRIMARY KEY,
        etag TEXT,
        last_modified TEXT,
        updated_at TEXT NOT NULL
    );
    """,
    # 6: a failure is resolved once its page is stored (the next runs retry it).
    """
    ALTER TABLE crawl_errors ADD COLUMN resolved_at TEXT;
    CREATE INDEX crawl_errors_url ON crawl_errors (url, resolved_at);
    """,
    # 7: what the slow canned queries need at a year's scale (docs/benchmarks.md, queries):
    # an index of tags, and each article's version count kept on its row.
    """
    CREATE TABLE article_tags (
        tag TEXT NOT NULL,
        published_at TEXT NOT NULL,
        url TEXT NOT NULL,
        PRIMARY KEY (tag, published_at, url)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO article_tags SELECT t.value, a.published_at, a.url FROM articles a, json_each(a.tags) t;
    CREATE TRIGGER article_tags_ai AFTER INSERT ON articles BEGIN
        INSERT OR IGNORE INTO article_tags SELECT t.value, new.published_at, new.url FROM json_each(new.tags) t;
    END;
    CREATE TRIGGER article_tags_au AFTER UPDATE OF tags, published_at ON articles BEGIN
        DELETE FROM article_tags WHERE url = old.url;
        INSERT OR IGNORE INTO article_tags SELECT t.value, new.published_at, new.url FROM json_each(new.tags) t;
    END;
    CREATE TRIGGER article_tags_ad AFTER DELETE ON articles BEGIN
        DELETE FROM article_tags WHERE url = old.url;
    END;
    ALTER TABLE articles ADD COLUMN versions INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE articles ADD COLUMN last_change_seen TEXT;
    UPDATE articles SET versions = v.n, last_change_seen = v.last_seen
        FROM (SELECT url, count(*) AS n, max(captured_at) AS last_seen FROM article_versions
              GROUP BY url HAVING count(*) > 1) AS v
        WHERE articles.url = v.url;
    CREATE INDEX articles_edited ON articles (max(coalesce(modified_at, ''), coalesce(last_change_seen, '')))
        WHERE versions > 1 OR modified_at IS NOT NULL;
    """,
    # 8: distributed mode (docs/distributed.md): the seed a run came from, so the store process
    # finds its run again after a restart, and single-machine writers leave such runs alone.
    """
    ALTER TABLE crawl_runs ADD COLUMN seed TEXT;
    CREATE UNIQUE INDEX crawl_runs_seed ON crawl_runs (seed) WHERE seed IS NOT NULL;
    """,
    # 9: every time in the Kazakhstan offset in force at its instant (+06:00 before March 2024).
    _v9_kazakhstan_time_in_force,
    # 10: a version records every field the site may change, not only its text, so a lost author,
    # tag or image stays in the history. The latest version takes them from its articles row (which
    # holds what the article was last stored with), where that row holds the same text; earlier
    # versions keep NULL there: not recorded. content_hash still covers title, lead and body only.
    """
    ALTER TABLE article_versions ADD COLUMN lang TEXT;
    ALTER TABLE article_versions ADD COLUMN author TEXT;
    ALTER TABLE article_versions ADD COLUMN published_at TEXT;
    ALTER TABLE article_versions ADD COLUMN modified_at TEXT;
    ALTER TABLE article_versions ADD COLUMN tags TEXT;
    ALTER TABLE article_versions ADD COLUMN image_url TEXT;
    UPDATE article_versions
        SET lang = a.lang, author = a.author, published_at = a.published_at, modified_at = a.modified_at,
            tags = a.tags, image_url = a.image_url
        FROM articles AS a
        WHERE a.url = article_versions.url
          AND article_versions.id = (SELECT max(id) FROM article_versions AS v WHERE v.url = a.url)
          AND a.title = article_versions.title AND a.lead IS article_versions.lead AND a.body = article_versions.body;
    """,  # 11: monitoring (docs/monitoring.md). Each check of a run (run_id) or across runs (run_id NULL)
    # and its verdict; an incident is a check failing from its first failure to its recovery, so
    # one alert goes out when it starts and one when it ends; the daemon's fire times that did
    # not run as scheduled (skipped: the job was still running; missed: too late to start).
    """
    CREATE TABLE monitor_results (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES crawl_runs (id),
        monitor TEXT NOT NULL,
        passed INTEGER NOT NULL CHECK (passed IN (0, 1)),
        severity TEXT NOT NULL CHECK (severity IN ('ok', 'warning', 'critical')),
        detail TEXT NOT NULL,
        checked_at TEXT NOT NULL
    );
    CREATE INDEX monitor_results_run ON monitor_results (run_id);
    CREATE INDEX monitor_results_monitor ON monitor_results (monitor, id);
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        monitor TEXT NOT NULL,
        severity TEXT NOT NULL CHECK (severity IN ('warning', 'critical')),
        detail TEXT NOT NULL,
        started_at TEXT NOT NULL,
        first_run_id INTEGER REFERENCES crawl_runs (id),
        last_good_run_id INTEGER REFERENCES crawl_runs (id),
        failures INTEGER NOT NULL DEFAULT 1,
        recovered_at TEXT,
        recovered_run_id INTEGER REFERENCES crawl_runs (id),
        alerted_at TEXT,
        recovery_alerted_at TEXT
    );
    CREATE UNIQUE INDEX incidents_open ON incidents (monitor) WHERE recovered_at IS NULL;
    CREATE TABLE scheduler_events (
        id INTEGER PRIMARY KEY,
        job TEXT NOT NULL,
        fire_time TEXT NOT NULL,
        event TEXT NOT NULL CHECK (event IN ('skipped', 'missed')),
        detail TEXT,
        recorded_at TEXT NOT NULL
    );
    CREATE INDEX scheduler_events_job ON scheduler_events (job, fire_time);
    ALTER TABLE scheduler_jobs ADD COLUMN last_fire_at TEXT;
    ALTER TABLE scheduler_jobs ADD COLUMN last_started_at TEXT;
    ALTER TABLE scheduler_jobs ADD COLUMN start_delay REAL;
    """,
    # 12: the Kazakhstan date an article was published on (its first ten characters), indexed with
    # the time, so published_today and published_on read one day's rows in order instead of walking
    # every article (docs/benchmarks.md §7: p95 55-60 ms → 2-5 ms at 200,000 articles).
    """
    CREATE INDEX articles_published_day ON articles (substr(published_at, 1, 10), published_at);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

#: The raw-page archive's own schema (storage/archive.py): its own file, its own ``user_version``.
ARCHIVE_MIGRATIONS: list[str | Callable[[Database], None]] = [
    # 1: raw pages, zlib-compressed. IF NOT EXISTS: archives made before the archive had
    # migrations hold these already, at user_version 0, and keep their pages.
    """
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
    """,
]

ARCHIVE_SCHEMA_VERSION = len(ARCHIVE_MIGRATIONS)


def schema_version(db: Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: Database, migrations: list[str | Callable[[Database], None]] | None = None) -> int:
    """Bring the database up to the last of ``migrations`` (the main database's by default), one
    transaction per step; return its version.

    A step that fails is rolled back whole: the database stays at the version before it.
    Each step checks the version again once it holds the write lock, so two connections
    migrating at once (the archive is opened without the writer lock) never run a step twice.
    """
    if migrations is None:
        migrations = MIGRATIONS  # read when called, so a test may swap the list
    target = len(migrations)
    version = schema_version(db)
    if version > target:
        raise RuntimeError(
            f"database schema version {version} is newer than this program's ({target}); upgrade informburo"
        )
    for number in range(version + 1, target + 1):
        step = migrations[number - 1]
        db.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(db) < number:
                if callable(step):
                    step(db)
                else:
                    db.executescript(step)
                db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:
                db.execute("ROLLBACK")
            raise
    return target
