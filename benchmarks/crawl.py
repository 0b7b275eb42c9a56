"""Benchmarks 1 and 2: the large mirror and its server, and crawl overhead against bare Scrapy.

Both crawlers run as child processes against the same served synthetic site with the
same settings; each one's rate is what the server saw: pages answered between its
first and its last request, so process start-up and shutdown are left out of both.
The wall-clock rate of the whole child is kept beside it. Ours runs twice a repetition:
with the extraction pool on (the default, ``INFORMBURO_EXTRACTION_WORKERS`` = cores − 1
worker processes) and off (``-s INFORMBURO_EXTRACTION_WORKERS=0``: extraction in the
crawling process); the three crawls of a repetition run one after the other, in an order
that rotates between repetitions, so drift in the machine hits all three alike.

CPU is that of the whole process tree: the crawl, and with the pool on its forkserver,
the workers the forkserver forks (grandchildren of the crawl) and multiprocessing's
resource tracker. The benchmark driver makes itself a child subreaper for each crawl, so
the processes that outlive the crawl by a moment are reparented to the driver instead of
init; the driver ``wait4``s the crawl and each of them, and every ``wait4`` counts a
process's own CPU plus that of the descendants it waited for (the forkserver waits for its
workers), which sums to every process of the tree. "Main" is the crawl process's own CPU
(every thread of it, read from its ``/proc`` stat as a zombie, before it is reaped);
"pool" is everything else. Peak RSS is the crawl's own ``VmHWM`` and, for the tree, the
largest sum of VmRSS over the crawl and its live descendants, sampled every 50 ms (pages
the workers share with the forkserver count once per process: an upper bound).
"""

from __future__ import annotations

import json
import os
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
from crawler.workers import default_crawl_workers

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


#: Ours, pool on (the default: no setting) and off; a crawl's ``kind`` is one of these or "bare".
POOL = {"ours": None, "ours-off": 0}
#: The three crawlers, as the report names them.
LABELS = {"bare": "bare Scrapy", "ours": "ours, pool on", "ours-off": "ours, pool off"}
#: Ours pool off ÷ bare Scrapy in the last run before the pool (docs/benchmarks.md, make bench at 417c5ba):
#: the pool must not make the crawl without it slower (issue 18).
BEFORE_POOL_RATIO = 0.30


