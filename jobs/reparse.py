"""Reparse: rebuild ``articles`` and their versions from the raw-page archive, no network.

When the extractor improves, one ``informburo reparse`` carries the fix to every archived
article. Each archived page is read exactly as a crawl reads it (the spider's page checks,
the page-object version of its fetch date, normalise, validate), and each article's history
is replayed in fetch order: a page is judged against the version that stood just before it
(the crawl's "worse than the stored version" rule), never against the latest row, so a short
first version is not rejected because a later update is long.

Only what the archive can rebuild is rebuilt:

- a version whose page was read and accepted is rebuilt from it, with that page's run and
  fetch time; rebuilt to the same version (its text and every other field it recorded), it
  is left as it is, row and id;
- a version whose page is not in the archive (retention, archive off, distributed mode), that
  is older than ``--since``, or whose page the extractor now rejects is kept as it is;
- the ``articles`` row is rewritten from the latest page only when that page is the article's
  latest sighting; otherwise it keeps what the crawl stored.

With the extractor unchanged nothing changes: every table is left as it was, but for the
reparse run's own ``crawl_runs`` row. (One exception, in a database upgraded from before schema
10, whose store versioned only the text: where the archive shows an author, a date, tags, an image
or the language changing without a new text, the version the old store did not add is added.)
Besides rebuilt versions, a reparse only ever adds the rejects and errors it meets that are not
yet on record for that page (with its own run id).
It never writes ``article_views``, the snapshots, the HTTP validators or existing ledger rows.

With ``workers`` (``informburo reparse --workers N``; the command's default is a worker per core
but one) the pages are read in worker processes while this process, the one writer, loads the
archive and stores: pages go out in fetch order, and their reads come back and are stored in that
same order, so the tables are the ones a one-process reparse leaves (tests/test_reparse_pool.py).
"""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from scrapy.http import Headers, Response, TextResponse
from scrapy.responsetypes import responsetypes
from sqlite_utils import Database

from core.clock import now_kz
from core.names import DEFAULT_LOCK_TIMEOUT
from crawler import workers as workers_module
from crawler.items import Article
from crawler.pages.versions import moment, parser_for
from crawler.spiders.informburo import WIDGET, page_has_widget, read_article
from crawler.spiders.informburo import read_page as read_html_page
from crawler.workers import ExtractionPool, usable_cores
from pipelines.normalize import normalize_item
from pipelines.store import KEPT_FIELDS, OPTIONAL_FIELDS, Store, recorded_lines, worse_than_stored
from pipelines.validate import Rejected, check_item
from storage.archive import Archive, RawPage, archive_path
from storage.db import writer
from storage.ledger import start_run
from storage.schema import content_hash
from storage.writes import (
    article_row,
    article_versions,
    insert_article,
    recorded_errors,
    recorded_rejects,
    replace_versions,
    run_ids,
    stored_article,
    update_article,
    version_changes,
    version_row,
    widget_count,
)

logger = logging.getLogger(__name__)

#: Pages per transaction: a reparse has the database to itself (it holds the writer lock).
REPARSE_BATCH = 500

#: Pages per task sent to a worker: enough to pay for the round trip, few enough to keep every worker busy.
POOL_CHUNK = 8
#: Tasks in flight per worker: the writer never waits for a read a worker could have done already, and memory
#: stays flat whatever the archive's size (workers × POOL_AHEAD × POOL_CHUNK pages at most).
POOL_AHEAD = 4
#: How workers start (crawler/workers.py says why a server process, not a fork of the writer; how often
#: a pool may break before the run fails is its ``MAX_POOL_RESTARTS``): a module value, so tests can change it.
POOL_CONTEXT = workers_module.POOL_CONTEXT


