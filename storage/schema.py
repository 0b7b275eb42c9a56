"""The schema, as an ordered list of migrations recorded in ``PRAGMA user_version``.

Never edit a released migration: append a new one. Each runs in one transaction,
so a database is either at the old version or fully at the new one.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
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
]

SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database up to ``SCHEMA_VERSION``, one transaction per step; return it."""
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema version {version} is newer than this program's ({SCHEMA_VERSION}); upgrade informburo"
        )
    for number in range(version + 1, SCHEMA_VERSION + 1):
        script = f"BEGIN IMMEDIATE;\n{MIGRATIONS[number - 1]}\nPRAGMA user_version = {number};\nCOMMIT;"
        try:
            conn.executescript(script)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION
