"""Planning a run: what the database says a pass should start from, read once under the lock."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlite_utils import Database

from core.clock import KZ_TZ
from core.plan import RunPlan, Walk
from crawler.fields import parse_datetime
from storage.db import (
    http_validators,
    known_article_urls,
    last_walk_completed,
    recent_article_urls,
    unresolved_failures,
)

#: Article pages that failed (fetch or parse) in the last this-many days are retried by each run.
RETRY_FAILED_DAYS = 7
#: How deep a backfill ``--until DATE`` may walk: as deep as it takes.
UNBOUNDED_PAGES = 100_000


def plan_run(
    db: Database | None,
    parts: set[str] | list[str],
    base_url: str,
    *,
    max_pages: int | None,
    recheck_days: float,
    backfill: bool = False,
    until: str | None = None,
) -> RunPlan:
    """The plan of one pass, from a database opened under the writer lock (``None``: none yet).

    A single-machine crawl hands it to its spider (jobs/crawl.py); ``informburo seed``
    queues it for the workers of distributed mode (jobs/seed.py). A backfill walks its
    whole depth (``max_pages``, or as deep as it takes back to ``until``) and never stops
    early at a listing page of stored articles.
    """
    if backfill and not max_pages:  # --until: as deep as it takes
        max_pages = UNBOUNDED_PAGES
    if max_pages < 1:
        raise ValueError("max_pages must be at least 1")
    parts = set(parts)
    # After an interrupted or failed walk, go the whole depth: what it missed may lie past stored pages.
    may_stop_early = not backfill and (db is None or last_walk_completed(db))
    walk = Walk(max_pages, may_stop_early, parse_datetime(until) if until else None)
    plan = RunPlan(parts=sorted(parts), base_url=base_url.rstrip("/"), walk=walk)
    if db is None:
        return plan
    now = datetime.now(KZ_TZ)
    plan.known_urls = known_article_urls(db)
    plan.validators = http_validators(db)
    if "articles" in parts:  # pages that failed in recent runs and are still not stored: try them again
        since = now - timedelta(days=RETRY_FAILED_DAYS)
        plan.retry = unresolved_failures(db, since.isoformat(timespec="seconds"))
    if "recheck" in parts:
        since = now - timedelta(days=recheck_days)
        plan.recheck = recent_article_urls(db, since.isoformat(timespec="seconds"))
    return plan