@dataclass
class ReparseOutcome:
    """What a reparse did, for the command's one line and for tests."""

    run_id: int
    pages: int
    stored: int
    rejected: int  # pages not stored: rejected, or unreadable
    unreadable: int = 0  # … of which could not be read at all (not HTML, cut, the extractor raised)
    versions_rebuilt: int = 0  # versions written from an archived page with a new text
    versions_dropped: int = 0  # versions that a rebuilt page showed were no change
    articles_changed: int = 0  # articles whose row or history changed


@dataclass
class Read:
    """One archived page as the reparse read it: an article to replay, or why not."""

    page: RawPage
    seq: int  # its place among its URL's pages, in fetch order
    item: Article | None = None
    row: dict[str, Any] | None = None  # the ``articles`` columns of a valid article
    digest: str | None = None  # its version's content hash
    rejected: Rejected | None = None  # read, but the item broke the contract
    unreadable: str | None = None  # not read at all: the reason
    widget: bool = False  # its counter is loaded by a script: the count is the one its run's widget answered

    @property
    def url(self) -> str:
        """The article's canonical URL, or the fetched one when the page gave none."""
        return (self.item.url if self.item is not None else None) or self.page.url


@dataclass
class History:
    """An article's history as the replay rebuilt it, oldest first."""

    #: Stored rows (with their ``id``) where kept or rebuilt to the same text; new dicts (no ``id``) where rebuilt.
    versions: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[Read] = field(default_factory=list)
    rejected: list[tuple[Read, str | None, str]] = field(default_factory=list)  # (page, field, reason)
    #: The accepted page the history ends on; ``None`` when it ends on a kept version.
    latest: Read | None = None


def as_response(page: RawPage) -> Response:
    """The archived page as the Scrapy response the crawl had (same class choice as the download handler)."""
    headers = Headers(page.headers)
    cls = responsetypes.from_args(headers=headers, url=page.url, body=page.body)
    return cls(url=page.url, status=page.status, headers=headers, body=page.body)


def read_page(page: RawPage, seq: int = 0) -> Read:
    """Read an archived page exactly as the crawl read it; any failure becomes the page's recorded reason."""
    read = Read(page, seq)
    try:
        response = as_response(page)
        parsed = read_html_page(response) if isinstance(response, TextResponse) else None  # once, for both reads
        parse = parser_for("article", page.fetched_at)
        item = read_article(response, page.fetched_at, page.listing_published, parse, page=parsed)
        if isinstance(item, str):
            read.unreadable = item
            return read
        read.widget = item.views is None and parsed is not None and page_has_widget(parsed[0], response.url)
        read.item = normalize_item(item)
        check_item(read.item)
        read.row = article_row(vars(read.item), page.fetched_at)
        read.digest = content_hash(read.row["title"], read.row["lead"], read.row["body"])
    except Rejected as exc:
        read.rejected, read.row = exc, None
    except Exception as exc:  # whatever the extractor raises is this page's reason, not the run's end
        read.item, read.row, read.unreadable = None, None, f"{type(exc).__name__}: {exc}"
    return read


