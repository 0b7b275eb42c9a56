"""Seeding distributed mode: plan a run as a single-machine crawl would, then queue it for the workers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from scrapy.settings import Settings

from core.config import ConfigError
from core.plan import RunPlan
from crawler.distributed import connect, keys_of, push_seed
from jobs.crawl import check_run, plan_from_settings


def seed_run(
    settings: Settings,
    only: str | None = None,
    *,
    max_pages: int | None = None,
    backfill: bool = False,
    until: str | None = None,
    sitemaps: bool = False,
) -> tuple[str | None, RunPlan]:
    """Plan under the writer lock (the store process may be writing), then push the seed.

    ``sitemaps``: a shared backfill that walks the sitemaps (``informburo backfill --sitemaps``)
    instead of the listing, back to ``until`` or to their end.
    Returns the run key (None when the job's previous run is still open) and the plan.
    ``ConfigError`` (a ``ValueError``) for bad options, before any file is touched; Redis
    errors (``crawler.distributed.REDIS_DOWN``) propagate.
    """
    if sitemaps and max_pages is not None:
        raise ConfigError("--sitemaps walks the sitemaps back to --until (or to their end), not --pages")
    parts = check_run(settings, only, max_pages=max_pages, until=until)
    backfill = backfill or sitemaps
    plan = plan_from_settings(settings, parts, max_pages=max_pages, backfill=backfill, until=until)
    if sitemaps:
        plan.walk = replace(plan.walk, sitemaps=True)
    server = connect(settings.get("INFORMBURO_REDIS_URL"))
    return push_seed(server, keys_of(settings), plan, settings.get("INFORMBURO_JOB")), plan


def describe_seed(seed: dict[str, Any]) -> str:
    """A seed (``RunPlan.seed()``) in words, for ``informburo seed``'s one line: what it collects, where,
    and how far it walks."""
    text = f"{', '.join(seed['parts'])} of {seed['base_url']}"
    if "articles" in seed["parts"]:
        text += f"; {describe_walk(seed['walk'])}"
    retry, recheck = len(seed.get("retry") or []), len(seed.get("recheck") or [])
    if retry:
        text += f"; {retry} failed page{_plural(retry)} to retry"
    if recheck:
        text += f"; {recheck} stored page{_plural(recheck)} to recheck"
    return text


def describe_walk(walk: dict[str, Any]) -> str:
    """``Walk`` (as a seed carries it) in words: the sitemaps or the listing, how deep, whether it stops early."""
    until = (walk.get("until") or "")[:10]
    if walk.get("sitemaps"):
        return f"walks the sitemaps back to {until}" if until else "walks the sitemaps to their end"
    pages = walk["max_pages"]
    depth = f"back to {until}" if until else f"up to {pages} page{_plural(pages)}"
    early = ", stopping at a page of stored articles" if walk.get("may_stop_early") else ""
    return f"walks the listing {depth}{early}"


def _plural(count: int) -> str:
    return "" if count == 1 else "s"
