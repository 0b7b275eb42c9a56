"""Opening the database, and the reads and writes shared by pipelines, spider and CLI."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from storage.schema import migrate

DEFAULT_DB = "data/informburo.db"
BUSY_TIMEOUT_S = 30


def open_database(path: str | Path, *, create: bool = True) -> Database:
    """Open (and migrate) the database in WAL mode with a busy timeout.

    ``create=False`` refuses a missing file instead of making an empty one, for the
    commands that only read.
    """
    path = Path(path)
    if not create and not path.exists():
        raise FileNotFoundError(f"no database at {path}")
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    db = Database(conn)
    if create:
        try:
            db.enable_wal()
            # WAL with synchronous=NORMAL: a power cut may lose the last commits, never consistency.
            db.execute("PRAGMA synchronous = NORMAL")
            migrate(db)
        except sqlite3.OperationalError as exc:
            conn.close()
            raise _explained(path, exc) from exc
    return db


def _explained(path: Path, exc: sqlite3.OperationalError) -> sqlite3.OperationalError:
    """SQLite's "unable to open database file" says little: name a read-only file system or file."""
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return sqlite3.OperationalError(f"{path} is read-only: {exc}")
    return exc


def start_run(
    db: Database, started_at: str, *, job: str | None = None, parts: str | None = None, seed: str | None = None
) -> int:
    """A new ``crawl_runs`` row in state ``running``; its id."""
    cur = db.execute(
        "INSERT INTO crawl_runs (started_at, status, job, parts, seed) VALUES (?, 'running', ?, ?, ?)",
        [started_at, job, parts, seed],
    )
    return int(cur.lastrowid)


def close_orphan_runs(db: Database, status: str, finished_at: str) -> int:
    """Close runs left ``running`` by a writer that died (call while holding the writer lock).

    Runs of distributed mode (with a ``seed``) are left alone: their workers may still be at them.
    """
    cur = db.execute(
        "UPDATE crawl_runs SET status = ?, finished_at = ? WHERE status = 'running' AND seed IS NULL",
        [status, finished_at],
    )
    return cur.rowcount


def finish_run(db: Database, run_id: int, *, status: str, finished_at: str, **counts: Any) -> dict[str, Any]:
    """Close a run with its status and counts; rejects and errors are counted from what it recorded.

    ``counts`` are further ``crawl_runs`` columns (pages, items_stored, article_pages,
    fallback_pages, field_coverage, warning).
    """
    columns = "".join(f", {name} = ?" for name in counts)  # names are ours, never page data
    with db.atomic():
        db.execute(
            f"""
            UPDATE crawl_runs SET
                status = ?, finished_at = ?{columns},
                items_rejected = (SELECT count(*) FROM rejects WHERE run_id = ?),
                errors = (SELECT count(*) FROM crawl_errors WHERE run_id = ?)
            WHERE id = ?
            """,
            [status, finished_at, *counts.values(), run_id, run_id, run_id],
        )
    return db["crawl_runs"].get(run_id)


def _read_rows(
    path: str | Path, sql: str, params: list[Any] | None = None, needs: tuple[str, str] | None = None
) -> list[tuple[Any, ...]] | None:
    """Rows of a query on an existing database, opened read-only (nothing created or migrated).

    ``None`` when there is no database yet, or its schema is older than the ``(table,
    column)`` the query ``needs``: the caller decides what that means.
    """
    if not Path(path).exists():
        return None
    conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    try:
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.OperationalError as exc:
            raise _explained(Path(path), exc) from exc
        table, column = needs or ("articles", "url")
        if table not in tables or column not in {row[1] for row in conn.execute(f"PRAGMA table_info([{table}])")}:
            return None
        return conn.execute(sql, params or []).fetchall()
    finally:
        conn.close()


def known_article_urls(path: str | Path) -> set[str]:
    """Canonical URLs already stored."""
    return {url for (url,) in _read_rows(path, "SELECT url FROM articles") or []}


def last_walk_completed(path: str | Path) -> bool:
    """Did the latest run that walked the listing end ``ok``? If not, the next walk must not stop early."""
    sql = (
        "SELECT status FROM crawl_runs WHERE parts IS NULL OR ',' || parts || ',' LIKE '%,articles,%'"
        " ORDER BY id DESC LIMIT 1"
    )
    found = _read_rows(path, sql, needs=("crawl_runs", "parts"))
    return not found or found[0][0] == "ok"


def http_validators(path: str | Path) -> dict[str, tuple[str | None, str | None]]:
    """URL → (ETag, Last-Modified) of each article page's last full download."""
    sql = "SELECT url, etag, last_modified FROM http_validators"
    return {
        url: (etag, modified) for url, etag, modified in _read_rows(path, sql, needs=("http_validators", "url")) or []
    }


def unresolved_failures(path: str | Path, since: str) -> list[str]:
    """Pages that failed (fetch or parse) since ``since`` and have not been stored since: to retry."""
    sql = (
        "SELECT DISTINCT url FROM crawl_errors WHERE resolved_at IS NULL AND stage IN ('fetch', 'parse')"
        " AND captured_at >= ? AND url NOT IN (SELECT url FROM articles) ORDER BY url"
    )
    return [url for (url,) in _read_rows(path, sql, [since], needs=("crawl_errors", "resolved_at")) or []]


def recent_article_urls(path: str | Path, since: str) -> list[str]:
    """Stored articles published at or after ``since`` (ISO 8601, +05:00), newest first."""
    sql = "SELECT url FROM articles WHERE published_at >= ? ORDER BY published_at DESC"
    return [url for (url,) in _read_rows(path, sql, [since]) or []]


def recent_runs(db: Database, limit: int = 10) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM crawl_runs ORDER BY id DESC LIMIT ?", [limit]))


def article_row(item: dict[str, Any], captured_at: str) -> dict[str, Any]:
    """The ``articles`` columns of a normalised article (tags as JSON text)."""
    return {
        "url": item["url"],
        "section": item.get("section"),
        "lang": item.get("lang"),
        "title": item["title"],
        "lead": item.get("lead"),
        "body": item["body"],
        "author": item.get("author"),
        "published_at": item["published_at"],
        "modified_at": item.get("modified_at"),
        "tags": json.dumps(item.get("tags") or [], ensure_ascii=False),
        "image_url": item.get("image_url"),
        "views": item.get("views"),
        "first_seen_at": captured_at,
        "last_seen_at": captured_at,
        "sources": json.dumps(item.get("sources") or {}, sort_keys=True),
    }