def replay_history(
    url: str,
    reads: list[Read],
    stored: list[dict[str, Any]],
    runs: set[int],
    verdicts: Callable[[Read], Iterable[tuple[str | None, str]]] = lambda read: (),
) -> History:
    """Replay an article's valid pages among its stored versions, in fetch order (pure: no writes).

    A page adds a version when it differs from the version that stands in any versioned column
    (``storage.writes.version_changes``, as the crawl's store decides). It is judged as the crawl
    judged it, against what stood just before it: the previous accepted page's row, or a version
    kept from before, which records every field the rule reads. A version older than schema 10
    recorded only its text: after one, the "lost fields" half of the rule cannot be re-judged,
    so the crawl's own verdict on that page, if it recorded one, stands (``verdicts``).
    """
    events: list[tuple[datetime, int, int, Any]] = [(moment(r.page.fetched_at), 0, r.seq, r) for r in reads]
    events += [(moment(v["captured_at"]), 1, i, v) for i, v in enumerate(stored)]
    events.sort(key=lambda event: event[:3])  # at one moment, the page before the version it made
    history = History()
    previous: dict[str, Any] | None = None  # the version that stands
    standing: dict[str, Any] | None = None  # what the next page is judged against
    known = False  # whether ``standing`` holds every field the rule reads (or only a version's text)
    accepted_at: dict[datetime, int | None] = {}  # moment → index in history.versions of the version made then
    for at, kind, _, event in events:
        if kind == 0:
            read: Read = event
            assert read.row is not None
            verdict = _judge(read, standing, known, verdicts)
            if verdict:
                history.rejected.append((read, *verdict))
                continue
            run_id = read.page.run_id if read.page.run_id in runs else None
            version = version_row(read.row, run_id, read.page.fetched_at)
            # the page seen last stands in for what a version older than schema 10 did not record, as the row does
            sighting = standing if known else None
            history.accepted.append(read)
            history.latest, standing, known = read, read.row, True
            accepted_at[at] = None
            if previous is None or version_changes(version, previous, sighting):
                accepted_at[at] = len(history.versions)
                history.versions.append(version)
                previous = version
        else:
            version = event
            if at in accepted_at:  # its page was read and accepted: rebuilt
                index = accepted_at[at]
                if index is not None and not version_changes(history.versions[index], version):
                    history.versions[index] = version  # rebuilt to the same version: the stored row stands
                elif index is not None and history.versions[index]["run_id"] is None:
                    history.versions[index]["run_id"] = version["run_id"]  # the page names no known run
                continue
            history.versions.append(version)  # not rebuildable: kept as it is
            history.latest, previous = None, version
            if version["published_at"] is not None:  # it recorded every field: judged against in full
                standing, known = version, True
            else:
                standing, known = {"body": version["body"]}, False
    return history


def _judge(
    read: Read,
    standing: dict[str, Any] | None,
    known: bool,
    verdicts: Callable[[Read], Iterable[tuple[str | None, str]]],
) -> tuple[str | None, str] | None:
    """(field, reason) if this page is a worse extraction than what stood before it, else ``None``."""
    assert read.row is not None
    if standing is None:
        return None
    worse = worse_than_stored(read.row, standing)
    if worse or known:
        return worse
    for name, reason in verdicts(read):  # lost optional fields: only the crawl could judge that
        if name in KEPT_FIELDS:
            return name, reason
    return None


