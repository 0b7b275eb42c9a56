"""Benchmark 6: ``informburo reparse`` from the raw-page archive, one process, no network.

The archive is the one the crawl benchmark's last ``informburo crawl`` of N articles left;
each repetition reparses a fresh copy of that database and archive with the real command
(wall clock of the child, start-up included). The baseline is extraction alone on the
same archived pages (decode, ``parse_article``, ``normalize_item``, in this process), the
ceiling any reparse could reach without storing anything.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from parsel import Selector
from w3lib.encoding import html_to_unicode

from benchmarks.common import (
    PYTHON,
    BenchError,
    Context,
    Figure,
    Result,
    check,
    fmt,
    median,
    run_child,
    standalone_main,
)
from benchmarks.crawl import crawl
from crawler.pages.article import parse_article
from pipelines.normalize import normalize_item
from storage.archive import Archive, archive_path


def copy_db(db: Path, to: Path) -> Path:
    if to.exists():
        shutil.rmtree(to)
    to.mkdir(parents=True)
    for path in db.parent.iterdir():
        if path.name.startswith(db.stem) and not path.name.endswith(".lock"):
            shutil.copy2(path, to / path.name)
    return to / db.name


def extraction_only(archive: Path, reps: int, limit: int = 500) -> tuple[int, list[float]]:
    """Pages/s of extraction alone over the first ``limit`` archived pages, per repetition."""
    pages = Archive(archive)
    try:
        raw = [page for _, page in zip(range(limit), pages.pages(), strict=False)]
    finally:
        pages.close()
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        for page in raw:
            _, text = html_to_unicode(page.headers.get("Content-Type"), page.body)
            normalize_item(parse_article(Selector(text=text), page.url, page.fetched_at, page.listing_published))
        rates.append(len(raw) / (time.perf_counter() - start))
    return len(raw), rates


def run(ctx: Context) -> Result:
    sizes = ctx.sizes
    result = Result("reparse", "Reparse from the raw-page archive")
    db_path = ctx.shared.get("crawl_db")
    if not db_path:
        db_path = crawl(ctx, "ours", sizes.articles, f"reparse-source-{sizes.articles}")["db"]
    source = Path(db_path)
    rates, walls = [], []
    pages = 0
    for rep in range(sizes.reparse_reps):
        db = copy_db(source, ctx.workdir / "reparse" / f"rep-{rep}")
        child = check(run_child([PYTHON, "-m", "cli", "reparse", "--db", str(db)]), "informburo reparse")
        found = re.search(r"reparsed (\d+) archived pages", child.stdout)
        if not found:
            raise BenchError(f"unexpected reparse output: {child.stdout!r}")
        pages = int(found.group(1))
        walls.append(child.wall)
        rates.append(pages / child.wall)
    sampled, baseline_rates = extraction_only(archive_path(source), sizes.reparse_reps)
    ours, baseline = median(rates), median(baseline_rates)
    result.figures.append(
        Figure(
            "reparse pages/s, one process",
            ours,
            "pages/s",
            "≥ 300 pages/s",
            ours >= 300,
            f"{fmt(ours / baseline)}× extraction alone",
            baseline=f"extraction alone on the same pages {fmt(baseline, 0)} pages/s",
        )
    )
    result.raw = {"pages": pages, "rates": rates, "walls": walls, "extraction_only": baseline_rates}
    result.details += [
        f"{pages:,} archived pages; {sizes.reparse_reps} repetitions of"
        f" `informburo reparse --db <copy>`: {', '.join(fmt(r, 1) for r in rates)} pages/s"
        f" (wall {', '.join(fmt(w, 1) for w in walls)} s, start-up included). Extraction alone (first"
        f" {sampled} pages): {', '.join(fmt(r, 0) for r in baseline_rates)} pages/s.",
    ]
    return result


def main(argv: list[str] | None = None) -> None:
    standalone_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
