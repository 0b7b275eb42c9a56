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
from types import TracebackType

from sqlite_utils import Database

from core.clock import KZ_TZ
from storage.schema import ARCHIVE_MIGRATIONS, migrate


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
    """Append-only store of raw pages (zlib-compressed), with retention by age and size.

    Opening it brings its schema up to date (``ARCHIVE_MIGRATIONS`` in storage/schema.py).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        try:
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.db = Database(self.conn)
            migrate(self.db, ARCHIVE_MIGRATIONS)
        except BaseException:
            self.conn.close()
            raise

    def __enter__(self) -> Archive:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def add(self, page: RawPage) -> None:
        self.add_many([page])

    def add_many(self, pages: list[RawPage]) -> None:
        """Store pages in one transaction (one ``executemany``: the archive writes on the crawl's heels)."""
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
        with self.db.atomic():
            self.conn.executemany(
                "INSERT INTO raw_pages (url, fetched_at, status, headers, body, size, run_id, listing_published)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def count(self, since: str | None = None) -> int:
        """Archived pages, or those fetched at or after ``since``."""
        if since:
            return self.db["raw_pages"].count_where("fetched_at >= ?", [since])
        return self.db["raw_pages"].count

    def urls(self) -> set[str]:
        """Every URL with an archived page (reparse rebuilds their versions)."""
        return {url for (url,) in self.conn.execute("SELECT DISTINCT url FROM raw_pages")}

    def urls_since(self, since: str | None = None) -> list[str]:
        """URLs with a page fetched at or after ``since`` (every URL without it), in order of that first page.

        Reparse takes one URL at a time, so a page's earlier and later versions are judged together.
        """
        where, params = ("WHERE fetched_at >= ?", [since]) if since else ("", [])
        sql = f"SELECT url FROM raw_pages {where} GROUP BY url ORDER BY min(id)"
        return [url for (url,) in self.conn.execute(sql, params)]

    def pages_of(self, url: str, since: str | None = None) -> list[RawPage]:
        """One URL's pages fetched at or after ``since``, in fetch order (bodies decompressed)."""
        sql = "SELECT url, fetched_at, status, headers, body, run_id, listing_published FROM raw_pages WHERE url = ?"
        params: list[str] = [url]
        if since:
            sql += " AND fetched_at >= ?"
            params.append(since)
        found = self.conn.execute(sql + " ORDER BY id", params)
        return [
            RawPage(page_url, fetched_at, status, json.loads(headers), zlib.decompress(body), run_id, listing)
            for page_url, fetched_at, status, headers, body, run_id, listing in found
        ]

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
                with self.db.atomic():  # one transaction, not one per page
                    self.conn.executemany("DELETE FROM raw_pages WHERE id = ?", [(i,) for i in ids])
                removed += len(ids)
        return removed

    def close(self) -> None:
        self.conn.close()
