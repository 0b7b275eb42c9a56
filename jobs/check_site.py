"""``informburo check-site``: run the check spider once and print what it found as a table.

A user's first command against a site, and the one to run when ``status`` warns of layout drift:
it says which parts of the contract (docs/anatomy.md) the site still carries, by which layer each
was read, and what is missing, without a database, a lock file or an archive: the check's
settings switch off every pipeline and extension that writes.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

from scrapy.settings import Settings

from crawler.spiders.check import ABSENT, DRIFT, FOUND, MISSING, PARTS, CheckSiteSpider, Row, part_rank
from jobs.crawl import crawl_settings, run_spider

#: Set above the command line's priority: whatever ``-s`` says, a check writes nothing.
NO_WRITES: dict[str, Any] = {
    "ITEM_PIPELINES": {},
    "INFORMBURO_ARCHIVE_ENABLED": False,
    "EXTENSIONS": {"crawler.extensions.ArchiveExtension": None},
    "JOBDIR": None,
}
NO_WRITES_PRIORITY = 50  # "cmdline" is 40
#: The check's own default, under the config and ``-s``: its table is the output, not Scrapy's log.
QUIET = {"LOG_LEVEL": "WARNING"}
COLUMNS = ("part", "field", "found", "layer", "detail")
EXIT_OK, EXIT_FAILED = 0, 1


@dataclass
class CheckResult:
    """The rows the spider found, in table order, the URLs it asked for, and a crash if any."""

    rows: list[Row] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.rows) and not any(r.found in (DRIFT, MISSING) for r in self.rows)


def check_site_settings(db: str, base_url: str, overrides: dict[str, Any] | None = None) -> Settings:
    """The project's settings (robots.txt, delays, allowed hosts, retries) with the config's and
    ``-s`` on top, and the writes off; ``ConfigError`` for a bad value or base URL."""
    settings = crawl_settings(db, base_url, None, {**QUIET, **(overrides or {})})
    settings.setdict(NO_WRITES, priority=NO_WRITES_PRIORITY)
    return settings


def run_check(settings: Settings) -> CheckResult:
    """One check in this process (Scrapy's reactor cannot restart: call once per process)."""
    crawler, failures = run_spider(settings, CheckSiteSpider)
    spider = crawler.spider
    result = CheckResult()
    if isinstance(spider, CheckSiteSpider):
        result.rows = sorted(
            spider.rows + unreached(spider.rows, spider.article_count), key=lambda row: part_rank(row.part)
        )
        result.requests = list(spider.requests)
        result.error = spider.errors[0] if spider.errors else None
    if failures:
        result.error = f"{failures[0].type.__name__}: {failures[0].getErrorMessage()}"
    return result


def unreached(rows: Sequence[Row], articles: int) -> list[Row]:
    """A missing row for each part the check never reported on (a request lost, a callback that
    failed), of the fixed parts and of the ``articles`` article pages asked for: silence about a
    part must not read as "nothing wrong with it"."""
    parts = {row.part for row in rows}
    wanted = [p for p in PARTS if p != "article"] + [f"article {n}" for n in range(1, articles + 1)]
    return [Row(part, "-", MISSING, "", "not reached (see the log)") for part in wanted if part not in parts]


def render(rows: Sequence[Row]) -> str:
    """The rows as a plain-text table, one column per ``COLUMNS``, the detail last and unpadded."""
    cells = [COLUMNS, *((r.part, r.field, r.found, r.layer or "-", r.detail or "") for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS) - 1)]
    lines = []
    for number, cell in enumerate(cells):
        lines.append("  ".join([*(c.ljust(w) for c, w in zip(cell, widths, strict=False)), cell[-1]]).rstrip())
        if number == 0:
            lines.append("  ".join([*("-" * w for w in widths), "-" * len(COLUMNS[-1])]))
    return "\n".join(lines)


def verdict(result: CheckResult, base_url: str) -> str:
    """The last line: OK, or what drifted and what is missing, part by part."""
    host = urlsplit(base_url).netloc
    robots = "robots.txt first" if result.requests and urlsplit(result.requests[0]).path == "/robots.txt" else ""
    asked = f"{len(result.requests)} requests to {host}" + (f", {robots}" if robots else "")
    if result.error:
        return f"check-site: FAILED: {result.error} ({asked})"
    if result.ok:
        return f"check-site: OK: every part of the contract found by the site's own markup ({asked})"
    drift = [f"{r.part} {r.field} ({r.layer or 'by a known path'})" for r in result.rows if r.found == DRIFT]
    missing = [f"{r.part} {r.field}" for r in result.rows if r.found == MISSING]
    said = []
    if drift:
        said.append(f"drift: {len(drift)} found only by a fallback: {', '.join(drift)}")
    if missing:
        said.append(f"MISSING: {', '.join(missing)}")
    if not result.rows:
        said.append("nothing was read")
    advice = "; crawler/pages/ wants a look" if drift else ""  # a page that never came is no markup to fix
    return f"check-site: {'; '.join(said)}{advice} ({asked})"


def check_site(settings: Settings, out: TextIO | None = None) -> int:
    """Check the site, print the table and the verdict; 0 when every part was found by its own
    means, 1 when one drifted to a fallback, is missing, or the check could not run."""
    out = out or sys.stdout
    result = run_check(settings)
    counts = Counter(r.found for r in result.rows)
    print(render(result.rows), file=out)
    print(
        f"\n{counts[FOUND]} found, {counts[DRIFT]} drift, {counts[MISSING]} missing, {counts[ABSENT]} optional absent",
        file=out,
    )
    print(verdict(result, settings.get("INFORMBURO_BASE_URL")), file=out)
    return EXIT_OK if result.ok else EXIT_FAILED
