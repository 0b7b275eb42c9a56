"""Running one collection pass: the one function that the CLI, cron and the daemon share.

The job takes the writer lock first, plans the run from the database (one open), then
runs Scrapy with that plan; the store pipeline opens the database once more to write,
taking the same (re-entrant) lock. So a run that waited for another writer plans from
what that writer stored, never from what was there before it waited.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import BaseSettings, Settings
from twisted.python.failure import Failure

from core.clock import now_kz
from core.config import ConfigError, check_base_url, load_alerts, parse_monitors
from core.names import STAT_RUN_ID, STAT_START_FAILED, STAT_STATUS, STAT_STORE_FAILED, parse_parts
from core.plan import RunPlan
from crawler.fields import parse_datetime
from crawler.spiders.informburo import InformburoSpider
from jobs.plan import plan_run
from monitoring.incidents import deliver, judge_run_id
from pipelines.store import monitor_thresholds
from storage.db import writer
from storage.ledger import finish_run, record_error, start_run
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
    """The project's settings with this run's database, site and ``-s`` overrides on top.

    ``ConfigError`` for a value Scrapy could not read (``check_settings``), before anything runs.
    """
    values: dict[str, Any] = {"INFORMBURO_DB": db, "INFORMBURO_BASE_URL": base_url}
    if max_pages is not None:
        values["INFORMBURO_MAX_PAGES"] = max_pages
    values.update(overrides or {})
    check_settings(values)
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.setdict(values, priority="cmdline")
    return settings


@cache
def _defaults() -> Settings:
    """Scrapy's defaults under the project's (crawler/settings.py): what each override is checked against."""
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    return settings


def check_settings(values: Mapping[str, Any]) -> None:
    """Each setting (``-s``, a config's ``[settings]``) must read as its default's type; ``ConfigError`` if not.

    Scrapy reads ``DOWNLOAD_DELAY=abc`` only once the crawl runs, so without this a typo
    is a failed run, a database and a lock file made for nothing. A setting without a
    typed default (a string, None, an unknown name) is passed through as Scrapy would.
    """
    defaults = _defaults()
    for name, value in values.items():
        problem = _setting_problem(name, value, defaults.get(name))
        if problem:
            raise ConfigError(f"setting {name}: {value!r} {problem}")
    if "INFORMBURO_BASE_URL" in values:
        check_base_url(str(values["INFORMBURO_BASE_URL"]))
    if values.get("INFORMBURO_MONITORS"):  # read as the store will, so a bad threshold fails now
        parse_monitors(BaseSettings({"M": values["INFORMBURO_MONITORS"]}).getdict("M"))
    if values.get("INFORMBURO_CONFIG"):  # the file whose [alerts] the run will deliver to
        load_alerts(str(values["INFORMBURO_CONFIG"]))


def _setting_problem(name: str, value: Any, default: Any) -> str | None:
    """Why Scrapy could not read ``value`` the way ``default`` is typed, or None."""
    scratch = BaseSettings({name: value})
    if isinstance(default, bool):
        try:
            scratch.getbool(name)
        except (TypeError, ValueError):
            return "is not a boolean (True/False, true/false or 1/0)"
    elif isinstance(default, int | float):
        try:
            number = None if isinstance(value, bool) else scratch.getfloat(name)
        except (TypeError, ValueError):
            number = None
        if number is None or math.isnan(number):
            return "is not a number"
        if name == "INFORMBURO_MAX_PAGES" and (number < 1 or number != int(number)):
            return "is not a whole number of at least 1"
    elif isinstance(default, BaseSettings | dict):
        try:
            scratch.getdict(name)
        except (TypeError, ValueError) as exc:
            return f"is not a JSON object ({exc})"
    elif isinstance(default, list | tuple) and default and all(isinstance(v, int) for v in default):
        try:
            [int(v) for v in scratch.getlist(name)]
        except (TypeError, ValueError):
            return "is not a comma-separated list of whole numbers"
    elif name == "LOG_LEVEL" and not (isinstance(value, int) or str(value) in logging.getLevelNamesMapping()):
        return f"is not a log level ({', '.join(logging.getLevelNamesMapping())})"
    return None


def check_run(
    settings: Settings, only: str | None = None, *, max_pages: int | None = None, until: str | None = None
) -> set[str]:
    """A run's options, checked before the writer lock is taken: a bad one touches no file.

    Returns the parts to collect; ``ConfigError`` (bad usage: exit 2) for a bad option.
    """
    try:
        parts = parse_parts(only)
    except ValueError as exc:
        raise ConfigError(str(exc).replace("only=", "--only", 1)) from None
    check_base_url(settings.get("INFORMBURO_BASE_URL") or "")
    if max_pages is not None and max_pages < 1:
        raise ConfigError(f"pages to walk must be at least 1, not {max_pages}")
    if until:
        try:
            parse_datetime(until)
        except ValueError:
            raise ConfigError(f"--until takes a date (YYYY-MM-DD) or an ISO time, not {until!r}") from None
    return parts


def plan_from_settings(
    settings: Settings,
    parts: set[str],
    *,
    max_pages: int | None = None,
    backfill: bool = False,
    until: str | None = None,
) -> RunPlan:
    """Open the database under the writer lock, plan the run, close it.

    ``max_pages`` defaults to ``INFORMBURO_MAX_PAGES`` (a backfill without it walks as deep
    as ``until`` takes it). With no database yet there is nothing to read: the plan is a
    first run's, and the database is left for the writer to create (on a nearly full disk,
    creating it twice would cost the space the run's own row needs).
    """
    path = settings.get("INFORMBURO_DB")
    if max_pages is None and not backfill:
        max_pages = settings.getint("INFORMBURO_MAX_PAGES")
    base_url = settings.get("INFORMBURO_BASE_URL")
    recheck_days = settings.getfloat("INFORMBURO_RECHECK_DAYS")
    options = {"max_pages": max_pages, "recheck_days": recheck_days, "backfill": backfill, "until": until}
    if not Path(path).exists():
        return plan_run(None, parts, base_url, **options)
    with writer(path, settings.getfloat("INFORMBURO_LOCK_TIMEOUT")) as db:
        return plan_run(db, parts, base_url, **options)


def run_crawl(
    settings: Settings,
    only: str | None = None,
    *,
    max_pages: int | None = None,
    backfill: bool = False,
    until: str | None = None,
    on_crawler: Callable[[Crawler], None] | None = None,
) -> RunOutcome:
    """Run one pass in this process (Scrapy's reactor cannot restart: call once per process).

    Holds the writer lock from planning to the run's last write. ``on_crawler`` may
    connect to the crawler's signals first (the backfill's progress bar). Bad options raise
    ``ConfigError`` before the lock, so they leave no lock file, database or run behind.
    """
    parts = check_run(settings, only, max_pages=max_pages, until=until)
    path = settings.get("INFORMBURO_DB")
    try:
        lock = WriterLock(path, settings.getfloat("INFORMBURO_LOCK_TIMEOUT")).acquire()
    except LockTimeoutError as exc:
        return RunOutcome(run_id=None, status="locked", reason=str(exc), stats={})
    except OSError as exc:  # a read-only or vanished directory: nothing can be recorded there
        reason = str(exc) if exc.filename else (exc.strerror or str(exc))
        return RunOutcome(run_id=None, status="failed", reason=reason, stats={})
    try:
        try:
            plan = plan_from_settings(settings, parts, max_pages=max_pages, backfill=backfill, until=until)
        except Exception as exc:  # unreadable database, bad options: a failed run with the reason
            reason = f"{type(exc).__name__}: {exc}"
            outcome = RunOutcome(
                run_id=record_stillborn_run(settings, reason), status="failed", reason=reason, stats={}
            )
        else:
            outcome = _crawl(settings, plan, on_crawler)
        deliver_alerts(settings)  # still under the lock: the outbox is marked by one writer at a time
        return outcome
    finally:
        lock.release()


def deliver_alerts(settings: Settings) -> None:
    """Send the alerts of incidents that started or recovered (the run's monitors just moved them) to the
    destinations of ``INFORMBURO_CONFIG``'s ``[alerts]`` and ``INFORMBURO_ALERT_URLS``. Never raises:
    a run's outcome does not depend on a chat service being up, and what was not sent stays pending."""
    path = settings.get("INFORMBURO_DB")
    try:
        alerts = load_alerts(settings.get("INFORMBURO_CONFIG"))
    except ConfigError as exc:
        logger.error("alerts not sent: %s", exc)
        return
    if not alerts or not Path(path).exists():
        return
    try:
        with writer(path, settings.getfloat("INFORMBURO_LOCK_TIMEOUT")) as db:
            deliver(db, alerts, settings.get("INFORMBURO_BASE_URL") or "", str(path))
    except Exception as exc:
        logger.error("alerts not sent: %s: %s", type(exc).__name__, exc)


class OneLineErrors(logging.Filter):
    """Log records without their traceback: the exception's one line is kept in the message.

    Scrapy logs some failures it expects (robots.txt unreachable: the site is down) with
    a traceback; in cron mail and in the daemon's log, one line says what happened.
    ``LOG_LEVEL=DEBUG`` keeps every traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            message = record.getMessage()
            if str(exc) not in message:
                message = f"{message}: {type(exc).__name__}: {exc}"
            record.msg, record.args = message, None
            record.exc_info = record.exc_text = None
        return True


def _one_line_errors(crawler: Crawler) -> None:
    """Put ``OneLineErrors`` on the root handler (unless LOG_LEVEL is DEBUG) once the spider opens:
    Scrapy installs that handler anew when the crawl starts."""
    if str(crawler.settings.get("LOG_LEVEL")).upper() in ("DEBUG", str(logging.DEBUG)):
        return

    def install() -> None:
        for handler in logging.root.handlers:
            if not any(isinstance(f, OneLineErrors) for f in handler.filters):
                handler.addFilter(OneLineErrors())

    crawler.signals.connect(install, signal=signals.spider_opened, weak=False)


def run_spider(
    settings: Settings,
    spider_cls: type[Spider],
    on_crawler: Callable[[Crawler], None] | None = None,
    **spider_kwargs: Any,
) -> tuple[Crawler, list[Failure]]:
    """Run one spider to its end in this process, its errors logged in one line: (its crawler, the
    failures of its run). Scrapy's reactor cannot restart: once per process."""
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(spider_cls)
    _one_line_errors(crawler)
    if on_crawler:
        on_crawler(crawler)
    failures: list[Failure] = []
    process.crawl(crawler, **spider_kwargs).addErrback(failures.append)
    process.start()
    return crawler, failures


def _crawl(settings: Settings, plan: RunPlan, on_crawler: Callable[[Crawler], None] | None) -> RunOutcome:
    crawler, failures = run_spider(settings, InformburoSpider, on_crawler, plan=plan)
    try:
        stats = crawler.stats.get_stats()
    except RuntimeError:  # the crawl failed before Scrapy set up its stats
        stats = {}
    status = stats.get(STAT_STATUS) or "failed"
    reason = None
    if failures:
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
    path = settings.get("INFORMBURO_DB")
    try:
        with writer(path, settings.getfloat("INFORMBURO_LOCK_TIMEOUT")) as db:
            now = now_kz()
            run_id = start_run(db, now, job=settings.get("INFORMBURO_JOB"))
            record_error(db, run_id, settings.get("INFORMBURO_BASE_URL"), "start", reason, None, now)
            finish_run(db, run_id, status="failed", finished_at=now)
            judge_run_id(db, run_id, monitor_thresholds(settings.getdict("INFORMBURO_MONITORS")))
            return run_id
    except Exception as exc:  # the database itself is the problem: nothing more to record
        logger.error("could not record the failed run in %s: %s", path, exc)
        return None


def run_worker(settings: Settings) -> int:
    """A worker of distributed mode: crawls seeds from the shared queue until SIGTERM/SIGINT.

    Exit 0 after a clean stop (its unfinished requests are back on the queue), 1 if it crashed.
    """
    _, failures = run_spider(settings, InformburoSpider)
    if failures:
        logger.error("worker stopped: %s: %s", failures[0].type.__name__, failures[0].getErrorMessage())
        return 1
    return 0
