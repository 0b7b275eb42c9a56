"""Benchmarks 1 and 2: the large mirror and its server, and crawl overhead against bare Scrapy.

Both crawlers run as child processes against the same served synthetic site with the
same settings; each one's rate is what the server saw: pages answered between its
first and its last request, so process start-up and shutdown are left out of both.
The wall-clock rate of the whole child is kept beside it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from benchmarks.common import (
    PYTHON,
    Context,
    Figure,
    Result,
    check,
    fmt,
    median,
    run_child,
    served_rate,
    standalone_main,
)
from benchmarks.synth import PER_PAGE

#: The settings both crawlers run with (the issue's command).
FAST = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "ROBOTSTXT_OBEY": "True",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "LOG_LEVEL": "WARNING",
}
#: Bare Scrapy also gets what our settings turn off, so it does no more work than ours at the network level.
BARE_EXTRA = {"COOKIES_ENABLED": "False", "TELNETCONSOLE_ENABLED": "False"}


def _s(settings: dict[str, str]) -> list[str]:
    return [arg for name, value in settings.items() for arg in ("-s", f"{name}={value}")]


def listing_pages(articles: int) -> int:
    return max(1, -(-articles // PER_PAGE))


def ours_command(db: Path, base_url: str, articles: int) -> list[str]:
    """``informburo crawl`` exactly as the issue gives it, with enough listing pages for ``articles``."""
    settings = {**FAST, "INFORMBURO_MAX_PAGES": str(listing_pages(articles))}
    return [PYTHON, "-m", "cli", "crawl", "--db", str(db), "--base-url", base_url, *_s(settings)]


def bare_command(urls_file: Path) -> list[str]:
    return [PYTHON, "-m", "benchmarks.bare_spider", "--urls", str(urls_file), *_s({**FAST, **BARE_EXTRA})]


def urls_file(ctx: Context, articles: int) -> Path:
    path = ctx.dir("urls") / f"urls-{articles}.txt"
    if not path.exists():
        base = ctx.served().url
        path.write_text("\n".join(base + p for p in ctx.site().crawl_paths(articles)) + "\n", encoding="utf-8")
    return path


def crawl(ctx: Context, kind: str, articles: int, tag: str) -> dict[str, Any]:
    """One crawl of the first ``articles`` articles by ``kind`` ("ours" or "bare"): rates, RSS, CPU."""
    served = ctx.served()
    served.reset()
    if kind == "ours":
        folder = ctx.empty_dir(f"crawl/{tag}")
        db = folder / "informburo.db"
        child = check(run_child(ours_command(db, served.url, articles)), f"informburo crawl ({tag})")
        conn = sqlite3.connect(db)
        try:
            stored = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        finally:
            conn.close()
    else:
        db = None
        child = check(run_child(bare_command(urls_file(ctx, articles))), f"bare spider ({tag})")
        stored = None
    pages, span, rate = served_rate(served.stats())
    return {
        "kind": kind,
        "articles": articles,
        "pages": pages,
        "span_s": span,
        "pages_per_s": rate,
        "wall_s": child.wall,
        "wall_pages_per_s": pages / child.wall,
        "cpu_s": child.cpu,
        "cpu_ms_per_page": 1000 * child.cpu / pages if pages else None,
        "maxrss_mb": child.maxrss_mb,
        "stored": stored,
        "db": str(db) if db else None,
    }


def page_sizes(ctx: Context, articles: int) -> dict[str, float]:
    site = ctx.site()
    sizes = sorted(len(site.render_article(a)[1]) for a in site.articles[:articles])
    return {
        "min_kb": sizes[0] / 1000,
        "median_kb": median(sizes) / 1000,
        "max_kb": sizes[-1] / 1000,
    }


def run(ctx: Context) -> Result:
    sizes = ctx.sizes
    n = sizes.articles
    result = Result("crawl", "Crawl: the large mirror, and overhead against bare Scrapy")
    served = ctx.served()
    shape = page_sizes(ctx, min(n, 500))

    # Benchmark 1: can the server outrun any crawler? A plain asyncio client with the same 16 connections.
    client_runs = []
    for _ in range(max(1, sizes.crawl_reps)):
        served.reset()
        child = check(
            run_child(
                [PYTHON, "-m", "benchmarks.httpbench", "--base-url", served.url, "--urls", str(urls_file(ctx, n))]
            ),
            "httpbench",
        )
        client_runs.append(json.loads(child.stdout)["pages_per_s"])

    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "ours": []}
    for rep in range(sizes.crawl_reps):  # interleaved, so drift in the machine hits both alike
        runs["bare"].append(crawl(ctx, "bare", n, f"bare-{n}-{rep}"))
        runs["ours"].append(crawl(ctx, "ours", n, f"ours-{n}-{rep}"))
    ctx.shared["crawl_db"] = runs["ours"][-1]["db"]
    ctx.shared["crawl_runs"] = runs

    bare = median([r["pages_per_s"] for r in runs["bare"]])
    ours = median([r["pages_per_s"] for r in runs["ours"]])
    client = median(client_runs)
    bare_wall = median([r["wall_pages_per_s"] for r in runs["bare"]])
    ours_wall = median([r["wall_pages_per_s"] for r in runs["ours"]])
    stored = [r["stored"] for r in runs["ours"]]

    low_kb, high_kb = 60, 120
    result.figures += [
        Figure(
            "mirror page weight (median article page)",
            shape["median_kb"],
            "KB",
            f"{low_kb}–{high_kb} KB",
            low_kb <= shape["median_kb"] <= high_kb,
            f"min {fmt(shape['min_kb'], 1)} KB, max {fmt(shape['max_kb'], 1)} KB",
            baseline="the live site's article pages",
        ),
        Figure(
            "server headroom: plain HTTP client pages/s ÷ bare Scrapy pages/s",
            client / bare,
            "×",
            "≥ 2× (the server is not the bottleneck)",
            client / bare >= 2,
            f"plain client {fmt(client, 0)} pages/s",
            baseline=f"bare Scrapy {fmt(bare, 0)} pages/s",
        ),
        Figure(
            "crawl throughput: ours ÷ bare Scrapy (pages/s)",
            ours / bare,
            "×",
            "≥ 0.85×",
            ours / bare >= 0.85,
            f"ours {fmt(ours, 1)} pages/s; whole-process wall clock: {fmt(ours_wall / bare_wall)}×"
            f" ({fmt(ours_wall, 1)} vs {fmt(bare_wall, 1)} pages/s)",
            baseline=f"bare Scrapy {fmt(bare, 1)} pages/s",
        ),
    ]
    result.raw = {
        "page_sizes": shape,
        "client_pages_per_s": client_runs,
        "runs": runs,
        "served_articles": served.articles,
    }
    result.details += [
        f"Site: {served.articles:,} synthetic articles served (a crawl of N walks the first N/{PER_PAGE} listing"
        f" pages); the server rendered every page to bytes in {fmt(served.startup, 1)} s before serving.",
        f"Article pages weigh {fmt(shape['min_kb'], 1)}–{fmt(shape['max_kb'], 1)} KB (median"
        f" {fmt(shape['median_kb'], 1)} KB), inline CSS/JS, sidebar, rates, related articles and noise included.",
        f"Plain HTTP client (asyncio, 16 keep-alive connections, same URL list): {fmt(client, 0)} pages/s"
        f" (repetitions: {', '.join(fmt(c, 0) for c in client_runs)}).",
        f"Crawl of N = {n:,}: articles stored by ours per repetition: {', '.join(str(s) for s in stored)}.",
        "",
        "| crawler | rep | pages | pages/s (server window) | wall s | pages/s (wall) | CPU ms/page | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind in ("bare", "ours"):
        for rep, r in enumerate(runs[kind]):
            result.details.append(
                f"| {kind} | {rep + 1} | {r['pages']} | {fmt(r['pages_per_s'], 1)} | {fmt(r['wall_s'], 1)} |"
                f" {fmt(r['wall_pages_per_s'], 1)} | {fmt(r['cpu_ms_per_page'])} | {fmt(r['maxrss_mb'], 1)} |"
            )
    return result


def main(argv: list[str] | None = None) -> None:
    standalone_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
