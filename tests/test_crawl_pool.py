"""Extraction worker processes in the crawl (crawler/workers.py, issue 18): the callback awaits its
page's reading in a worker, so the tables are those of a one-process crawl; a worker that dies
costs the page it died on, recorded with its URL, never the run; a pool that keeps dying ends the
run ``failed``; a crawl killed with -9 leaves no worker behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import crawler.workers
from crawler.spiders.informburo import WORKERS_SETTING, extraction_workers
from crawler.workers import ExtractionPool, ExtractionWorkersError, WorkerDiedError, default_crawl_workers
from mirror.server import MirrorServer
from mirror.site import Site
from tests.conftest import FAST, ROOT, crawl, informburo, rows
from tests.test_faults import article_table, plain_articles

ON, OFF = ["-s", f"{WORKERS_SETTING}=1"], ["-s", f"{WORKERS_SETTING}=0"]
STATS = ["-s", "LOG_LEVEL=INFO", "-s", "STATS_DUMP=True"]


# -- the pool alone, on an asyncio loop as Scrapy's reactor runs it (fast) -------------------------


def square(n: int) -> int:
    return n * n


def dies_on(n: int) -> int:
    """A task that kills its worker process on 3, as a crash in C would: no exception, no result."""
    if n == 3:
        os._exit(7)
    return n * n


def raises(n: int) -> int:
    raise KeyError(f"no {n}")


def run_all(pool: ExtractionPool, fn: object, values: list[int]) -> list[object]:
    async def main() -> list[object]:
        try:
            return await asyncio.gather(*(pool.run(fn, v) for v in values), return_exceptions=True)  # type: ignore[arg-type]
        finally:
            pool.close()

    return asyncio.run(main())


def test_the_pool_answers_each_call_with_its_own_result() -> None:
    assert run_all(ExtractionPool(2, context="fork"), square, list(range(12))) == [n * n for n in range(12)]


def test_a_task_that_kills_its_worker_is_the_only_one_that_fails() -> None:
    """The page that kills a worker breaks every page the pool held; read again alone, only it fails."""
    pool = ExtractionPool(1, context="fork")
    results = run_all(pool, dies_on, list(range(8)))
    assert isinstance(results[3], WorkerDiedError)
    assert "died reading it" in str(results[3])
    assert [r for i, r in enumerate(results) if i != 3] == [n * n for n in range(8) if n != 3]
    assert pool.restarts == 1


def test_a_pool_that_keeps_breaking_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crawler.workers, "MAX_POOL_RESTARTS", 2)
    pool = ExtractionPool(1, context="fork")

    async def main() -> list[object]:
        out: list[object] = []
        try:
            for _ in range(5):  # one at a time: each call breaks a fresh pool
                try:
                    out.append(await pool.run(dies_on, 3))
                except Exception as exc:
                    out.append(exc)
        finally:
            pool.close()
        return out

    results = asyncio.run(main())
    assert [type(r) for r in results] == [
        WorkerDiedError,
        WorkerDiedError,
        ExtractionWorkersError,
        *[ExtractionWorkersError] * 2,
    ]
    assert "died 3 times" in str(results[2])


def test_an_exception_of_the_task_reaches_the_caller_as_it_was() -> None:
    (result,) = run_all(ExtractionPool(1, context="fork"), raises, [5])
    assert isinstance(result, KeyError) and "no 5" in str(result)


def test_the_workers_setting() -> None:
    assert extraction_workers(None) == default_crawl_workers() == max(0, len(os.sched_getaffinity(0)) - 1)
    assert extraction_workers("") == default_crawl_workers()
    assert extraction_workers("0") == 0
    assert extraction_workers(3) == 3
    with pytest.raises(ValueError, match=r"0 .* or more"):
        extraction_workers("-1")
    with pytest.raises(ValueError, match="whole number"):
        extraction_workers("two")


# -- crawls through the real engine --------------------------------------------------------------

#: A crawl whose workers die on pages whose URL holds ``sys.argv[1]`` (fork: the worker has the patch).
DYING = """
import os, sys
import crawler.workers, crawler.spiders.informburo as spider
crawler.workers.POOL_CONTEXT = "fork"
crawler.workers.MAX_POOL_RESTARTS = int(sys.argv[2])
real = spider.extract_article
def dies(task):
    if sys.argv[1] in task[1]:
        os._exit(9)
    return real(task)