class Replay:
    """One reparse run's reading, judging and writing, one archived URL at a time."""

    def __init__(self, db: Database, store: Store) -> None:
        self.db = db
        self.store = store
        self.runs = run_ids(db)
        #: What is on record, by URL: (field or stage, reason, captured_at, run_id), so nothing is recorded twice.
        self.rejects: dict[str | None, list[tuple[Any, ...]]] = defaultdict(list)
        for url, name, reason, captured_at, run_id in recorded_rejects(db):
            self.rejects[url].append((name, reason, captured_at, run_id))
        self.errors: dict[str | None, list[tuple[Any, ...]]] = defaultdict(list)
        for url, stage, reason, captured_at, run_id in recorded_errors(db):
            self.errors[url].append((stage, reason, captured_at, run_id))
        self.outcome = ReparseOutcome(run_id=store.run_id, pages=0, stored=0, rejected=0)

    def url(self, url: str, load: Callable[[], list[RawPage]]) -> int:
        """Replay the archived pages of one fetched URL; how many pages were read."""
        pages = self.load(load)
        if isinstance(pages, str):
            self.unloadable(url, pages)
            return 0
        return self.replay([read_page(page, seq) for seq, page in enumerate(pages)])

    @staticmethod
    def load(load: Callable[[], list[RawPage]]) -> list[RawPage] | str:
        """One URL's archived pages, or why they could not be loaded (recorded when the URL's turn comes)."""
        try:
            return load()
        except Exception as exc:  # an unreadable archive row: nothing of this URL is rebuilt, nothing lost
            return f"archive unreadable: {type(exc).__name__}: {exc}"

    def unloadable(self, url: str, reason: str) -> None:
        """A URL whose archived pages could not be loaded."""
        self._problem(url, reason)

    def replay(self, reads: list[Read]) -> int:
        """Store one fetched URL's reads, in fetch order; how many pages were read."""
        articles: dict[str, list[Read]] = {}
        for read in reads:
            if read.row is not None:
                articles.setdefault(read.row["url"], []).append(read)
        for article_url, article_reads in articles.items():
            self._article(article_url, article_reads)
        failed = [read for read in reads if read.row is None]
        if failed:
            with self.store.batch.item():
                for read in failed:
                    self._failed(read)
            self.store.batch.commit_if_due()
        self.outcome.pages += len(reads)
        return len(reads)

    def _problem(self, url: str, reason: str) -> None:
        """A failure of the reparse itself about ``url``, in ``crawl_errors`` (once), in a savepoint of its own."""
        if any(entry[:2] == ("parse", reason) for entry in self.errors.get(url, ())):
            return  # a reparse met it before, and nothing has changed since: it is on record
        with self.store.batch.item():
            self._error(url, None, reason, None, None)
        self.store.batch.commit_if_due()

    def _article(self, url: str, reads: list[Read]) -> None:
        """Rebuild one article from its pages; a failure is recorded and leaves the article as it was."""
        try:
            with self.store.batch.item():
                self._rebuild(url, reads)
        except sqlite3.IntegrityError as exc:  # this article's data, not the database: record it, go on
            self.outcome.rejected += len(reads)
            self._problem(url, f"reparse could not rebuild it: {type(exc).__name__}: {exc}")
        except sqlite3.Error:  # disk full, read-only: the run cannot go on
            raise
        except Exception as exc:
            self.outcome.rejected += len(reads)
            self._problem(url, f"reparse could not rebuild it: {type(exc).__name__}: {exc}")
        self.store.batch.commit_if_due()

    def _rebuild(self, url: str, reads: list[Read]) -> None:
        """Replay the article, write what differs (its row, its history from the first change on), then count."""
        stored = article_versions(self.db, url)
        history = replay_history(url, reads, stored, self.runs, self._verdicts)
        article = stored_article(self.db, url)
        versions = [
            v if "id" in v or v["run_id"] is not None else {**v, "run_id": self.store.run_id} for v in history.versions
        ]
        same = 0  # the stored rows that stay where they are
        while same < min(len(versions), len(stored)) and versions[same].get("id") == stored[same]["id"]:
            same += 1
        history_changed = same < len(versions) or same < len(stored)
        row = self._row(article, history, versions, history_changed) if history.accepted else {}
        changes = {name: value for name, value in row.items() if article is None or article.get(name) != value}
        if article is None and changes:
            insert_article(self.db, row)  # before its versions, which refer to it
        elif changes:
            update_article(self.db, {"url": url, **changes})
        if history_changed:
            rows = [{name: value for name, value in v.items() if name != "id"} for v in versions[same:]]
            replace_versions(self.db, [v["id"] for v in stored[same:]], rows)
        for read, name, reason in history.rejected:
            self._reject(read, Rejected(name, reason))
        for read in history.accepted:
            self._count(read)
        kept = {v["id"] for v in versions if "id" in v}
        self.outcome.versions_rebuilt += sum(1 for v in versions if "id" not in v)
        self.outcome.versions_dropped += sum(1 for v in stored if v["id"] not in kept)
        self.outcome.articles_changed += int(history_changed or bool(changes))

    def _row(
        self, article: dict[str, Any] | None, history: History, versions: list[dict[str, Any]], changed: bool
    ) -> dict[str, Any]:
        """The ``articles`` columns to write: the latest page's, if it is the latest sighting; the history's counts."""
        if not history.accepted:
            return {}
        latest = history.latest
        if article is None:
            latest = latest or history.accepted[-1]  # no row to protect: the latest accepted page makes it
        elif latest is not None and moment(latest.page.fetched_at) < moment(article["last_seen_at"]):
            latest = None  # a later sighting is not in the archive (or not readable now): the row stays
        row: dict[str, Any] = {}
        if latest is not None:
            assert latest.row is not None
            row = dict(latest.row)
            loaded = widget_count(self.db, latest.url, latest.page.run_id) if latest.widget else None
            if row["views"] is None and loaded is not None:  # what the page's widget answered in its run
                row["views"] = loaded
                row["sources"] = json.dumps({**json.loads(row["sources"]), "views": WIDGET}, sort_keys=True)
            if row["views"] is None:  # an empty counter never erases a count seen
                seen = [r.row["views"] for r in history.accepted if r.row and r.row["views"] is not None]
                row["views"] = article["views"] if article is not None else (seen[-1] if seen else None)
            row.pop("first_seen_at")
        first = history.accepted[0].page.fetched_at
        if article is None or moment(first) < moment(article["first_seen_at"]):
            row["first_seen_at"] = first
        if changed or article is None:
            row["versions"] = len(versions)
            row["last_change_seen"] = versions[-1]["captured_at"] if len(versions) > 1 else None
        return row

    def _verdicts(self, read: Read) -> list[tuple[str | None, str]]:
        """(field, reason) of the rejects the crawl recorded for this very page."""
        return [(entry[0], entry[1]) for entry in self._on_record(self.rejects, read)]

    def _on_record(self, record: dict[str | None, list[tuple[Any, ...]]], read: Read) -> list[tuple[Any, ...]]:
        """Entries of ``record`` about this page: its URL, and its fetch time or the run that fetched it."""
        page = read.page
        return [
            entry
            for url in {read.url, page.url}
            for entry in record.get(url, ())
            if entry[2] == page.fetched_at or (page.run_id is not None and entry[3] == page.run_id)
        ]

    def _count(self, read: Read) -> None:
        """An accepted page, counted as the store counts one, with its unreadable fields recorded once."""
        item = read.item
        assert item is not None
        store = self.store
        store.count_article_page(item)
        store.stored += 1
        store.stored_articles += 1
        store.field_counts.update(f for f in OPTIONAL_FIELDS if getattr(item, f) not in (None, [], ""))
        self.outcome.stored += 1
        for stage, name, reason in recorded_lines(item):
            self._error(read.url, read, f"{name}: {reason}", None, read.page.fetched_at, stage)

    def _failed(self, read: Read) -> None:
        """A page that gave no valid article: its reject, or why it could not be read, recorded once."""
        if read.rejected is not None:
            self._reject(read, read.rejected)
        else:
            self.outcome.unreadable += 1
            self.outcome.rejected += 1
            self._error(read.page.url, read, read.unreadable or "unreadable", read.page.status, read.page.fetched_at)

    def _reject(self, read: Read, exc: Rejected) -> None:
        """A page not stored: recorded in ``rejects`` unless this very reject is on record for it."""
        self.outcome.rejected += 1
        item = read.item
        assert item is not None
        on_record = any(entry[:2] == (exc.field, exc.reason) for entry in self._on_record(self.rejects, read))
        if on_record:
            self.store.count_article_page(item)
            return
        self.store.record_reject(item, exc, read.page.url)
        self.rejects[read.url].append((exc.field, exc.reason, read.page.fetched_at, self.store.run_id))

    def _error(
        self,
        url: str,
        read: Read | None,
        reason: str,
        status: int | None,
        captured_at: str | None,
        stage: str = "parse",
    ) -> None:
        """A problem met: recorded in ``crawl_errors`` unless it is on record for this page already."""
        if read is not None and any(entry[:2] == (stage, reason) for entry in self._on_record(self.errors, read)):
            return
        at = captured_at or now_kz()
        self.store.record_error(url, stage, reason, status, at)
        self.errors[url].append((stage, reason, at, self.store.run_id))


