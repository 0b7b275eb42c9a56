"""A backfill: a first import that walks older listing pages, resumable, with a progress bar."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.settings import Settings
from tqdm import tqdm

from jobs.crawl import RunOutcome, run_crawl


def backfill(settings: Settings, *, pages: int | None, until: str | None, jobdir: Path) -> RunOutcome:
    """Walk ``pages`` listing pages, or back to ``until``, never stopping early at stored pages.

    Scrapy keeps the pending requests in ``jobdir``: an interrupted backfill resumes when run
    again, and a completed one removes it so the next starts afresh. The bar is silent when
    not on a terminal.
    """
    bar = tqdm(total=pages, unit="listing page", desc="backfill", disable=None)

    def progress(crawler: Crawler) -> None:
        def seen(response: Any, request: Any) -> None:
            if request.callback is not None and getattr(request.callback, "__name__", "") == "parse_listing":
                bar.update(1)
            bar.set_postfix(articles=crawler.stats.get_value("item_scraped_count", 0), refresh=False)

        crawler.signals.connect(seen, signal=signals.response_received, weak=False)

    settings.set("JOBDIR", str(jobdir), priority="cmdline")
    try:
        outcome = run_crawl(settings, only="articles", max_pages=pages, backfill=True, until=until, on_crawler=progress)
    finally:
        bar.close()
    if outcome.ok and jobdir.exists():
        shutil.rmtree(jobdir)
    return outcome
