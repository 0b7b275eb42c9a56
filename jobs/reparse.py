"""Reparse: rebuild ``articles`` (and their versions) from the raw-page archive, no network.

When the extractor improves, one ``informburo reparse`` carries the fix to every
archived article: each page goes through the same page object, normalise, validate
and store code as a crawl, in fetch order, with the fetch time as ``captured_at``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from parsel import Selector

from core.clock import now_kz
from core.names import DEFAULT_LOCK_TIMEOUT
from crawler.pages.base import decode_html
from crawler.pages.versions import parser_for
from pipelines.store import Store, store_item
from storage.archive import Archive, archive_path
from storage.db import writer
from storage.ledger import start_run
from storage.writes import delete_versions_since


@dataclass
class ReparseOutcome:
    run_id: int
    pages: int
    stored: int
    rejected: int


def reparse(
    db_path: str | Path,
    since: str | None = None,
    *,
    archive: str | Path | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    progress: Callable[[int, int], None] | None = None,
) -> ReparseOutcome:
    """Re-extract archived article pages fetched at or after ``since`` (ISO 8601) into the database.

    Each page is read by the page-object version of its fetch date (crawler/pages/versions.py).
    """
    with writer(db_path, lock_timeout) as db:
        pages = Archive(archive or archive_path(db_path))
        try:
            total = pages.count(since)
            run_id = start_run(db, now_kz(), job="reparse", parts="reparse")
            store = Store(
                db, run_id, view_points=False, batch_size=500
            )  # the views history is what was seen, not re-derived
            # versions from these pages are rebuilt from the pages themselves
            delete_versions_since(db, pages.urls(), since or "")
            rejected = done = 0
            for page in pages.pages(since):
                text = decode_html(page.body, page.headers.get("Content-Type"))
                parse_article = parser_for("article", page.fetched_at)
                item = parse_article(Selector(text=text), page.url, page.fetched_at, page.listing_published)
                if not store_item(store, item, version_run_id=page.run_id, url=page.url):
                    rejected += 1
                done += 1
                if progress:
                    progress(done, total)
            store.finish("ok", pages=done, drift_threshold=1.0)
            return ReparseOutcome(run_id=run_id, pages=done, stored=store.stored_articles, rejected=rejected)
        finally:
            pages.close()