def reparse(
    db_path: str | Path,
    since: str | None = None,
    *,
    archive: str | Path | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 0,
) -> ReparseOutcome:
    """Re-extract archived article pages fetched at or after ``since`` (ISO 8601) into the database.

    Each page is read by the page-object version of its fetch date (crawler/pages/versions.py);
    each article's history is replayed in fetch order (see the module's docstring). ``workers`` > 0
    reads the pages in that many worker processes (``default_workers()``: one per core);
    0, the default here, reads them in this process (what a test that patches the extractor needs).
    """
    with writer(db_path, lock_timeout) as db:
        pages = Archive(archive or archive_path(db_path))
        try:
            total = pages.count(since)
            run_id = start_run(db, now_kz(), job="reparse", parts="reparse")
            # the views history is what was seen, not re-derived: no view points
            store = Store(db, run_id, view_points=False, batch_size=REPARSE_BATCH)
            replay = Replay(db, store)
            done = 0
            try:
                if workers > 0:
                    with _term_as_interrupt():
                        _pooled(replay, pages, since, workers, lambda done: progress and progress(done, total))
                else:
                    for url in pages.urls_since(since):
                        done += replay.url(url, lambda url=url: pages.pages_of(url, since))
                        if progress:
                            progress(done, total)
            except BaseException as exc:
                _close(store, "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed", replay.outcome.pages)
                raise
            store.finish("ok", pages=replay.outcome.pages, drift_threshold=1.0)
            return replay.outcome
        finally:
            pages.close()


