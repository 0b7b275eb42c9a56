"""Store: the last pipeline. Writes items into SQLite and owns the run's ``crawl_runs`` row.

``Store`` is the writing itself, free of Scrapy, so ``informburo reparse`` stores
through exactly the same code as a crawl; ``StorePipeline`` is its Scrapy glue.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections import Counter
from dataclasses import asdict, is_dataclass
from functools import cache
from typing import Any

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.utils.defer import deferred_from_coro
from sqlite_utils import Database
from twisted.python.failure import Failure

from crawler.fields import now_kz
from crawler.items import Article, MostReadEntry, PageError, RateQuote
from crawler.pages.article import CORE_FIELDS, needed_fallback
from pipelines.normalize import normalize_item
from pipelines.validate import Rejected, check_item
from storage.db import article_row, close_orphan_runs, finish_run, open_database, start_run
from storage.lock import WriterLock
from storage.schema import content_hash

logger = logging.getLogger(__name__)

STAT_RUN_ID = "informburo/run_id"
STAT_STATUS = "informburo/status"
STAT_START_FAILED = "informburo/start_failed"
STAT_STORE_FAILED = "informburo/store_failed"
#: Article fields that may be absent; their share among stored articles is the run's field coverage.
OPTIONAL_FIELDS = ("lead", "author", "modified_at", "tags", "image_url", "views")


#: A re-crawled body shorter than this share of the stored one is a broken page, not an edit.
WORSE_BODY_SHARE = 0.5
#: Optional fields whose loss, two or more at once, marks a worse extraction.
KEPT_FIELDS = ("lead", "author", "image_url", "tags", "modified_at")


def worse_than_stored(new: dict[str, Any], old: dict[str, Any]) -> tuple[str, str] | None:
    """(field, reason) when a re-crawled article is a worse extraction than the stored row."""
    if len(new["body"]) < WORSE_BODY_SHARE * len(old["body"]):
        return (
            "body",
            f"worse than the stored version: body of {len(new['body'])} characters, {len(old['body'])} stored",
        )
    lost = [f for f in KEPT_FIELDS if old.get(f) not in (None, "", "[]") and new.get(f) in (None, "", "[]")]
    if len(lost) >= 2:
        return lost[0], f"worse than the stored version: lost {', '.join(lost)}"
    return None


class Store:
    """Idempotent writes for one run: articles upserted by canonical URL, snapshots keyed by run.

    Items are written in batches: one transaction per ``batch_size`` items or
    ``batch_seconds`` seconds, each item in a savepoint of its own (a rejected item undoes
    only itself). A run killed mid-batch
    loses at most that batch, which the next run fetches again, since it was never stored.
    """

    def __init__(
        self, db: Database, run_id: int, *, view_points: bool = True, batch_size: int = 100, batch_seconds: float = 1.0
    ) -> None:
        self.db = db
        self.run_id = run_id
        self.view_points = view_points  # reparse rebuilds text, not the views history
        self.batch_size = max(1, batch_size)
        self.batch_seconds = batch_seconds  # readers see a slow crawl's items within this delay
        self.pending = 0
        self.batch_started = 0.0
        self.stored = 0
        self.article_pages = 0  # article pages read this run, stored or rejected
        self.fallback_pages = 0  # … of which a core field came from a fallback layer
        self.stored_articles = 0
        self.field_counts: Counter[str] = Counter()  # stored articles having each optional field

    def store(self, item: Any, version_run_id: int | None = None) -> None:
        """Write one validated item (or record a ``PageError``).

        ``version_run_id`` credits a new article version to another run (reparse credits
        the run that fetched the page).
        """
        adapter = ItemAdapter(item)
        captured_at = adapter.get("captured_at") or now_kz()
        if not self.db.conn.in_transaction:
            self.db.execute("BEGIN")
            self.batch_started = time.monotonic()
        self.db.execute("SAVEPOINT item")  # inside the batch's transaction: a reject undoes only this item
        try:
            if isinstance(item, PageError):
                self.record_error(item.url, item.stage, item.reason, item.http_status, captured_at)
            elif isinstance(item, Article):
                self._store_article(item, captured_at, version_run_id or self.run_id)
            elif isinstance(item, MostReadEntry):
                columns = ("rank", "emoji", "title", "url", "views", "comments", "reactions")
                self._snapshot("most_read", item, captured_at, columns)
                if item.url and item.views is not None:
                    self._view_point(item.url, item.views, captured_at, "most_read")
            elif isinstance(item, RateQuote):
                self._snapshot("rates", item, captured_at, ("currency", "buy", "sell"))
            else:
                raise TypeError(f"unknown item class {type(item).__name__}")
            if not isinstance(item, PageError):
                for name, reason in (adapter.get("problems") or {}).items():
                    self.record_error(adapter.get("url") or "", "parse", f"{name}: {reason}", None, captured_at)
        except BaseException:
            if self.db.conn.in_transaction:  # a full disk may already have rolled everything back
                self.db.execute("ROLLBACK TO item")
                self.db.execute("RELEASE item")
            raise
        self.db.execute("RELEASE item")
        if not isinstance(item, PageError):
            self.stored += 1
        self.pending += 1
        if self.pending >= self.batch_size or time.monotonic() - self.batch_started >= self.batch_seconds:
            self.commit()

    def commit(self) -> None:
        """End the current batch."""
        if self.db.conn.in_transaction:
            self.db.execute("COMMIT")
        self.pending = 0

    def count_article_page(self, item: Article) -> None:
        self.article_pages += 1
        if needed_fallback(item.sources):
            self.fallback_pages += 1

    def _store_article(self, item: Article, captured_at: str, version_run_id: int) -> None:
        """Upsert the article; a changed title, lead or body adds a version; views add a point.

        A re-crawl that is a worse extraction than the stored row (a broken page) raises
        ``Rejected`` and changes nothing: a good stored row is never replaced by a worse one.
        """
        row = article_row(vars(item), captured_at)  # the dataclass's own fields, not a deep copy
        cursor = self.db.execute("SELECT * FROM articles WHERE url = ?", [row["url"]])
        found = cursor.fetchone()
        old = dict(zip([c[0] for c in cursor.description], found, strict=True)) if found else None
        worse = worse_than_stored(row, old) if old is not None else None
        if worse:
            raise Rejected(*worse)
        self.count_article_page(item)
        self.stored_articles += 1
        self.field_counts.update(f for f in OPTIONAL_FIELDS if getattr(item, f) not in (None, [], ""))
        digest = content_hash(row["title"], row["lead"], row["body"])
        if old is None:
            changed = True
            self._write("INSERT", "articles", {**row, "versions": 1, "last_change_seen": None})
        else:
            row.pop("first_seen_at")
            if row["views"] is None:
                row["views"] = old["views"]  # an empty counter widget never erases a count seen
            versions, last = self.db.execute(
                "SELECT count(*), (SELECT content_hash FROM article_versions WHERE url = ? ORDER BY id DESC LIMIT 1)"
                " FROM article_versions WHERE url = ?",
                [row["url"], row["url"]],
            ).fetchone()
            changed = last != digest
            if changed:  # the row keeps its count of versions, for the edited-articles query
                row["versions"] = versions + 1
                row["last_change_seen"] = captured_at if versions else None
            self._write("UPDATE", "articles", row, key="url")
        if changed:
            version = {"url": row["url"], "run_id": version_run_id, "captured_at": captured_at}
            version |= {"content_hash": digest, "title": row["title"], "lead": row["lead"], "body": row["body"]}
            self._write("INSERT", "article_versions", version)
        if item.views is not None:
            self._view_point(row["url"], item.views, captured_at, "page")
        self.db.execute(  # a page that failed before is resolved now that it is stored
            "UPDATE crawl_errors SET resolved_at = ? WHERE resolved_at IS NULL AND url IN (?, ?)",
            [captured_at, row["url"], item.http.get("url") or row["url"]],
        )
        if item.http.get("url") and (item.http.get("etag") or item.http.get("last_modified")):
            validators = {"url": item.http["url"], "etag": item.http.get("etag")}
            validators |= {"last_modified": item.http.get("last_modified"), "updated_at": captured_at}
            self._write("UPSERT", "http_validators", validators, key="url")

    def _view_point(self, url: str, views: int, captured_at: str, source: str) -> None:
        if not self.view_points:
            return
        point = {"url": url, "run_id": self.run_id, "captured_at": captured_at, "views": views, "source": source}
        self._write("UPSERT", "article_views", point, key="url, run_id, source")

    def _snapshot(self, table: str, item: Any, captured_at: str, columns: tuple[str, ...]) -> None:
        adapter = ItemAdapter(item)
        row = {"run_id": self.run_id, "captured_at": captured_at, **{c: adapter.get(c) for c in columns}}
        self._write("UPSERT", table, row, key=f"run_id, {columns[0]}")

    def _write(self, verb: str, table: str, row: dict[str, Any], key: str | None = None) -> None:
        """One parameterised write; the SQL is built from our own table and column names, once."""
        self.db.execute(_sql(verb, table, tuple(row), key), list(row.values()) + _key_values(verb, row, key))

    def record_error(
        self, url: str, stage: str, reason: str, http_status: int | None, captured_at: str | None = None
    ) -> None:
        """A failure the run met, with its URL and reason, in ``crawl_errors``."""
        self.db["crawl_errors"].insert(
            {
                "run_id": self.run_id,
                "url": url,
                "stage": stage,
                "reason": reason,
                "http_status": http_status,
                "captured_at": captured_at or now_kz(),
            }
        )

    def record_reject(self, item: Any, exception: BaseException, fallback_url: str | None = None) -> None:
        """An item that broke the contract, kept in ``rejects`` with the field, reason and raw item."""
        adapter = ItemAdapter(item)
        if isinstance(item, Article):
            self.count_article_page(item)
        field = exception.field if isinstance(exception, Rejected) else None
        reason = exception.reason if isinstance(exception, Rejected) else str(exception)
        raw = asdict(item) if is_dataclass(item) else dict(adapter)
        self.db["rejects"].insert(
            {
                "run_id": self.run_id,
                "url": adapter.get("url") or fallback_url,
                "field": field,
                "reason": reason,
                "captured_at": adapter.get("captured_at") or now_kz(),
                "item": json.dumps(raw, ensure_ascii=False, default=str),
            }
        )
        logger.warning("Rejected %s from %s: %s", type(item).__name__, adapter.get("url"), exception)

    def drift_warning(self, threshold: float) -> str | None:
        """A "layout drift" message when too many article pages needed a fallback layer."""
        if not self.article_pages:
            return None
        share = self.fallback_pages / self.article_pages
        if share <= threshold:
            return None
        return (
            f"layout drift: {self.fallback_pages} of {self.article_pages} article pages ({share:.0%}) needed a"
            f" fallback for {', '.join(CORE_FIELDS)} (threshold {threshold:.0%}); check the selectors"
            " in crawler/pages/"
        )

    def finish(self, status: str, pages: int, drift_threshold: float) -> dict[str, Any]:
        """Close the run row with its status, counts, field coverage and any drift warning."""
        self.commit()
        coverage = {
            f: round(self.field_counts[f] / self.stored_articles, 3) if self.stored_articles else None
            for f in OPTIONAL_FIELDS
        }
        warning = self.drift_warning(drift_threshold)
        if warning:
            logger.warning(warning)
        return finish_run(
            self.db,
            self.run_id,
            status=status,
            finished_at=now_kz(),
            pages=pages,
            items_stored=self.stored,
            article_pages=self.article_pages,
            fallback_pages=self.fallback_pages,
            field_coverage=json.dumps(coverage, sort_keys=True),
            warning=warning,
        )


def store_item(store: Store, item: Any, *, version_run_id: int | None = None, url: str | None = None) -> bool:
    """Normalise, validate and store one raw item, as a crawl's three pipelines do in turn.

    For the callers outside Scrapy (``reparse``, distributed mode's store process), so an item
    takes one path to the database however it arrived. A reject is recorded; returns False.
    """
    item = normalize_item(item)
    try:
        check_item(item)
        store.store(item, version_run_id=version_run_id)
    except Rejected as exc:
        store.record_reject(item, exc, url)
        return False
    return True


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


def _key_values(verb: str, row: dict[str, Any], key: str | None) -> list[Any]:
    return [row[key]] if verb == "UPDATE" and key else []


class StorePipeline:
    """Scrapy glue for ``Store``: takes the writer lock, opens the run, closes it on ``spider_closed``.

    The close reason is only known at ``spider_closed``: ``finished`` is ``ok`` unless a
    start page failed, ``shutdown`` (SIGTERM/SIGINT) is ``interrupted``, anything else ``failed``.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.db_path = crawler.settings.get("INFORMBURO_DB")
        self.drift_threshold = crawler.settings.getfloat("INFORMBURO_DRIFT_THRESHOLD")
        self.lock: WriterLock | None = None
        self.store: Store | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(pipeline.spider_error, signal=signals.spider_error)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        settings = self.crawler.settings
        self.lock = WriterLock(self.db_path, settings.getfloat("INFORMBURO_LOCK_TIMEOUT")).acquire()
        db = None
        try:
            db = open_database(self.db_path)
            orphans = close_orphan_runs(db, "interrupted", now_kz())
            if orphans:
                logger.warning("Marked %s run(s) left running by a killed writer as interrupted", orphans)
            parts = ",".join(sorted(getattr(self.crawler.spider, "parts", ()))) or None
            run_id = start_run(db, now_kz(), job=settings.get("INFORMBURO_JOB"), parts=parts)
        except BaseException:  # unwritable or full: leave nothing held for whoever records the failure
            if db is not None:
                db.close()
            self._release()
            raise
        self.store = Store(db, run_id, batch_size=settings.getint("INFORMBURO_STORE_BATCH"))
        self.crawler.stats.set_value(STAT_RUN_ID, run_id)
        logger.info("Run %s storing into %s", run_id, self.db_path)

    def process_item(self, item: Any) -> Any:
        assert self.store is not None
        try:
            self.store.store(item)
        except sqlite3.Error as exc:  # disk full, read-only file: the pass cannot go on
            self._fail_store(exc)
            raise DropItem(f"not stored: {exc}") from exc
        return item

    def _fail_store(self, exc: sqlite3.Error) -> None:
        if self.crawler.stats.get_value(STAT_STORE_FAILED):
            return
        self.crawler.stats.set_value(STAT_STORE_FAILED, f"database write failed: {exc}")
        logger.error("Database write failed (%s): stopping the run", exc)
        deferred_from_coro(self.crawler.engine.close_spider_async(reason="store_failed"))

    def item_dropped(self, item: Any, response: Any, exception: BaseException) -> None:
        if self.store is None or self.crawler.stats.get_value(STAT_STORE_FAILED):
            return
        try:
            self.store.record_reject(item, exception, response.url if response is not None else None)
        except sqlite3.Error as exc:
            self._fail_store(exc)

    def spider_error(self, failure: Failure, response: Any) -> None:
        if self.store is None:
            return
        reason = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        self.store.record_error(response.url, "parse", reason, response.status)
        if response.meta.get("start_page"):  # the pass itself cannot complete
            self.crawler.stats.set_value(STAT_START_FAILED, f"{response.url}: {reason}")

    def spider_closed(self, reason: str) -> None:
        if self.store is None:
            return
        stats = self.crawler.stats
        broken = stats.get_value(STAT_START_FAILED) or stats.get_value(STAT_STORE_FAILED)
        if reason == "shutdown":
            status = "interrupted"
        elif reason == "finished" and not broken:
            status = "ok"
        else:
            status = "failed"
        stats.set_value(STAT_STATUS, status)
        try:
            row = self.store.finish(status, stats.get_value("response_received_count", 0), self.drift_threshold)
        except sqlite3.Error as exc:  # the run row stays `running`; the next run closes it as interrupted
            logger.error("Could not close run %s in the database: %s", self.store.run_id, exc)
            stats.set_value(STAT_STORE_FAILED, stats.get_value(STAT_STORE_FAILED) or f"database write failed: {exc}")
            stats.set_value(STAT_STATUS, "failed")
            self._release()
            return
        stats.set_value("informburo/fallback_pages", self.store.fallback_pages)
        for name, share in json.loads(row["field_coverage"]).items():
            stats.set_value(f"informburo/field_coverage/{name}", share)
        logger.info("Run %s ended %s: %s", self.store.run_id, status, row)
        self._release()

    def _release(self) -> None:
        if self.store is not None:
            self.store.db.close()
            self.store = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None
