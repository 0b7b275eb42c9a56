"""Opening the database (the ``writer`` way for every writer), and the reads a run's plan makes."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from core.names import DEFAULT_LOCK_TIMEOUT
from storage.lock import WriterLock
from storage.schema import SCHEMA_VERSION, migrate, schema_version

BUSY_TIMEOUT_S = 30


class UnusableDatabaseError(sqlite3.DatabaseError):
    """The file is no SQLite database, or (for a reader) not one this program's schema can be read from.

    A ``sqlite3.DatabaseError``, so writers that catch those still do; the CLI says it in one line.
    """


def open_database(path: str | Path, *, create: bool = True) -> Database:
    """Open (and migrate) the database in WAL mode with a busy timeout.

    ``create=False`` refuses a missing file instead of making an empty one, for the
    commands that only read; and, since readers do not migrate, a database whose schema
    is older than this program's (``UnusableDatabaseError``, as for a file that is not
    SQLite at all), rather than failing on a missing table halfway through.
    """
    path = Path(path)
    if not create and not path.exists():
        raise FileNotFoundError(f"no database at {path}")
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    db = Database(conn)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        version = schema_version(db)  # reads the file's header: "file is not a database" shows here
    except sqlite3.DatabaseError as exc:
        conn.close()
        if isinstance(exc, sqlite3.OperationalError):
            raise _explained(path, exc) from exc
        raise UnusableDatabaseError(f"{path} is not an SQLite database ({exc})") from exc
    if not create and version < SCHEMA_VERSION:
        conn.close()
        if version == 0:
            raise UnusableDatabaseError(f"{path} holds no informburo tables: not a database `informburo crawl` made")
        raise UnusableDatabaseError(
            f"{path} has schema version {version}, older than this program's ({SCHEMA_VERSION});"
            " the next `informburo crawl` or `informburo reparse` upgrades it"
        )
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


@contextmanager
def writer(path: str | Path, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[Database]:
    """The one way to write: take the writer lock, open (and migrate) the database, close both.

    Crawl, reparse, the distributed store, the daemon's bookkeeping and the CLI all write
    through it, so no writer forgets the lock. Re-entrant within a thread (storage/lock.py).
    """
    with WriterLock(path, lock_timeout):
        db = open_database(path)
        try:
            yield db
        finally:
            db.close()


# --- what a run's plan reads (jobs/plan.py), on a database opened under the writer lock ---


def known_article_urls(db: Database) -> set[str]:
    """Canonical URLs already stored."""
    return {url for (url,) in db.execute("SELECT url FROM articles")}


def last_walk_completed(db: Database) -> bool:
    """Did the latest run that walked the listing end ``ok``? If not, the next walk must not stop early."""
    sql = (
        "SELECT status FROM crawl_runs WHERE parts IS NULL OR ',' || parts || ',' LIKE '%,articles,%'"
        " ORDER BY id DESC LIMIT 1"
    )
    found = db.execute(sql).fetchone()
    return not found or found[0] == "ok"


def http_validators(db: Database) -> dict[str, tuple[str | None, str | None]]:
    """URL → (ETag, Last-Modified) of each article page's last full download."""
    sql = "SELECT url, etag, last_modified FROM http_validators"
    return {url: (etag, modified) for url, etag, modified in db.execute(sql)}


def unresolved_failures(db: Database, since: str) -> list[str]:
    """Pages that failed (fetch or parse) since ``since`` and have not been stored since: to retry."""
    sql = (
        "SELECT DISTINCT url FROM crawl_errors WHERE resolved_at IS NULL AND stage IN ('fetch', 'parse')"
        " AND captured_at >= ? AND url NOT IN (SELECT url FROM articles) ORDER BY url"
    )
    return [url for (url,) in db.execute(sql, [since])]


def recent_article_urls(db: Database, since: str) -> list[str]:
    """Stored articles published at or after ``since`` (ISO 8601 in Kazakhstan time), newest first."""
    sql = "SELECT url FROM articles WHERE published_at >= ? ORDER BY published_at DESC"
    return [url for (url,) in db.execute(sql, [since])]
