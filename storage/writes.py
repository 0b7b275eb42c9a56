"""What a crawl collects, written: articles (by URL, with versions and view counts), snapshots,
and the store's batch transaction. The policy (what to write, when a re-crawl is worse) is
``pipelines/store.py``'s; this module only knows tables, columns and transactions.

The store's writes are hand-written, prepared SQL inside a manual transaction (``Batch``),
not sqlite-utils' ``insert``/``upsert``/``atomic``, on purpose: the storage benchmark
(docs/benchmarks.md, "4. Storage") measured the store at 0.63× a raw ``executemany`` this
way, against 0.19× with sqlite-utils' verbs. Keep them so unless that benchmark says otherwise.
The writes off the store's path use sqlite-utils where it costs nothing that matters.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, Literal

from sqlite_utils import Database

from storage.schema import content_hash

#: Snapshot tables and the column that, with ``run_id``, keys their rows.
SNAPSHOT_KEYS = {"most_read": "rank", "rates": "currency"}

#: The ``articles`` columns a version records besides its text (title, lead and body, which
#: ``content_hash`` stands for): whatever the site may change. Not ``section`` (a function of
#: the URL), ``views`` (``article_views`` holds their history) or our own bookkeeping.
VERSIONED_COLUMNS = ("lang", "author", "published_at", "modified_at", "tags", "image_url")
#: What tells two versions apart: any difference here is a new version.
VERSION_KEY = ("content_hash", *VERSIONED_COLUMNS)


class Batch:
    """The store's transaction: one per ``size`` items or ``seconds`` seconds, a savepoint per item.

    Fewer, larger transactions are part of the store's speed (docs/benchmarks.md, "4. Storage");
    the limits keep a slow crawl's items visible to readers within ``seconds`` and bound what a
    kill loses to one batch, which the next run fetches again since it was never stored. The
    savepoint makes a rejected item undo only its own writes, not the batch's.
    """

    def __init__(self, db: Database, size: int, seconds: float) -> None:
        self.db = db
        self.size = max(1, size)
        self.seconds = seconds  # readers see a slow crawl's items within this delay
        self.pending = 0
        self.started = 0.0

    @contextmanager
    def item(self) -> Iterator[None]:
        """One item's writes, kept or undone whole, inside the batch's transaction (begun here if none is open)."""
        if not self.db.conn.in_transaction:  # someone else may have committed (distributed mode's store does)
            self.db.execute("BEGIN")
            self.started = time.monotonic()
        self.db.execute("SAVEPOINT item")
        try:
            yield
        except BaseException:
            if self.db.conn.in_transaction:  # a full disk may already have rolled everything back
                self.db.execute("ROLLBACK TO item")
                self.db.execute("RELEASE item")
            raise
        self.db.execute("RELEASE item")
        self.pending += 1

    def commit_if_due(self) -> None:
        """Commit once the batch holds ``size`` items or has been open ``seconds`` seconds."""
        if self.pending >= self.size or time.monotonic() - self.started >= self.seconds:
            self.commit()

    def commit(self) -> None:
        """End the current batch (nothing to do if none is open)."""
        if self.db.conn.in_transaction:
            self.db.execute("COMMIT")
        self.pending = 0


# --- articles ---


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


def stored_article(db: Database, url: str) -> dict[str, Any] | None:
    """The stored ``articles`` row of this canonical URL, if any (what a re-crawl is compared with)."""
    cursor = db.execute("SELECT * FROM articles WHERE url = ?", [url])
    found = cursor.fetchone()
    return dict(zip([c[0] for c in cursor.description], found, strict=True)) if found else None


def widget_count(db: Database, url: str, run_id: int | None) -> int | None:
    """The view count an article's own page gave in a run (its ``page`` point), for reparse: a count
    its widget loaded is in no archived page."""
    if run_id is None:
        return None
    sql = "SELECT views FROM article_views WHERE url = ? AND run_id = ? AND source = 'page'"
    found = db.execute(sql, [url, run_id]).fetchone()
    return found[0] if found else None


def latest_version(db: Database, url: str) -> tuple[int, dict[str, Any] | None]:
    """(how many versions an article has, its latest version's ``VERSION_KEY`` columns or ``None``), in one
    statement: what the store compares a re-crawl with."""
    columns = ", ".join(f"v.[{c}]" for c in VERSION_KEY)
    cursor = db.execute(
        f"SELECT n.count, {columns} FROM (SELECT count(*) AS count, max(id) AS last FROM article_versions"
        " WHERE url = ?) AS n LEFT JOIN article_versions v ON v.id = n.last",
        [url],
    )
    count, *values = cursor.fetchone()
    return count, (dict(zip(VERSION_KEY, values, strict=True)) if count else None)


def version_row(row: dict[str, Any], run_id: int | None, captured_at: str) -> dict[str, Any]:
    """The ``article_versions`` row of an ``articles`` row (as ``article_row`` makes it) seen by ``run_id``."""
    version = {"url": row["url"], "run_id": run_id, "captured_at": captured_at}
    version["content_hash"] = content_hash(row["title"], row["lead"], row["body"])
    version |= {c: row[c] for c in ("title", "lead", "body", *VERSIONED_COLUMNS)}
    return version


def version_changes(new: dict[str, Any], latest: dict[str, Any], sighting: dict[str, Any] | None = None) -> list[str]:
    """The ``VERSION_KEY`` columns in which the version ``new`` differs from the version ``latest``.

    A version stored before schema 10 recorded only its text (its ``published_at`` is NULL):
    its other columns are compared with ``sighting``, the ``articles`` row (or page) the
    article was last seen with, when there is one, and otherwise count as unchanged, since
    nothing says what they were.
    """
    changed = ["content_hash"] if new["content_hash"] != latest["content_hash"] else []
    recorded = latest if latest.get("published_at") is not None else sighting
    if recorded is not None:
        changed += [c for c in VERSIONED_COLUMNS if new[c] != recorded[c]]
    return changed


def insert_article(db: Database, row: dict[str, Any]) -> None:
    """A new ``articles`` row."""
    _write(db, "INSERT", "articles", row)


def update_article(db: Database, row: dict[str, Any]) -> None:
    """Overwrite the given columns of the article ``row["url"]``."""
    _write(db, "UPDATE", "articles", row, key="url")


def add_version(db: Database, version: dict[str, Any]) -> None:
    """A row of ``article_versions``: the columns given (``version_row`` makes every one)."""
    _write(db, "INSERT", "article_versions", version)


def save_view_point(db: Database, point: dict[str, Any]) -> None:
    """An article's view count as seen by one run from one source (page or most_read); a replay overwrites it."""
    _write(db, "UPSERT", "article_views", point, key="url, run_id, source")


def resolve_errors(db: Database, url: str, fetched_url: str, resolved_at: str) -> None:
    """Mark the failures of a page resolved now that it is stored (by its canonical or fetched URL)."""
    db.execute(
        "UPDATE crawl_errors SET resolved_at = ? WHERE resolved_at IS NULL AND url IN (?, ?)",
        [resolved_at, url, fetched_url],
    )


def save_validators(db: Database, validators: dict[str, Any]) -> None:
    """ETag and Last-Modified of a page's last full download (url, etag, last_modified, updated_at)."""
    _write(db, "UPSERT", "http_validators", validators, key="url")


def drop_validators(db: Database, url: str) -> None:
    """Forget a page's validators: it is fetched in full next time (it sends none now, or its views
    are loaded by a script a ``304`` would not run)."""
    db.execute("DELETE FROM http_validators WHERE url = ?", [url])


def save_snapshot(db: Database, table: Literal["most_read", "rates"], row: dict[str, Any]) -> None:
    """One row of a run's snapshot, keyed by run and rank or currency, so a replay overwrites it."""
    _write(db, "UPSERT", table, row, key=f"run_id, {SNAPSHOT_KEYS[table]}")


def delete_versions_since(db: Database, urls: Iterable[str], since: str) -> None:
    """Drop these articles' versions captured at or after ``since``, for reparse to rebuild them from the pages.

    One statement (so one transaction); the URLs travel as one JSON parameter.
    """
    where = "captured_at >= ? AND url IN (SELECT value FROM json_each(?))"
    db["article_versions"].delete_where(where, [since, json.dumps(sorted(urls), ensure_ascii=False)])


# --- what reparse reads and rewrites (jobs/reparse.py decides; nothing here is on a crawl's path) ---


def article_versions(db: Database, url: str) -> list[dict[str, Any]]:
    """Every stored version of an article, every column, in ``id`` order (which is fetch order)."""
    cursor = db.execute("SELECT * FROM article_versions WHERE url = ? ORDER BY id", [url])
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, found, strict=True)) for found in cursor]


