"""Running one collection pass: the one function that the CLI, cron and the daemon share."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings
from twisted.python.failure import Failure

from crawler.spiders.informburo import InformburoSpider
from pipelines.store import STAT_RUN_ID, STAT_START_FAILED, STAT_STATUS

logger = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    """How a pass ended: the ``crawl_runs`` id and status, and a one-line reason when not ok."""

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


def run_crawl(settings: Settings, only: str | None = None) -> RunOutcome:
    """Run one pass in this process (Scrapy's reactor cannot restart: call once per process)."""
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(InformburoSpider)
    failures: list[Failure] = []
    deferred = process.crawl(crawler, only=only)
    deferred.addErrback(failures.append)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    status = stats.get(STAT_STATUS) or "failed"
    reason = None
    if failures:
        reason = f"{failures[0].type.__name__}: {failures[0].getErrorMessage()}"
    elif status == "failed":
        reason = stats.get(STAT_START_FAILED) or f"crawl ended {stats.get('finish_reason', 'unexpectedly')}"
    elif status == "interrupted":
        reason = "stopped by a signal before the pass completed"
    return RunOutcome(run_id=stats.get(STAT_RUN_ID), status=status, reason=reason, stats=stats)
