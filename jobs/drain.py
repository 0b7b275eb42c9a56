"""The store process of distributed mode: drains the workers' items from Redis into SQLite.

Each item takes the single-machine path (``store_item``: normalise → validate → ``Store``),
so a field's rule and a row's write live in one place whichever mode collected it.

Delivery is at least once, writes are idempotent: a batch is moved from ``<prefix>:items``
to ``<prefix>:storing`` in one Lua step, written in one transaction, and only then
deleted from ``storing``. A store killed in between replays the batch when it starts
again; articles are upserted by URL, snapshots by run and rank or currency, versions only
on a changed text, and an error row already recorded is not recorded twice.

The books are kept as the rows are: each batch writes the running totals of the runs it
touched (pages, items, article pages) into their ``crawl_runs`` rows in its own transaction,
so ``informburo status`` shows an open run's progress and a new store goes on counting
where the last one stopped. A message of a run whose row is closed is not stored: the
run's books are final once it closed, and such a message repeats what it delivered.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from core.alerts import AlertsConfig
from core.clock import now_kz
from core.config import Monitors
from crawler.distributed import REDIS_DOWN, Keys, item_from_envelope
from crawler.items import PageError
from monitoring.incidents import deliver
from pipelines.store import Store, store_item
from pipelines.validate import Rejected
from storage.db import open_database
from storage.ledger import error_recorded, run_of_seed, run_status, run_totals, start_run, update_run_totals
from storage.lock import LockTimeoutError, WriterLock

logger = logging.getLogger(__name__)

#: KEYS: items, storing. ARGV: how many. Moves the oldest messages to ``storing``; returns them.
_TAKE = """
local batch = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #batch == 0 then return batch end
redis.call('RPUSH', KEYS[2], unpack(batch))
redis.call('LTRIM', KEYS[1], #batch, -1)
return batch
"""


@dataclass
class OpenRun:
    """A distributed run the store has seen start and not yet finish."""

    store: Store
    pages: int = 0
    broken: str | None = None  # why a start page failed: the run ends failed
    errors: set[tuple[Any, ...]] = field(default_factory=set)


class Drain:
    """Moves batches of worker messages into the database until stopped."""

    def __init__(
        self,
        db_path: str | Path,
        server: redis.Redis,
        keys: Keys,
        *,
        lock_timeout: float = 120,
        batch_size: int = 500,
        drift_threshold: float = 0.5,
        monitors: Monitors | None = None,
        alerts: AlertsConfig | None = None,
        site: str = "",
    ) -> None:
        self.db_path = str(db_path)
        self.server = server
        self.keys = keys
        self.lock_timeout = lock_timeout
        self.batch_size = batch_size
        self.drift_threshold = drift_threshold
        self.monitors = monitors or Monitors()  # the per-run monitors' thresholds ([monitors])
        self.alerts = alerts or AlertsConfig()  # where their incidents' alerts go ([alerts])
        self.site = site
        self.alerts_due = False  # a run finished in this batch: its monitors may have moved an incident
        self.runs: dict[str, OpenRun] = {}
        self.touched: set[str] = set()  # open runs this batch wrote to: their running totals are due
        self.late: set[str] = set()  # runs Redis and the database never saw start: not kept open
        self.closed: dict[str, int] = {}  # runs whose messages were not stored (closed): how many, per batch
        self.reload = False  # a batch was rolled back: the open runs' counters are read again from their rows
        self.owed: list[str] | None = None  # a committed batch not yet dropped from Redis
        self.db: Any = None
        self.stored = 0
        self._take = server.register_script(_TAKE)
        self.redis_down_since: float | None = None

    def serve(self, stop: threading.Event, poll: float = 0.5) -> None:
        """Drain until ``stop`` is set; Redis or database trouble is logged and retried with backoff."""
        backoff = 1.0
        logger.info("Storing items from %s into %s", self.keys.items, self.db_path)
        while not stop.is_set():
            try:
                handled = self.step()
            except REDIS_DOWN as exc:
                if self.redis_down_since is None:
                    self.redis_down_since = time.monotonic()
                    logger.error("Redis unavailable (%s): retrying with backoff; nothing is lost", exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            except (sqlite3.Error, LockTimeoutError) as exc:  # the batch stays in Redis for the next try
                logger.error("Could not write to %s (%s): keeping the batch in Redis, retrying", self.db_path, exc)
                self._close_db()
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if self.redis_down_since is not None:
                logger.warning("Redis is back after %.0f s; storing again", time.monotonic() - self.redis_down_since)
                self.redis_down_since = None
            backoff = 1.0
            if not handled:
                stop.wait(poll)
        self._close_db()

    def step(self) -> int:
        """Store one batch (first any batch a killed store left in ``storing``); how many messages."""
        self.beat()
        if self.owed is not None:
            self._settle()
        batch = self.server.lrange(self.keys.storing, 0, -1) or self._take(
            keys=[self.keys.items, self.keys.storing], args=[self.batch_size]
        )
        if not batch:
            return 0
        urls: list[str] = []
        with WriterLock(self.db_path, self.lock_timeout):
            db = self._open_db()
            if self.reload:
                self._reload_runs()
            try:
                for raw in batch:
                    urls.extend(self.handle(raw))
                self._write_totals()
                db.conn.commit()
            except BaseException:
                if db.conn.in_transaction:
                    db.conn.rollback()
                self.touched.clear()
                self.closed.clear()
                self.late.clear()
                self.reload = True
                raise  # the batch stays in `storing` and is replayed: its writes are idempotent
            if self.alerts_due:  # after the commit, still under the lock: one writer marks the outbox
                self.alerts_due = False
                deliver(db, self.alerts, self.site, self.db_path)
        for run in self.late:
            self.runs.pop(run, None)
        self.late.clear()
        for run, count in self.closed.items():
            logger.warning("%s message(s) of run %s, which has closed, not stored: it has its books", count, run)
        self.closed.clear()
        self.stored += len(batch)
        self.owed = urls
        self._settle()
        return len(batch)

    def _settle(self) -> None:
        """After a batch is committed: drop it from ``storing`` and tell the workers its URLs are
        stored. Owed until Redis takes it, so a Redis outage here causes no replay."""
        self.server.delete(self.keys.storing)
        if self.owed:  # the workers' known-URL test: stored articles are not fetched again
            self.server.sadd(self.keys.known, *self.owed)
        self.owed = None

    def handle(self, raw: bytes | str) -> list[str]:
        """Write one message; the article URLs it stored."""
        try:
            message = json.loads(raw)
            kind, run = message["kind"], message["run"]
        except (ValueError, KeyError, TypeError) as exc:
            logger.error("Unreadable message on %s (%s): %r", self.keys.items, exc, raw[:200])
            return []
        if kind == "run_started":
            self._open_run(run, message)
        elif kind == "run_finished":
            self._finish(run, message.get("reason"))
        elif kind in ("done", "item"):
            state = self._run(run)
            if state is None:
                self.closed[run] = self.closed.get(run, 0) + 1
            elif kind == "done":
                state.pages += 1
                self.touched.add(run)
            else:
                self.touched.add(run)
                return self._item(state, message)
        else:
            logger.error("Unknown message kind %r on %s", kind, self.keys.items)
        return []

    def _item(self, state: OpenRun, message: dict[str, Any]) -> list[str]:
        try:
            item = item_from_envelope(message)
        except Exception as exc:  # a worker of another version, a garbled message: kept as a reject, not lost
            state.store.record_reject(message, Rejected(None, f"unreadable item: {exc}"))
            return []
        if isinstance(item, PageError):
            if message.get("start_page"):
                state.broken = state.broken or f"{item.url}: {item.reason}"
            key = (item.url, item.stage, item.reason, item.captured_at)
            if key in state.errors or error_recorded(self.db, state.store.run_id, *key):
                return []  # a replayed batch: recorded already
            state.errors.add(key)
        stored = store_item(state.store, item, url=message["item"].get("url"))
        url = getattr(item, "url", None)
        return [url] if stored and message["type"] == "Article" and url else []

    def _open_run(self, run: str, info: dict[str, Any]) -> OpenRun | None:
        """The run's state, its ``crawl_runs`` row made when new; None when the row is closed."""
        if run in self.runs:
            return self.runs[run]
        run_id = run_of_seed(self.db, run)
        if run_id is None:
            parts = ",".join(info.get("parts") or []) or None
            run_id = start_run(self.db, info.get("at") or now_kz(), job=info.get("job"), parts=parts, seed=run)
            logger.info("Run %s (seed %s) started: %s", run_id, run, parts)
        elif run_status(self.db, run_id) != "running":
            return None
        store = Store(self.db, run_id, batch_size=10**9, batch_seconds=float("inf"))  # we commit per batch
        state = OpenRun(store)
        totals = run_totals(self.db, run_id)  # where an earlier store process left the count
        state.pages = totals["pages"]
        store.stored, store.article_pages = totals["items_stored"], totals["article_pages"]
        store.fallback_pages = totals["fallback_pages"]
        self.runs[run] = state
        return state

    def _run(self, run: str) -> OpenRun | None:
        """The open run of a message (one whose ``run_started`` an earlier store process stored), or
        None when its row is closed."""
        if run in self.runs:
            return self.runs[run]
        info = None
        if run_of_seed(self.db, run) is None:
            info = self.server.hget(self.keys.runs, run)
            if info is None:  # neither Redis nor the database saw it start: stored, not kept open
                logger.warning("Message for run %s, which never started here: stored under a run of its own", run)
                self.late.add(run)
        return self._open_run(run, json.loads(info) if info else {})

    def _reload_runs(self) -> None:
        """After a rolled-back batch: each open run as its row has it (the batch is replayed in full)."""
        runs, self.runs = self.runs, {}
        for run, state in runs.items():
            if run_of_seed(self.db, run) == state.store.run_id:  # not the row of a rolled-back run_started
                fresh = self._open_run(run, {})
                if fresh is not None:
                    fresh.broken = state.broken
        self.reload = False

    def _write_totals(self) -> None:
        """The running totals of the runs this batch wrote to, in its transaction."""
        for run in self.touched:
            state = self.runs.get(run)
            if state is not None:
                store = state.store
                counts = {"pages": state.pages, "items_stored": store.stored, "article_pages": store.article_pages}
                update_run_totals(self.db, store.run_id, fallback_pages=store.fallback_pages, **counts)
        self.touched.clear()

    def _finish(self, run: str, reason: str | None = None) -> None:
        """Close a run whose last lease closed, judge it with its monitors (``reason``: the workers send none,
        and a run all of whose requests were answered finished as Scrapy's ``finished`` would)."""
        state = self._run(run)
        if state is None:  # a replayed batch: closed already
            return
        status = "failed" if state.broken else "ok"
        row = state.store.finish(
            status, state.pages, self.drift_threshold, finish_reason=reason or "finished", monitors=self.monitors
        )
        self.alerts_due = True
        if state.broken:
            logger.error("Run %s failed: %s", state.store.run_id, state.broken)
        logger.info("Run %s (seed %s) ended %s: %s", state.store.run_id, run, status, row)
        del self.runs[run]
        self.touched.discard(run)

    def beat(self) -> None:
        state = {"host": socket.gethostname(), "pid": os.getpid(), "db": self.db_path, "seen": now_kz()}
        state |= {"messages_stored": self.stored, "open_runs": len(self.runs)}
        self.server.set(self.keys.store, json.dumps(state), ex=30)

    def _open_db(self) -> Any:
        if self.db is None:
            self.db = open_database(self.db_path)
        return self.db

    def _close_db(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