def default_workers() -> int:
    """Worker processes for a reparse: one per core, the writer's included (it spends most of its time
    waiting for reads: one page's store is a fifth of its reading); none on a one-core machine."""
    cores = usable_cores()
    return cores if cores > 1 else 0


# --- reading in worker processes ---

#: A read as it comes back from a worker: (item, row, digest, (field, reason) rejected, unreadable, widget).
#: Plain values only: the page's bytes stay in the writer, and ``Rejected`` does not survive pickling.
Plain = tuple[Article | None, dict[str, Any] | None, str | None, tuple[str | None, str] | None, str | None, bool]


def read_pages(pages: list[tuple[RawPage, int]]) -> list[Plain]:
    """A worker's task: ``read_page`` for each (page, seq), the result as plain values."""
    plain: list[Plain] = []
    for page, seq in pages:
        read = read_page(page, seq)
        rejected = (read.rejected.field, read.rejected.reason) if read.rejected is not None else None
        plain.append((read.item, read.row, read.digest, rejected, read.unreadable, read.widget))
    return plain


def _as_read(page: RawPage, seq: int, plain: Plain) -> Read:
    item, row, digest, rejected, unreadable, widget = plain
    return Read(page, seq, item, row, digest, Rejected(*rejected) if rejected else None, unreadable, widget)


