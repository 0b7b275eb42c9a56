"""Benchmark 4: articles/s through ``pipelines.store.Store`` against a raw ``executemany`` of the same rows.

The items are what the pipeline hands the store: synthetic pages through
``parse_article`` → ``normalize_item`` → ``check_item``. Ours stores them one by one as
the crawl does (``Store.store``, one transaction per item) into a fresh database made by
``storage.db.open_database``; the baseline writes the very rows ours writes (``articles``,
``article_versions``, ``article_views``) into another fresh database with the same schema,
FTS triggers included, in one transaction of three ``executemany`` calls.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from parsel import Selector
from w3lib.encoding import html_to_unicode

from benchmarks.common import Context, Figure, Result, fmt, median, standalone_main
from core.clock import now_kz
from crawler.items import Article
from crawler.pages.article import parse_article
from pipelines.normalize import normalize_item
from pipelines.store import Store
from pipelines.validate import check_item
from storage.db import open_database
from storage.ledger import finish_run, start_run
from storage.schema import content_hash
from storage.writes import article_row


def make_items(ctx: Context, count: int) -> list[Article]:
    site = ctx.site()
    items = []
    for i, article in enumerate(site.articles[:count]):
        ctype, body = site.render_article(article)
        _, text = html_to_unicode(ctype, body)
        captured_at = f"2026-01-16T12:{i // 60 % 60:02d}:{i % 60:02d}+05:00"
        item = normalize_item(parse_article(Selector(text=text), site.base_url + site.path_of(article), captured_at))
        check_item(item)
        items.append(item)
    return items


def statements_per_article(path: Path, items: list[Article]) -> int:
    """SQL statements ``Store`` issues for one new article (not counting what triggers run inside them)."""
    db = open_database(path)
    try:
        store = Store(db, start_run(db, now_kz(), parts="articles"))
        store.store(items[0])
        seen: list[str] = []
        db.conn.set_trace_callback(seen.append)
        store.store(items[1])
        db.conn.set_trace_callback(None)
        store.finish("ok", pages=2, drift_threshold=0.5)
        return sum(1 for sql in seen if not sql.lstrip().startswith("--"))
    finally:
        db.close()


def store_ours(path: Path, items: list[Article]) -> float:
    db = open_database(path)
    try:
        run_id = start_run(db, now_kz(), parts="articles")
        store = Store(db, run_id)
        start = time.perf_counter()
        for item in items:
            store.store(item)
        store.finish("ok", pages=len(items), drift_threshold=0.5)
        return time.perf_counter() - start
    finally:
        db.close()


def rows_of(items: list[Article], run_id: int) -> tuple[list[dict[str, Any]], list[tuple], list[tuple]]:
    """The rows ``Store`` writes for these items, computed ahead (the baseline does no per-item work)."""
    articles, versions, views = [], [], []
    for item in items:
        captured_at = item.captured_at or now_kz()
        row = article_row(ItemAdapter(item).asdict(), captured_at)
        articles.append(row)
        digest = content_hash(row["title"], row["lead"], row["body"])
        versions.append((row["url"], run_id, captured_at, digest, row["title"], row["lead"], row["body"]))
        if item.views is not None:
            views.append((row["url"], run_id, captured_at, item.views, "page"))
    return articles, versions, views


def store_raw(path: Path, items: list[Article]) -> float:
    db = open_database(path)
    try:
        run_id = start_run(db, now_kz(), parts="articles")
        articles, versions, views = rows_of(items, run_id)
        columns = list(articles[0])
        values = [tuple(row[c] for c in columns) for row in articles]
        conn = db.conn
        start = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(
            f"INSERT INTO articles ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})", values
        )
        conn.executemany(
            "INSERT INTO article_versions (url, run_id, captured_at, content_hash, title, lead, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            versions,
        )
        conn.executemany(
            "INSERT INTO article_views (url, run_id, captured_at, views, source) VALUES (?, ?, ?, ?, ?)", views
        )
        conn.execute("COMMIT")
        finish_run(db, run_id, status="ok", finished_at=now_kz(), pages=len(items))
        return time.perf_counter() - start
    finally:
        db.close()


def counts(path: Path) -> dict[str, int]:
    db = open_database(path, create=False)
    try:
        return {t: db[t].count for t in ("articles", "article_versions", "article_views", "articles_fts")}
    finally:
        db.close()


def run(ctx: Context) -> Result:
    sizes = ctx.sizes
    result = Result("storage", "Storage: Store against raw executemany")
    items = make_items(ctx, sizes.articles)
    folder = ctx.dir("storage")
    ours_rates, raw_rates = [], []
    for rep in range(sizes.storage_reps):
        raw_path, ours_path = folder / f"raw-{rep}.db", folder / f"ours-{rep}.db"
        raw_rates.append(len(items) / store_raw(raw_path, copy.deepcopy(items)))
        ours_rates.append(len(items) / store_ours(ours_path, copy.deepcopy(items)))
    same = counts(raw_path) == counts(ours_path)
    statements = statements_per_article(folder / "trace.db", copy.deepcopy(items[:2]))
    ours, raw = median(ours_rates), median(raw_rates)
    result.figures.append(
        Figure(
            "storage: ours ÷ raw executemany (articles/s)",
            ours / raw,
            "×",
            "≥ 0.5×",
            ours / raw >= 0.5,
            f"ours {fmt(ours, 0)} articles/s",
            baseline=f"raw executemany {fmt(raw, 0)} articles/s",
        )
    )
    result.raw = {
        "items": len(items),
        "ours": ours_rates,
        "raw": raw_rates,
        "same_row_counts": same,
        "statements_per_article": statements,
    }
    result.details += [
        f"{len(items):,} normalised, validated article items; {sizes.storage_reps} repetitions, each on fresh"
        " databases (WAL, foreign keys on, as `open_database` makes them). Ours: "
        f"{', '.join(fmt(r, 0) for r in ours_rates)} articles/s; raw: {', '.join(fmt(r, 0) for r in raw_rates)}"
        f" articles/s. Both wrote the same row counts (articles, versions, views, FTS): {'yes' if same else 'NO'}."
        f" Ours issues {statements} SQL statements for a new article (triggers' own statements not counted).",
    ]
    return result


def main(argv: list[str] | None = None) -> None:
    standalone_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