def replace_versions(db: Database, remove: list[int], add: list[dict[str, Any]]) -> None:
    """Drop the versions ``remove`` (by id), then add ``add`` in order: ids stay in fetch order.

    Reparse rewrites an article's history from its first changed version on, so a rebuilt
    version never gets an id above a later one.
    """
    if remove:
        db.execute(
            "DELETE FROM article_versions WHERE id IN (SELECT value FROM json_each(?))", [json.dumps(sorted(remove))]
        )
    for version in add:
        add_version(db, version)


def recorded_rejects(db: Database) -> Iterator[tuple[str | None, str | None, str, str, int | None]]:
    """(url, field, reason, captured_at, run_id) of every reject on record (not the raw items: too big)."""
    yield from db.execute("SELECT url, field, reason, captured_at, run_id FROM rejects")


def recorded_errors(db: Database) -> Iterator[tuple[str, str, str, str, int | None]]:
    """(url, stage, reason, captured_at, run_id) of every failure on record, resolved or not."""
    yield from db.execute("SELECT url, stage, reason, captured_at, run_id FROM crawl_errors")


def run_ids(db: Database) -> set[int]:
    """Every ``crawl_runs`` id (a version may only name a run that exists)."""
    return {run_id for (run_id,) in db.execute("SELECT id FROM crawl_runs")}


# --- prepared statements of the store (see the module's docstring for why they are hand-written) ---


def _write(db: Database, verb: str, table: str, row: dict[str, Any], key: str | None = None) -> None:
    """One parameterised write; the SQL is built from our own table and column names, once."""
    values = list(row.values())
    if verb == "UPDATE" and key:
        values.append(row[key])
    db.execute(_sql(verb, table, tuple(row), key), values)


@cache
def _sql(verb: str, table: str, columns: tuple[str, ...], key: str | None) -> str:
    """INSERT, UPDATE (by ``key``) or UPSERT (on conflict of ``key``) for these columns."""
    names = ", ".join(f"[{c}]" for c in columns)
    marks = ", ".join("?" for _ in columns)
    if verb == "INSERT":
        return f"INSERT INTO [{table}] ({names}) VALUES ({marks})"
    if verb == "UPDATE":
        sets = ", ".join(f"[{c}] = ?" for c in columns)
        return f"UPDATE [{table}] SET {sets} WHERE [{key}] = ?"
    updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in columns)
    return f"INSERT INTO [{table}] ({names}) VALUES ({marks}) ON CONFLICT ({key}) DO UPDATE SET {updates}"