def ours_command(db: Path, base_url: str, articles: int, workers: int | None = None) -> list[str]:
    """``informburo crawl`` exactly as the issue gives it, with enough listing pages for ``articles``.

    ``workers``: ``INFORMBURO_EXTRACTION_WORKERS`` (0: the pool off); None leaves the crawl's default (on).
    """
    settings = {**FAST, "INFORMBURO_MAX_PAGES": str(listing_pages(articles))}
    if workers is not None:
        settings["INFORMBURO_EXTRACTION_WORKERS"] = str(workers)
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
    """One crawl of the first ``articles`` articles by ``kind`` (see ``LABELS``): rates, RSS, CPU of its tree."""
    served = ctx.served()
    served.reset()
    if kind in POOL:
        folder = ctx.empty_dir(f"crawl/{tag}")
        db = folder / "informburo.db"
        cmd = ours_command(db, served.url, articles, POOL[kind])
        child = check(run_child(cmd, tree=True), f"informburo crawl ({tag})")
        conn = sqlite3.connect(db)
        try:
            stored = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        finally:
            conn.close()
    else:
        db = None
        child = check(run_child(bare_command(urls_file(ctx, articles)), tree=True), f"bare spider ({tag})")
        stored = None
    pages, span, rate = served_rate(served.stats())
    tree = child.tree
    assert tree is not None
    per_page = 1000 / pages if pages else float("nan")
    return {
        "kind": kind,
        "articles": articles,
        "pages": pages,
        "span_s": span,
        "pages_per_s": rate,
        "wall_s": child.wall,
        "wall_pages_per_s": pages / child.wall,
        "cpu_s": tree.cpu,
        "cpu_ms_per_page": tree.cpu * per_page,  # the whole tree
        "main_cpu_ms_per_page": tree.main_cpu * per_page,  # the crawl process alone, all its threads
        "main_thread_cpu_ms_per_page": tree.main_thread_cpu * per_page,  # its main (reactor) thread
        "pool_cpu_ms_per_page": tree.pool_cpu * per_page,  # forkserver, workers, resource tracker
        "workers_cpu_ms_per_page": tree.workers_cpu * per_page,  # the workers alone (last sample)
        "cpu_exact": tree.exact,
        "maxrss_mb": child.maxrss_mb,  # the crawl process's own VmHWM
        "tree_peak_rss_mb": tree.peak_rss_mb,
        "processes": tree.processes,
        "workers_seen": tree.grandchildren,
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

    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in LABELS}
    order = list(LABELS)
    for rep in range(sizes.crawl_reps):  # one of each a repetition, the order rotated: shared noise
        for kind in order[rep % 3 :] + order[: rep % 3]:
            runs[kind].append(crawl(ctx, kind, n, f"{kind}-{n}-{rep}"))
    ctx.shared["crawl_db"] = runs["ours"][-1]["db"]
    ctx.shared["crawl_runs"] = runs

    def med(kind: str, key: str) -> float:
        return median([r[key] for r in runs[kind]])

    bare, on, off = med("bare", "pages_per_s"), med("ours", "pages_per_s"), med("ours-off", "pages_per_s")
    client = median(client_runs)
    wall = {kind: med(kind, "wall_pages_per_s") for kind in runs}
    cpu = {kind: med(kind, "cpu_ms_per_page") for kind in runs}
    workers = max(r["workers_seen"] for r in runs["ours"])
    pool_note = (
        f"{workers} worker process{'es' if workers != 1 else ''} seen"
        if workers
        else "no worker process seen: the pool did not start"
    )

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
            "crawl throughput, pool on: ours ÷ bare Scrapy (pages/s)",
            on / bare,
            "×",
            "≥ 0.85×",
            on / bare >= 0.85,
            f"ours {fmt(on, 1)} pages/s, {pool_note} (default: {default_crawl_workers()});"
            f" whole-process wall clock: {fmt(wall['ours'] / wall['bare'])}×",
            baseline=f"bare Scrapy {fmt(bare, 1)} pages/s",
        ),
        Figure(
            "crawl throughput, pool off: ours ÷ bare Scrapy (pages/s)",
            off / bare,
            "×",
            f"≥ {fmt(BEFORE_POOL_RATIO)}× (the last run before the pool)",
            off / bare >= BEFORE_POOL_RATIO,
            f"ours {fmt(off, 1)} pages/s; pool on ÷ off {fmt(on / off)}×;"
            f" whole-process wall clock: {fmt(wall['ours-off'] / wall['bare'])}×",
            baseline=f"bare Scrapy {fmt(bare, 1)} pages/s",
        ),
        Figure(
            "crawl CPU per page, pool on: whole process tree",
            cpu["ours"],
            "ms",
            "— (for information)",
            None,
            f"main process {fmt(med('ours', 'main_cpu_ms_per_page'))} ms"
            f" + pool processes {fmt(med('ours', 'pool_cpu_ms_per_page'))} ms",
            baseline=f"bare Scrapy {fmt(cpu['bare'])} ms",
        ),
        Figure(
            "crawl CPU per page, pool off: whole process tree",
            cpu["ours-off"],
            "ms",
            "— (for information)",
            None,
            f"main process {fmt(med('ours-off', 'main_cpu_ms_per_page'))} ms"
            f" + other processes {fmt(med('ours-off', 'pool_cpu_ms_per_page'))} ms",
            baseline=f"bare Scrapy {fmt(cpu['bare'])} ms",
        ),
    ]
    result.raw = {
        "page_sizes": shape,
        "client_pages_per_s": client_runs,
        "runs": runs,
        "served_articles": served.articles,
        "default_workers": default_crawl_workers(),
        "before_pool_ratio": BEFORE_POOL_RATIO,
    }
    stored = {kind: ", ".join(str(r["stored"]) for r in runs[kind]) for kind in POOL}
    exact = all(r["cpu_exact"] for rs in runs.values() for r in rs)
    result.details += [
        f"Site: {served.articles:,} synthetic articles served (a crawl of N walks the first N/{PER_PAGE} listing"
        f" pages); the server rendered every page to bytes in {fmt(served.startup, 1)} s before serving.",
        f"Article pages weigh {fmt(shape['min_kb'], 1)}–{fmt(shape['max_kb'], 1)} KB (median"
        f" {fmt(shape['median_kb'], 1)} KB), inline CSS/JS, sidebar, rates, related articles and noise included.",
        f"Plain HTTP client (asyncio, 16 keep-alive connections, same URL list): {fmt(client, 0)} pages/s"
        f" (repetitions: {', '.join(fmt(c, 0) for c in client_runs)}).",
        f"Crawl of N = {n:,}: articles stored per repetition, pool on: {stored['ours']}; pool off:"
        f" {stored['ours-off']}. Pool on is the crawl's default ({default_crawl_workers()} worker"
        f"{'s' if default_crawl_workers() != 1 else ''} on {os.cpu_count()} cores); {pool_note}.",
        "CPU per page is per page served (listings and robots.txt included), of the whole process tree"
        + ("." if exact else " (no subreaper here: processes orphaned at exit counted as last sampled)."),
        "",
        "| crawler | rep | pages | pages/s (server window) | wall s | pages/s (wall) | CPU ms/page, tree |"
        " main process | of which main thread | pool processes | peak RSS MB, crawl | peak RSS MB, tree |"
        " processes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in LABELS:
        for rep, r in enumerate(runs[kind]):
            result.details.append(
                f"| {LABELS[kind]} | {rep + 1} | {r['pages']} | {fmt(r['pages_per_s'], 1)} | {fmt(r['wall_s'], 1)} |"
                f" {fmt(r['wall_pages_per_s'], 1)} | {fmt(r['cpu_ms_per_page'])} |"
                f" {fmt(r['main_cpu_ms_per_page'])} | {fmt(r['main_thread_cpu_ms_per_page'])} |"
                f" {fmt(r['pool_cpu_ms_per_page'])} | {fmt(r['maxrss_mb'], 1)} | {fmt(r['tree_peak_rss_mb'], 1)} |"
                f" {r['processes']} |"
            )
    return result


def main(argv: list[str] | None = None) -> None:
    standalone_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
