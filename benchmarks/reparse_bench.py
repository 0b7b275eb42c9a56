"""Benchmark 6: ``informburo reparse`` from the raw-page archive, pool off and on, no network.

The archive is the one the crawl benchmark's last ``informburo crawl`` of N articles left;
each repetition reparses two fresh copies of that database and archive with the real command,
one with the pool off (``--workers 0``: one process) and one with it on (the default, a
worker per core), one right after the other so both meet the same machine (wall
clock of the child, start-up included). The baseline of the one-process figure is extraction
alone on the same archived pages (decode, ``parse_article``, ``normalize_item``, in this
process), the ceiling a one-process reparse could reach without storing anything.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

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
from crawler.pages.base import html_selector
from jobs.reparse import default_workers
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
            normalize_item(parse_article(html_selector(text), page.url, page.fetched_at, page.listing_published))
        rates.append(len(raw) / (time.perf_counter() - start))
    return len(raw), rates


def reparsed(db: Path, *options: str) -> tuple[int, float]:
    """(pages, wall seconds) of one ``informburo reparse`` of ``db``."""
    child = check(run_child([PYTHON, "-m", "cli", "reparse", "--db", str(db), *options]), "informburo reparse")
    found = re.search(r"reparsed (\d+) archived pages", child.stdout)
    if not found:
        raise BenchError(f"unexpected reparse output: {child.stdout!r}")
    return int(found.group(1)), child.wall


def run(ctx: Context) -> Result:
    sizes = ctx.sizes
    result = Result("reparse", "Reparse from the raw-page archive")
    db_path = ctx.shared.get("crawl_db")
    if not db_path:
        db_path = crawl(ctx, "ours", sizes.articles, f"reparse-source-{sizes.articles}")["db"]
    source = Path(db_path)
    workers = default_workers()
    modes = {"off": ["--workers", "0"], "on": []}  # on: the command's default
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    walls: dict[str, list[float]] = {mode: [] for mode in modes}
    pages = 0
    for rep in range(sizes.reparse_reps):
        for mode, options in modes.items():  # side by side: the pair meets the same moment of a noisy machine
            db = copy_db(source, ctx.workdir / "reparse" / f"rep-{rep}-{mode}")
            pages, wall = reparsed(db, *options)
            walls[mode].append(wall)
            rates[mode].append(pages / wall)
    sampled, baseline_rates = extraction_only(archive_path(source), sizes.reparse_reps)
    ours, pooled, baseline = median(rates["off"]), median(rates["on"]), median(baseline_rates)
    ratios = [on / off for on, off in zip(rates["on"], rates["off"], strict=True)]
    ratio = median(ratios)
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
    result.figures.append(
        Figure(
            "reparse pages/s, pool on",
            pooled,
            "pages/s",
            "— (for information; the target is on ÷ off)",
            None,
            f"{workers} worker{'s' if workers != 1 else ''} and the writer",
            baseline=f"pool off (one process) {fmt(ours, 1)} pages/s in the same run",
        )
    )
    result.figures.append(
        Figure(
            "reparse pages/s: pool on ÷ pool off",
            ratio,
            "×",
            "≥ 1.7×",
            ratio >= 1.7,
            f"{fmt(pooled, 1)} pages/s with {workers} worker{'s' if workers != 1 else ''}"
            f" and the writer, on {os.cpu_count()} cores",
            baseline=f"pool off (one process) {fmt(ours, 1)} pages/s in the same run",
        )
    )
    result.raw = {
        "pages": pages,
        "workers": workers,
        "rates": rates["off"],
        "walls": walls["off"],
        "pooled_rates": rates["on"],
        "pooled_walls": walls["on"],
        "ratios": ratios,
        "extraction_only": baseline_rates,
    }
    result.details += [
        f"{pages:,} archived pages; {sizes.reparse_reps} repetitions, each a pair of `informburo reparse --db <copy>`"
        f" runs one after the other. Pool off (`--workers 0`): {', '.join(fmt(r, 1) for r in rates['off'])} pages/s"
        f" (wall {', '.join(fmt(w, 1) for w in walls['off'])} s, start-up included). Pool on (default,"
        f" {workers} worker{'s' if workers != 1 else ''}): {', '.join(fmt(r, 1) for r in rates['on'])} pages/s"
        f" (wall {', '.join(fmt(w, 1) for w in walls['on'])} s); on ÷ off per pair:"
        f" {', '.join(fmt(r) for r in ratios)}×. Extraction alone (first {sampled} pages):"
        f" {', '.join(fmt(r, 0) for r in baseline_rates)} pages/s.",
    ]
    return result


def main(argv: list[str] | None = None) -> None:
    standalone_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
