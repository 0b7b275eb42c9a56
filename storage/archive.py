"""The raw-page archive: every fetched article page, compressed, beside the database.

It lives in its own SQLite file (``data/informburo.archive.db`` next to
``data/informburo.db``), so Datasette and exports of the main database stay small,
and ``informburo reparse`` can rebuild ``articles`` from it with no network.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from crawler.fields import KZ_TZ

SCHEMA = """
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


def archive_path(db_path: str | Path) -> Path:
    """``data/informburo.db`` → ``data/informburo.archive.db``."""
    path = Path(db_path)
    return path.with_name(f"{path.stem}.archive{path.suffix or '.db'}")


@dataclass
class RawPage:
    url: str
    fetched_at: str
    status: int
    headers: dict[str, str]
    body: bytes
    run_id: int | None = None
    listing_published: str | None = None


class Archive:
    """Append-only store of raw pages (zlib-compressed), with retention by age and size."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.executescript(SCHEMA)

    def add(self, page: RawPage) -> None:
        self.add_many([page])

    def add_many(self, pages: list[RawPage]) -> None:
        """Store pages in one transaction."""
        rows = [
            (
                page.url,
                page.fetched_at,
                page.status,
                json.dumps(page.headers, ensure_ascii=False, sort_keys=True),
                zlib.compress(page.body, 1),  # level 1: half the CPU of level 6; pages still shrink 3.7x
                len(page.body),
                page.run_id,
                page.listing_published,
            )
            for page in pages
        ]
        self.conn.execute("BEGIN")
        try:
            self.conn.executemany(
                "INSERT INTO raw_pages (url, fetched_at, status, headers, body, size, run_id, listing_published)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def count(self, since: str | None = None) -> int:
        sql, params = "SELECT count(*) FROM raw_pages", []
        if since:
            sql, params = sql + " WHERE fetched_at >= ?", [since]
        return self.conn.execute(sql, params).fetchone()[0]

    def pages(self, since: str | None = None) -> Iterator[RawPage]:
        """Archived pages in fetch order (so later versions come after earlier ones)."""
        sql = "SELECT url, fetched_at, status, headers, body, run_id, listing_published FROM raw_pages"
        params: list[str] = []
        if since:
            sql += " WHERE fetched_at >= ?"
            params.append(since)
        for url, fetched_at, status, headers, body, run_id, listing in self.conn.execute(sql + " ORDER BY id", params):
            yield RawPage(url, fetched_at, status, json.loads(headers), zlib.decompress(body), run_id, listing)

    def prune(self, max_days: float | None, max_mb: float | None, now: datetime | None = None) -> int:
        """Drop pages older than ``max_days``, then the oldest until the stored size fits ``max_mb``."""
        removed = 0
        if max_days:
            cutoff = ((now or datetime.now(KZ_TZ)) - timedelta(days=max_days)).isoformat(timespec="seconds")
            removed += self.conn.execute("DELETE FROM raw_pages WHERE fetched_at < ?", [cutoff]).rowcount
        if max_mb:
            budget = int(max_mb * 1_000_000)
            total = self.conn.execute("SELECT coalesce(sum(length(body)), 0) FROM raw_pages").fetchone()[0]
            if total > budget:
                over = total - budget
                ids = []
                for page_id, size in self.conn.execute("SELECT id, length(body) FROM raw_pages ORDER BY id"):
                    if over <= 0:
                        break
                    ids.append(page_id)
                    over -= size
                self.conn.executemany("DELETE FROM raw_pages WHERE id = ?", [(i,) for i in ids])
                removed += len(ids)
        return removed

    def close(self) -> None:
        self.conn.close()
