"""Running one collection pass: the one function that the CLI, cron and the daemon share."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings
from twisted.python.failure import Failure

from crawler.spiders.informburo import InformburoSpider
from pipelines.store import STAT_RUN_ID, STAT_START_FAILED, STAT_STATUS, STAT_STORE_FAILED
from storage.lock import LockTimeoutError, WriterLock

logger = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    """How a pass ended: the ``crawl_runs`` id and status, and a one-line reason when not ok.

    ``status`` is a ``crawl_runs`` status, or ``locked`` when another writer held the
    database for longer than ``INFORMBURO_LOCK_TIMEOUT`` and no run was started.
    """

    run_id: int | None
    status: str
    reason: str | None
    stats: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def crawl_settings(
    db: str, base_url: str, max_pages: int | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """The project's settings with this run's database, site and ``-s`` overrides on top."""
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    values: dict[str, Any] = {"INFORMBURO_DB": db, "INFORMBURO_BASE_URL": base_url}
    if max_pages is not None:
        values["INFORMBURO_MAX_PAGES"] = max_pages
    values.update(overrides or {})
    settings.setdict(values, priority="cmdline")
    return settings


def run_crawl(
    settings: Settings, only: str | None = None, on_crawler: Callable[[Crawler], None] | None = None
) -> RunOutcome:
    """Run one pass in this process (Scrapy's reactor cannot restart: call once per process).

    ``on_crawler`` may connect to the crawler's signals first (the backfill's progress bar).
    """
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(InformburoSpider)
    if on_crawler:
        on_crawler(crawler)
    failures: list[Failure] = []
    deferred = process.crawl(crawler, only=only)
    deferred.addErrback(failures.append)
    process.start()
    try:
        stats = crawler.stats.get_stats()
    except RuntimeError:  # the crawl failed before Scrapy set up its stats
        stats = {}
    status = stats.get(STAT_STATUS) or "failed"
    reason = None
    if failures and failures[0].check(LockTimeoutError):
        status, reason = "locked", failures[0].getErrorMessage()
    elif failures:
        reason = f"{failures[0].type.__name__}: {failures[0].getErrorMessage()}"
    elif status == "failed":
        reason = (
            stats.get(STAT_STORE_FAILED)
            or stats.get(STAT_START_FAILED)
            or f"crawl ended {stats.get('finish_reason', 'unexpectedly')}"
        )
    elif status == "interrupted":
        reason = "stopped by a signal before the pass completed"
    run_id = stats.get(STAT_RUN_ID)
    if run_id is None and status == "failed":
        run_id = record_stillborn_run(settings, reason or "the crawl could not start")
    return RunOutcome(run_id=run_id, status=status, reason=reason, stats=stats)


def record_stillborn_run(settings: Settings, reason: str) -> int | None:
    """A pass that failed before it could open its run still gets a ``failed`` row, with the reason."""
    from crawler.fields import now_kz
    from storage.db import finish_run, open_database, start_run

    path = settings.get("INFORMBURO_DB")
    try:
        with WriterLock(path, settings.getfloat("INFORMBURO_LOCK_TIMEOUT")):
            db = open_database(path)
            try:
                now = now_kz()
                run_id = start_run(db, now, job=settings.get("INFORMBURO_JOB"))
                db["crawl_errors"].insert(
                    {"run_id": run_id, "url": settings.get("INFORMBURO_BASE_URL"), "stage": "start",
                     "reason": reason, "http_status": None, "captured_at": now}
                )  # fmt: skip
                finish_run(db, run_id, status="failed", finished_at=now)
                return run_id
            finally:
                db.close()
    except Exception as exc:  # the database itself is the problem: nothing more to record
        logger.error("could not record the failed run in %s: %s", path, exc)
        return None


def run_worker(settings: Settings) -> int:
    """A worker of distributed mode: crawls seeds from the shared queue until SIGTERM/SIGINT.

    Exit 0 after a clean stop (its unfinished requests are back on the queue), 1 if it crashed.
    """
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(InformburoSpider)
    failures: list[Failure] = []
    process.crawl(crawler).addErrback(failures.append)
    process.start()
    if failures:
        logger.error("worker stopped: %s: %s", failures[0].type.__name__, failures[0].getErrorMessage())
        return 1
    return 0
