"""A backfill: a first import that walks older listing pages, or the site's sitemaps, resumable,
with a progress bar."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.settings import Settings
from tqdm import tqdm

from core.config import ConfigError
from crawler.spiders.informburo import STAT_SITEMAP_ARTICLES, STAT_SITEMAPS
from jobs.crawl import RunOutcome, run_crawl

logger = logging.getLogger(__name__)

#: Our note in the job directory: whether the backfill that kept it stopped cleanly.
STATE_FILE = "informburo-backfill.json"


def backfill(
    settings: Settings, *, pages: int | None, until: str | None, jobdir: Path, sitemaps: bool = False
) -> RunOutcome:
    """Walk ``pages`` listing pages, or back to ``until``, never stopping early at stored pages;
    with ``sitemaps``, walk robots.txt's sitemaps instead, newest first, back to ``until`` or to
    the end, fetching every article page they list that is not stored yet.

    Scrapy keeps the pending requests in ``jobdir``: an interrupted backfill resumes when run
    again, and a completed one removes it so the next starts afresh. A job directory left by a
    backfill that was killed (SIGKILL, power loss) holds no usable queue, only the record of what
    it requested: it is cleared and the walk starts again, fetching only what is not stored yet.
    The bar is silent when not on a terminal.
    """
    if sitemaps and pages is not None:
        raise ConfigError("--sitemaps walks the sitemaps back to --until (or to their end), not --pages")
    walk = "sitemaps" if sitemaps else "listing"
    kept = read_state(jobdir).get("walk")
    if kept and kept != walk:  # its queue holds the other walk's requests: mixed, neither would be right
        option = "with" if kept == "sitemaps" else "without"
        raise ConfigError(f"{jobdir} keeps a backfill of the {kept}: resume it {option} --sitemaps, or remove it")
    if sitemaps:
        bar = tqdm(total=0, unit="article", desc="backfill (sitemaps)", disable=None)
    else:
        bar = tqdm(total=pages, unit="listing page", desc="backfill", disable=None)

    def prepare(crawler: Crawler) -> None:
        """Under the writer lock, before Scrapy opens the job directory: the directory is ours now."""
        forget_unclean(jobdir)
        write_state(jobdir, "running", walk)

        def seen(response: Any, request: Any) -> None:
            callback = getattr(request.callback, "__name__", "") if request.callback is not None else ""
            stats = crawler.stats
            stored = stats.get_value("item_scraped_count", 0)
            if sitemaps:  # the total grows as the sitemaps are read
                bar.total = max(bar.n, stats.get_value(STAT_SITEMAP_ARTICLES, 0))
                bar.update(1 if callback == "parse_article" else 0)
                bar.set_postfix(sitemaps=stats.get_value(STAT_SITEMAPS, 0), articles=stored, refresh=False)
                return
            if callback == "parse_listing":
                bar.update(1)
            bar.set_postfix(articles=stored, refresh=False)

        def closed() -> None:  # Scrapy has written its queue by now: the directory can be resumed
            write_state(jobdir, "stopped", walk)

        crawler.signals.connect(seen, signal=signals.response_received, weak=False)
        crawler.signals.connect(closed, signal=signals.spider_closed, weak=False)

    settings.set("JOBDIR", str(jobdir), priority="cmdline")
    if sitemaps:
        settings.set("INFORMBURO_SITEMAPS", True, priority="cmdline")
    try:
        outcome = run_crawl(settings, only="articles", max_pages=pages, backfill=True, until=until, on_crawler=prepare)
    finally:
        bar.close()
    if outcome.ok and jobdir.exists():
        shutil.rmtree(jobdir)
    return outcome


def forget_unclean(jobdir: Path) -> None:
    """Clear a job directory whose backfill never stopped cleanly (its state still says running).

    Scrapy writes a job's queue only when the job stops cleanly, but its record of the requests
    it made as it goes: resumed as it is, a killed walk would skip every page it had queued. The
    stored articles are in the database, so the walk starts again without fetching them twice.
    """
    state = read_state(jobdir)
    if state.get("state") == "running":
        logger.warning(
            "The backfill kept in %s did not stop cleanly (killed?): walking again, stored articles left alone",
            jobdir,
        )
        shutil.rmtree(jobdir)


def read_state(jobdir: Path) -> dict[str, Any]:
    try:
        return json.loads((jobdir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_state(jobdir: Path, state: str, walk: str) -> None:
    """``state``: running or stopped; ``walk``: what the kept queue walks (listing or sitemaps)."""
    jobdir.mkdir(parents=True, exist_ok=True)
    (jobdir / STATE_FILE).write_text(json.dumps({"state": state, "walk": walk}), encoding="utf-8")
