"""Scrapy extensions: the raw-page archive, fed as responses arrive."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Request, Response

from core.clock import now_kz
from storage.archive import Archive, RawPage, archive_path

logger = logging.getLogger(__name__)

#: Pages the writer thread commits at once.
ARCHIVE_BATCH = 50


class ArchiveExtension:
    """Keeps every fetched article page (URL, fetch time, status, headers, body) for ``reparse``.

    Compressing and writing happen on a thread of their own (zlib and sqlite3 release the
    GIL), so the crawl's reactor does not wait for them. It also stamps
    ``response.meta["captured_at"]``, which the spider uses, so a reparse gives the very
    ``captured_at`` the crawl stored.
    """

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.path = settings.get("INFORMBURO_ARCHIVE") or archive_path(settings.get("INFORMBURO_DB"))
        self.max_days = settings.getfloat("INFORMBURO_ARCHIVE_MAX_DAYS")
        self.max_mb = settings.getfloat("INFORMBURO_ARCHIVE_MAX_MB")
        self.pages: queue.Queue[RawPage | None] = queue.Queue(maxsize=1000)
        self.writer: threading.Thread | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchiveExtension:
        if not crawler.settings.getbool("INFORMBURO_ARCHIVE_ENABLED"):
            raise NotConfigured("the raw-page archive is off")
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self) -> None:
        Archive(self.path).close()  # create (or migrate) it now, so a broken path fails the run at its start
        self.writer = threading.Thread(target=self._write, name="archive-writer", daemon=True)
        self.writer.start()

    def response_received(self, response: Response, request: Request) -> None:
        response.meta["captured_at"] = captured_at = now_kz()
        if self.writer is None or not request.meta.get("archive") or response.status != 200:
            return
        self.pages.put(
            RawPage(
                url=response.url,
                fetched_at=captured_at,
                status=response.status,
                headers={k.decode("latin-1"): b", ".join(v).decode("latin-1") for k, v in response.headers.items()},
                body=response.body,
                run_id=self.crawler.stats.get_value("informburo/run_id"),
                listing_published=request.cb_kwargs.get("listing_published"),
            )
        )

    def _write(self) -> None:
        """The writer thread: its own connection, one transaction per batch of pages.

        If the archive fails, the thread keeps taking pages until the run ends: the crawl
        loses its archive, never waits on a full queue.
        """
        done = False
        try:
            with Archive(self.path) as archive:
                while not done:
                    batch = [self.pages.get()]
                    while len(batch) < ARCHIVE_BATCH and not self.pages.empty():
                        batch.append(self.pages.get())
                    done = batch[-1] is None
                    pages = [page for page in batch if page is not None]
                    if pages:
                        archive.add_many(pages)
                removed = archive.prune(self.max_days, self.max_mb)
                if removed:
                    logger.info("Archive retention removed %s old page(s)", removed)
        except Exception:
            logger.exception("The raw-page archive failed; pages of this run may be missing from it")
            while not done:
                done = self.pages.get() is None

    def spider_closed(self, reason: Any) -> None:
        if self.writer is None:
            return
        self.pages.put(None)
        self.writer.join()
        self.writer = None