spider.extract_article = dies
import cli
sys.exit(cli.main(sys.argv[3:]))
"""


def dying_crawl(db: Path, base_url: str, fragment: str, restarts: int = 10) -> subprocess.CompletedProcess[str]:
    args = ["crawl", "--db", str(db), "--base-url", base_url, *FAST, *ON, *STATS]
    return subprocess.run(
        [sys.executable, "-c", DYING, fragment, str(restarts), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.slow
def test_a_crawl_read_by_workers_stores_what_a_one_process_crawl_stores(site: Site, tmp_path: Path) -> None:
    pooled, alone = tmp_path / "pooled.db", tmp_path / "alone.db"
    with MirrorServer(site) as mirror:
        on = crawl(pooled, mirror.url, *ON, *STATS)
        off = crawl(alone, mirror.url, *OFF, *STATS)
    assert on.returncode == 0 and off.returncode == 0, on.stderr[-2000:] + off.stderr[-2000:]
    articles = len(rows(pooled, "SELECT url FROM articles"))
    assert articles > 10
    # every article page went to a worker (the widget answers and the rest are read in the crawl)
    assert f"'informburo/pages_read_by_workers': {articles}" in on.stderr
    assert "pages_read_by_workers" not in off.stderr
    assert article_table(pooled) == article_table(alone)
    for table, columns in {
        "article_views": "views, source",
        "most_read": "rank, emoji, title, views, comments, reactions",
        "rates": "currency, buy, sell",
        "crawl_errors": "url, stage, reason",
        "rejects": "url, field, reason",
        "crawl_runs": "status, pages, items_stored, items_rejected, errors, article_pages, fallback_pages",
    }.items():
        sql = f"SELECT {columns} FROM {table} ORDER BY {columns}"
        assert rows(pooled, sql) == rows(alone, sql), table


@pytest.mark.slow
def test_a_worker_that_dies_on_a_page_costs_that_page_only(site: Site, tmp_path: Path) -> None:
    reference, db = tmp_path / "reference.db", tmp_path / "dying.db"
    victim = plain_articles(site)[2]
    path = site.path_of(victim)
    with MirrorServer(site) as mirror:
        assert crawl(reference, mirror.url, *OFF).returncode == 0
        done = dying_crawl(db, mirror.url, path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "'informburo/extraction_worker_deaths': 1" in done.stderr
    errors = rows(db, "SELECT url, stage, reason FROM crawl_errors")
    assert [(e["url"].endswith(path), e["stage"]) for e in errors] == [(True, "parse")]
    assert "the extraction worker died reading it" in errors[0]["reason"]
    assert [r["status"] for r in rows(db, "SELECT status FROM crawl_runs")] == ["ok"]
    assert article_table(db) == [row for row in article_table(reference) if row[0] != path]


@pytest.mark.slow
def test_workers_that_keep_dying_fail_the_run_and_every_page_is_accounted_for(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "dying.db"
    with MirrorServer(site) as mirror:
        done = dying_crawl(db, mirror.url, "/", restarts=2)  # every article page kills its worker
    assert done.returncode != 0
    assert "extraction_workers_failed" in done.stderr
    (run,) = rows(db, "SELECT status FROM crawl_runs")
    assert run["status"] == "failed"
    assert rows(db, "SELECT url FROM articles") == []
    reasons = [r["reason"] for r in rows(db, "SELECT reason FROM crawl_errors WHERE stage = 'parse'")]
    assert reasons and all("died" in r for r in reasons)
    assert any("not read: the extraction workers died 3 times" in r for r in reasons)
    assert rows(db, "SELECT monitor FROM monitor_results WHERE monitor = 'finish_reason' AND passed = 0")


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc: each one's parent)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
def test_a_crawl_killed_with_minus_nine_leaves_no_worker_behind(site: Site, tmp_path: Path) -> None:
    with MirrorServer(site) as mirror:
        child = subprocess.Popen(
            [sys.executable, "-m", "cli", "crawl", "--db", str(tmp_path / "killed.db"), "--base-url", mirror.url,
             *FAST, *ON, "-s", "DOWNLOAD_DELAY=0.2"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline, workers = time.monotonic() + 30, set()
        while time.monotonic() < deadline and len(workers) < 2:  # the forkserver and its worker
            time.sleep(0.1)
            workers = descendants(child.pid)
        assert len(workers) >= 2, "no extraction worker started"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(p) for p in workers):
            time.sleep(0.1)
    assert not [p for p in workers if alive(p)], "workers outlived their crawl"


def test_a_bad_workers_setting_is_a_clear_error(tmp_path: Path) -> None:
    done = informburo(
        "crawl", "--db", str(tmp_path / "x.db"), "--base-url", "http://127.0.0.1:9", "-s", f"{WORKERS_SETTING}=-2"
    )
    assert done.returncode != 0
    assert f"{WORKERS_SETTING} must be 0" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