class Readers:
    """Pages sent to worker processes in tasks; a pool that breaks is replaced (``ExtractionPool``, as a
    crawl's) and the pages of the broken task are read again one by one."""

    def __init__(self, workers: int) -> None:
        self.pool = ExtractionPool(workers, preload=[__name__], context=POOL_CONTEXT)

    def submit(self, pages: list[tuple[RawPage, int]]) -> tuple[ProcessPoolExecutor, Future[list[Plain]]]:
        """Send pages to be read; the pool they went to comes back with the future."""
        executor = self.pool.start()
        try:
            return executor, executor.submit(read_pages, pages)
        except BrokenProcessPool:  # it broke since the last task came back
            self.pool.replace_broken(executor)
            executor = self.pool.start()
            return executor, executor.submit(read_pages, pages)

    def reads(
        self, pages: list[tuple[RawPage, int]], sent: tuple[ProcessPoolExecutor, Future[list[Plain]]]
    ) -> list[Read]:
        """The reads of pages sent together, in their order; if their task failed, each page is read alone."""
        executor, future = sent
        try:
            plain = future.result()
        except BrokenProcessPool:  # a worker died with some task: which page killed it is not known
            self.pool.replace_broken(executor)
            return [self._alone(page, seq) for page, seq in pages]
        except Exception:  # the task itself failed (a result that would not pickle): find the page
            return [self._alone(page, seq) for page, seq in pages]
        return [_as_read(page, seq, p) for (page, seq), p in zip(pages, plain, strict=True)]

    def _alone(self, page: RawPage, seq: int) -> Read:
        """One page read in a task of its own: a failure now is this page's, recorded as its reason."""
        executor, future = self.submit([(page, seq)])
        try:
            return _as_read(page, seq, future.result()[0])
        except BrokenProcessPool as exc:
            self.pool.replace_broken(executor)
            reason = f"the extraction worker died reading it: {type(exc).__name__}"
        except Exception as exc:
            reason = f"the extraction worker failed: {type(exc).__name__}: {exc}"
        return Read(page, seq, unreadable=reason)

    def close(self, *, wait: bool) -> None:
        """Stop the pool: after a finished run, let it wind down; on any other path, end its workers now."""
        self.pool.close(wait=wait)


#: One entry of a task: a URL and its pages, or why they could not be loaded.
Loaded = tuple[str, list[RawPage] | str]


def _pooled(replay: Replay, archive: Archive, since: str | None, workers: int, progress: Callable[[int], Any]) -> None:
    """Replay every URL with its pages read by ``workers`` processes, stored in fetch order by this one.

    URLs are loaded in the order the one-process path takes them and grouped into tasks of about
    ``POOL_CHUNK`` pages; at most ``workers × POOL_AHEAD`` tasks are out, and their reads are taken
    back oldest first, so every write happens in the order, and with the values, of ``workers=0``.
    """
    readers = Readers(workers)
    finished = False
    try:
        urls = iter(archive.urls_since(since))
        window: deque[tuple[list[Loaded], list[tuple[RawPage, int]], Any]] = deque()

        def fill() -> None:
            while len(window) < workers * POOL_AHEAD:
                chunk = list(_chunk(urls, lambda url: replay.load(lambda: archive.pages_of(url, since))))
                if not chunk:
                    return
                pages = [(page, seq) for _, got in chunk if not isinstance(got, str) for seq, page in enumerate(got)]
                window.append((chunk, pages, readers.submit(pages) if pages else None))

        done = 0
        fill()
        while window:
            chunk, pages, sent = window.popleft()
            reads = readers.reads(pages, sent) if sent is not None else []
            fill()  # the workers read on while this process stores
            for url, got in chunk:
                if isinstance(got, str):
                    replay.unloadable(url, got)
                    continue
                done += replay.replay(reads[: len(got)])
                reads = reads[len(got) :]
                progress(done)
        finished = True
    finally:
        readers.close(wait=finished)


def _chunk(urls: Iterator[str], load: Callable[[str], list[RawPage] | str]) -> Iterator[Loaded]:
    """The next URLs with their pages, until about ``POOL_CHUNK`` pages (a URL's pages are never split)."""
    count = 0
    for url in urls:
        got = load(url)
        yield url, got
        count += 0 if isinstance(got, str) else len(got)
        if count >= POOL_CHUNK:
            return


@contextmanager
def _term_as_interrupt() -> Iterator[None]:
    """SIGTERM ends a pooled reparse as Ctrl-C does: the run closed ``interrupted``, the workers stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _close(store: Store, status: str, pages: int) -> None:
    """Close a run that could not finish, keeping the articles it completed; a database that refuses stays as is."""
    try:
        store.finish(status, pages=pages, drift_threshold=1.0)
    except sqlite3.Error as exc:
        logger.error("Could not close reparse run %s: %s", store.run_id, exc)
