"""Store: the last pipeline. Decides what each item writes, and owns the run's ``crawl_runs`` row.

``Store`` is the policy (upsert by URL, a version on any changed field, a worse re-crawl
rejected, counts and field coverage), free of Scrapy, so distributed mode's store process
stores through exactly the same code as a crawl (and ``informburo reparse`` judges pages
with the same ``worse_than_stored``); the SQL and the batch transaction are
``storage.writes``'s, the run's row ``storage.ledger``'s. ``StorePipeline`` is its Scrapy glue.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections import Counter
from dataclasses import asdict, is_dataclass
from typing import Any, Literal

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.utils.defer import deferred_from_coro
from sqlite_utils import Database
from twisted.python.failure import Failure

from core.clock import now_kz
from core.config import ConfigError, Monitors, parse_monitors
from core.names import STAT_RUN_ID, STAT_START_FAILED, STAT_STATUS, STAT_STORE_FAILED
from crawler.fields import shared_words
from crawler.items import Article, MostReadEntry, PageError, RateQuote, Unchanged
from crawler.pages.article import CORE_FIELDS, needed_fallback
from monitoring.incidents import judge_run
from monitoring.monitors import Verdict
from pipelines.normalize import normalize_item
from pipelines.validate import Rejected, check_item
from storage import ledger
from storage.db import writer
from storage.writes import (
    Batch,
    add_version,
    article_row,
    drop_validators,
    insert_article,
    latest_version,
    resolve_errors,
    save_snapshot,
    save_validators,
    save_view_point,
    stored_article,
    update_article,
    version_changes,
    version_row,
)

logger = logging.getLogger(__name__)

#: Items per transaction of a crawl's store (or one second, whichever comes first).
STORE_BATCH = 100
#: Article fields that may be absent; their share among stored articles is the run's field coverage.
OPTIONAL_FIELDS = ("lead", "author", "modified_at", "tags", "image_url", "views")


#: A re-crawled body shorter than this share of the stored one is a broken page, not an edit.
WORSE_BODY_SHARE = 0.5
#: Under an unchanged title, a body sharing less than this share of words with the stored one is not an edit.
SHARED_WORDS = 0.15
#: … judged only when both bodies are at least this long (a two-line item may be rewritten whole).
SHARED_MIN_BODY = 200
#: The parts of the site a drift warning names.
DRIFT_PARTS = {
    "most_read": "most-read sidebar",
    "rates": "currency rates",
    "listing": "listing",
    "feed": "RSS feed",
    "views": "view counters",
}
#: Optional fields whose loss, two or more at once, marks a worse extraction.
KEPT_FIELDS = ("lead", "author", "image_url", "tags", "modified_at")


def worse_than_stored(new: dict[str, Any], old: dict[str, Any]) -> tuple[str, str] | None:
    """(field, reason) when a re-crawled article is a worse extraction than the stored row: a body
    cut by more than half, two optional fields lost at once, or a body sharing almost no words with
    the stored one under the same title (a notice or another page's text, not an edit)."""
    if len(new["body"]) < WORSE_BODY_SHARE * len(old["body"]):
        return (
            "body",
            f"worse than the stored version: body of {len(new['body'])} characters, {len(old['body'])} stored",
        )
    same_title = new["title"] == old["title"]
    if same_title and min(len(new["body"]), len(old["body"])) >= SHARED_MIN_BODY:
        shared = shared_words(new["body"], old["body"])
        if shared < SHARED_WORDS:
            return (
                "body",
                f"shares {shared:.0%} of its words with the stored body under the same title:"
                " another text, not an edit of the story",
            )
    lost = [f for f in KEPT_FIELDS if old.get(f) not in (None, "", "[]") and new.get(f) in (None, "", "[]")]
    if len(lost) >= 2:
        return lost[0], f"worse than the stored version: lost {', '.join(lost)}"
    return None


def recorded_lines(item: Any) -> list[tuple[str, str, str]]:
    """(stage, field, reason) of what a stored item carries to ``crawl_errors``: each field it could
    not read (stage ``parse``) and each doubt about a field it read all the same (stage ``layers``:
    the page's layers disagreed, and which one was taken)."""
    adapter = ItemAdapter(item)
    lines = [("parse", name, reason) for name, reason in (adapter.get("problems") or {}).items()]
    if "notes" in adapter:
        lines += [("layers", name, reason) for name, reason in (adapter.get("notes") or {}).items()]
    return lines


class Store:
    """Idempotent writes for one run: articles upserted by canonical URL, snapshots keyed by run.

    Items are written in batches: one transaction per ``batch_size`` items or
    ``batch_seconds`` seconds, each item in a savepoint of its own (a rejected item undoes
    only itself); ``storage.writes.Batch`` holds the transaction. A run killed mid-batch
    loses at most that batch, which the next run fetches again, since it was never stored.
    """

    def __init__(
        self,
        db: Database,
        run_id: int,
        *,
        view_points: bool = True,
        batch_size: int = STORE_BATCH,
        batch_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.run_id = run_id
        self.view_points = view_points  # reparse rebuilds text, not the views history
        self.batch = Batch(db, batch_size, batch_seconds)
        self.stored = 0
        self.article_pages = 0  # article pages read this run, stored or rejected
        self.fallback_pages = 0  # … of which a core field came from a fallback layer
        self.stored_articles = 0
        self.field_counts: Counter[str] = Counter()  # stored articles having each optional field
        self.drifted: dict[str, str] = {}  # part of the site → what shows its layout drifted
        self.verdicts: list[Verdict] = []  # the run's monitors' verdicts, once it is finished

    def store(self, item: Any, version_run_id: int | None = None) -> None:
        """Write one validated item (or record a ``PageError``).

        ``version_run_id`` credits a new article version to another run (reparse credits
        the run that fetched the page).
        """
        adapter = ItemAdapter(item)
        captured_at = adapter.get("captured_at") or now_kz()
        with self.batch.item():  # a reject undoes only this item's writes
            if isinstance(item, PageError):
                self.record_error(item.url, item.stage, item.reason, item.http_status, captured_at)
                if item.drift:
                    self.drifted.setdefault(item.drift, item.reason)
            elif isinstance(item, Article):
                self._store_article(item, captured_at, version_run_id or self.run_id)
            elif isinstance(item, MostReadEntry):
                columns = ("rank", "emoji", "title", "url", "views", "comments", "reactions")
                self._snapshot("most_read", item, captured_at, columns)
                if item.url and item.views is not None:
                    self._view_point(item.url, item.views, captured_at, "most_read")
            elif isinstance(item, RateQuote):
                self._snapshot("rates", item, captured_at, ("currency", "buy", "sell"))
            elif isinstance(item, Unchanged):
                resolve_errors(self.db, item.url, item.url, captured_at)
            else:
                raise TypeError(f"unknown item class {type(item).__name__}")
            if not isinstance(item, (PageError, Unchanged)):
                for stage, name, reason in recorded_lines(item):
                    self.record_error(adapter.get("url") or "", stage, f"{name}: {reason}", None, captured_at)
        if not isinstance(item, (PageError, Unchanged)):
            self.stored += 1
        self.batch.commit_if_due()

    def commit(self) -> None:
        """End the current batch."""
        self.batch.commit()

    def count_article_page(self, item: Article) -> None:
        self.article_pages += 1
        if needed_fallback(item.sources):
            self.fallback_pages += 1

    def _store_article(self, item: Article, captured_at: str, version_run_id: int) -> None:
        """Upsert the article; a change of any versioned field (text, author, dates, tags, image, language)
        adds a version, so no value once stored is lost; views add a point.

        A re-crawl that is a worse extraction than the stored row (a broken page) raises
        ``Rejected`` and changes nothing: a good stored row is never replaced by a worse one.
        """
        row = article_row(vars(item), captured_at)  # the dataclass's own fields, not a deep copy
        old = stored_article(self.db, row["url"])
        worse = worse_than_stored(row, old) if old is not None else None
        if worse:
            raise Rejected(*worse)
        self.count_article_page(item)
        self.stored_articles += 1
        self.field_counts.update(f for f in OPTIONAL_FIELDS if getattr(item, f) not in (None, [], ""))
        version = version_row(row, version_run_id, captured_at)
        if old is None:
            changed = True
            insert_article(self.db, {**row, "versions": 1, "last_change_seen": None})
        else:
            row.pop("first_seen_at")
            if row["views"] is None:
                row["views"] = old["views"]  # an empty counter widget never erases a count seen
            versions, latest = latest_version(self.db, row["url"])
            # the old row is what the article was last seen with, for a latest version older than schema 10
            changed = latest is None or bool(version_changes(version, latest, old))
            if changed:  # the row keeps its count of versions, for the edited-articles query
                row["versions"] = versions + 1
                row["last_change_seen"] = captured_at if versions else None
            update_article(self.db, row)
        if changed:
            add_version(self.db, version)
        if item.views is not None:
            self._view_point(row["url"], item.views, captured_at, "page")
        # a page that failed before is resolved now that it is stored
        resolve_errors(self.db, row["url"], item.http.get("url") or row["url"], captured_at)
        if item.http.get("url") and (item.http.get("etag") or item.http.get("last_modified")):
            validators = {"url": item.http["url"], "etag": item.http.get("etag")}
            validators |= {"last_modified": item.http.get("last_modified"), "updated_at": captured_at}
            save_validators(self.db, validators)
        elif item.http.get("url"):  # none sent, or a page whose counter a script loads: always fetched in full
            drop_validators(self.db, item.http["url"])

    def _view_point(self, url: str, views: int, captured_at: str, source: str) -> None:
        if not self.view_points:
            return
        save_view_point(
            self.db, {"url": url, "run_id": self.run_id, "captured_at": captured_at, "views": views, "source": source}
        )

    def _snapshot(
        self, table: Literal["most_read", "rates"], item: Any, captured_at: str, columns: tuple[str, ...]
    ) -> None:
        adapter = ItemAdapter(item)
        save_snapshot(
            self.db, table, {"run_id": self.run_id, "captured_at": captured_at, **{c: adapter.get(c) for c in columns}}
        )

    def record_error(
        self, url: str, stage: str, reason: str, http_status: int | None, captured_at: str | None = None
    ) -> None:
        """A failure the run met, with its URL and reason, in ``crawl_errors``."""
        ledger.record_error(self.db, self.run_id, url, stage, reason, http_status, captured_at)

    def record_reject(self, item: Any, exception: BaseException, fallback_url: str | None = None) -> None:
        """An item that broke the contract, kept in ``rejects`` with the field, reason and raw item."""
        adapter = ItemAdapter(item)
        if isinstance(item, Article):
            self.count_article_page(item)
        field = exception.field if isinstance(exception, Rejected) else None
        reason = exception.reason if isinstance(exception, Rejected) else str(exception)
        raw = asdict(item) if is_dataclass(item) else dict(adapter)
        ledger.record_reject(
            self.db,
            self.run_id,
            adapter.get("url") or fallback_url,
            field,
            reason,
            adapter.get("captured_at") or now_kz(),
            json.dumps(raw, ensure_ascii=False, default=str),
        )
        logger.warning("Rejected %s from %s: %s", type(item).__name__, adapter.get("url"), exception)

    def drift_warning(self, threshold: float) -> str | None:
        """A "layout drift" message naming each part that drifted: too many article pages needing a
        fallback layer, a widget missing or found only by its shape, no next listing page, no feed,
        no view count on any stored article."""
        drifted = dict(self.drifted)
        if self.stored_articles and not self.field_counts["views"]:  # a counter moved to a script, say
            drifted["views"] = f"none of the {self.stored_articles} stored article pages had a view count"
        parts = [f"{DRIFT_PARTS.get(part, part)}: {reason}" for part, reason in sorted(drifted.items())]
        share = self.fallback_pages / self.article_pages if self.article_pages else 0.0
        if share > threshold:
            parts.insert(
                0,
                f"articles: {self.fallback_pages} of {self.article_pages} article pages ({share:.0%}) needed a"
                f" fallback for {', '.join(CORE_FIELDS)} (threshold {threshold:.0%})",
            )
        if not parts:
            return None
        return f"layout drift: {'; '.join(parts)}; check the selectors in crawler/pages/"

    def finish(
        self,
        status: str,
        pages: int,
        drift_threshold: float,
        *,
        finish_reason: str | None = None,
        monitors: Monitors | None = None,
    ) -> dict[str, Any]:
        """Close the run row with its status, counts, field coverage and any drift warning, then judge it
        by ``monitors``' thresholds (``finish_reason`` is Scrapy's, when known).

        Every collecting run closes here (a crawl, a daemon's child, distributed mode's store) with its
        thresholds, so every one is judged; the monitors run after the row is written and never raise
        (monitoring/incidents.py). ``monitors`` None leaves the run unjudged: a reparse rebuilds from
        the archive and collects nothing a monitor could speak of.
        """
        row = self._close(status, pages, drift_threshold)
        if monitors is not None:
            self.verdicts = judge_run(self.db, row, monitors, finish_reason)
        return row

    def _close(self, status: str, pages: int, drift_threshold: float) -> dict[str, Any]:
        self.commit()
        coverage = {
            f: round(self.field_counts[f] / self.stored_articles, 3) if self.stored_articles else None
            for f in OPTIONAL_FIELDS
        }
        warning = self.drift_warning(drift_threshold)
        if warning:
            logger.warning(warning)
        return ledger.finish_run(
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


def monitor_thresholds(table: dict[str, Any] | None) -> Monitors:
    """The ``INFORMBURO_MONITORS`` setting (the config's ``[monitors]``) as thresholds; the defaults, with an
    error logged, for a table the crawl's own check would have refused (set by hand in a spider's settings)."""
    try:
        return parse_monitors(table or None)
    except ConfigError as exc:
        logger.error("INFORMBURO_MONITORS: %s; judging runs by the default thresholds", exc)
        return Monitors()


def store_item(store: Store, item: Any, *, version_run_id: int | None = None, url: str | None = None) -> bool:
    """Normalise, validate and store one raw item, as a crawl's three pipelines do in turn.

    For the callers outside Scrapy (``reparse``, distributed mode's store process), so an item
    takes one path to the database however it arrived. A reject is recorded; returns False.
    """
    try:
        item = normalize_item(item)
        check_item(item)
        store.store(item, version_run_id=version_run_id)
    except Exception as exc:
        reject = item_fault(exc)
        if reject is None:  # the database itself failed: the caller's pass cannot go on
            raise
        keep_reject(store, item, reject, url)
        return False
    return True


#: sqlite3 errors that belong to one item's values (a binding, a constraint), not to the database.
ITEM_DB_ERRORS = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError, sqlite3.ProgrammingError)


def item_fault(exc: Exception) -> Rejected | None:
    """The reject an exception met while handling one item amounts to, so that any exception, not
    only ``Rejected``, ends in ``rejects``; ``None`` when the database itself failed (disk full,
    read-only, closed), which stops the pass instead."""
    if isinstance(exc, Rejected):
        return exc
    if isinstance(exc, sqlite3.Error) and (not isinstance(exc, ITEM_DB_ERRORS) or "closed" in str(exc)):
        return None
    return Rejected(None, f"not stored: {type(exc).__name__}: {exc}")


def keep_reject(store: Store, item: Any, exception: BaseException, url: str | None) -> None:
    """Record a reject; an item too odd to keep whole still leaves its URL and reason in ``crawl_errors``."""
    try:
        store.record_reject(item, exception, url)
    except sqlite3.Error:
        raise
    except Exception as exc:
        item_url = getattr(item, "url", None)
        reason = f"rejected ({exception}); the item itself could not be kept: {type(exc).__name__}: {exc}"
        store.record_error(url or (item_url if isinstance(item_url, str) else "") or "", "parse", reason, None)


def page_of(response: Any) -> tuple[str, int | None, dict[str, Any]]:
    """(URL, HTTP status, request meta) of what a signal names: a response, or the ``Failure`` an errback got."""
    if isinstance(response, Failure):
        request = getattr(response, "request", None)
        answer = getattr(response.value, "response", None)
        return getattr(request, "url", ""), getattr(answer, "status", None), getattr(request, "meta", {})
    if response is None:
        return "", None, {}
    try:
        meta = response.meta
    except AttributeError:  # a response tied to no request
        meta = {}
    return response.url, response.status, meta


class StorePipeline:
    """Scrapy glue for ``Store``: takes the writer lock, opens the run, closes it on ``spider_closed``.

    The close reason is only known at ``spider_closed``: ``finished`` is ``ok`` unless a
    start page failed, ``shutdown`` (SIGTERM/SIGINT) is ``interrupted``, anything else ``failed``.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.db_path = crawler.settings.get("INFORMBURO_DB")
        self.drift_threshold = crawler.settings.getfloat("INFORMBURO_DRIFT_THRESHOLD")
        self.monitors = monitor_thresholds(crawler.settings.getdict("INFORMBURO_MONITORS"))
        self.held: contextlib.ExitStack | None = None  # the writer lock and the open database, for the run
        self.store: Store | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(pipeline.item_error, signal=signals.item_error)
        crawler.signals.connect(pipeline.spider_error, signal=signals.spider_error)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        settings = self.crawler.settings
        held = contextlib.ExitStack()
        try:
            db = held.enter_context(writer(self.db_path, settings.getfloat("INFORMBURO_LOCK_TIMEOUT")))
            orphans = ledger.close_orphan_runs(db, "interrupted", now_kz())
            if orphans:
                logger.warning("Marked %s run(s) left running by a killed writer as interrupted", orphans)
            parts = ",".join(sorted(getattr(self.crawler.spider, "parts", ()))) or None
            run_id = ledger.start_run(db, now_kz(), job=settings.get("INFORMBURO_JOB"), parts=parts)
        except BaseException:  # unwritable or full: leave nothing held for whoever records the failure
            held.close()
            raise
        self.held = held
        self.store = Store(db, run_id, batch_size=STORE_BATCH)
        self.crawler.stats.set_value(STAT_RUN_ID, run_id)
        logger.info("Run %s storing into %s", run_id, self.db_path)

    def process_item(self, item: Any) -> Any:
        """Store one item. An exception of the item (a value SQLite cannot bind, a bug) is a
        ``Rejected`` that ``item_dropped`` records; one of the database stops the pass."""
        assert self.store is not None
        try:
            self.store.store(item)
        except Exception as exc:
            reject = item_fault(exc)
            if reject is exc:
                raise
            if reject is not None:
                raise reject from exc
            assert isinstance(exc, sqlite3.Error)
            self._fail_store(exc)  # disk full, read-only file: the pass cannot go on
            raise DropItem(f"not stored: {exc}") from exc
        return item

    def _fail_store(self, exc: sqlite3.Error) -> None:
        if self.crawler.stats.get_value(STAT_STORE_FAILED):
            return
        self.crawler.stats.set_value(STAT_STORE_FAILED, f"database write failed: {exc}")
        logger.error("Database write failed (%s): stopping the run", exc)
        deferred_from_coro(self.crawler.engine.close_spider_async(reason="store_failed"))

    def item_dropped(self, item: Any, response: Any, exception: BaseException) -> None:
        """A dropped item (a reject of any pipeline) is kept in ``rejects`` with its reason."""
        if self.store is None or self.crawler.stats.get_value(STAT_STORE_FAILED):
            return
        try:
            keep_reject(self.store, item, exception, page_of(response)[0] or None)
        except sqlite3.Error as exc:
            self._fail_store(exc)

    def item_error(self, item: Any, response: Any, failure: Failure) -> None:
        """Scrapy only logs an exception a pipeline let escape ("Error processing"): kept as a reject too."""
        exc = failure.value
        self.item_dropped(item, response, Rejected(None, f"not stored: {type(exc).__name__}: {exc}"))

    def spider_error(self, failure: Failure, response: Any) -> None:
        """A callback's (or errback's) exception: recorded against its page, which the next runs retry."""
        if self.store is None:
            return
        url, status, meta = page_of(response)
        reason = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        try:
            self.store.record_error(url, "parse", reason, status)
        except sqlite3.Error as exc:
            self._fail_store(exc)
        if meta.get("start_page"):  # the pass itself cannot complete
            self.crawler.stats.set_value(STAT_START_FAILED, f"{url}: {reason}")

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
            pages = stats.get_value("response_received_count", 0)
            row = self.store.finish(status, pages, self.drift_threshold, finish_reason=reason, monitors=self.monitors)
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
        """Close the database, then let go of the writer lock."""
        self.store = None
        held, self.held = self.held, None
        if held is not None:
            held.close()
