"""``informburo reparse --workers N``: pages read in worker processes, stored in fetch order by one writer.

A pooled reparse must leave every table exactly as a one-process reparse of the same database and
archive leaves it (ids, order of writes and recorded problems included); a worker that dies is a
recorded problem of the page it was reading, never a lost page or a hung run; and the pool is gone
on every way out (done, failed, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import crawler.workers
import jobs.reparse
from crawler.workers import ExtractionWorkersError
from jobs.reparse import RawPage, Read, reparse
from mirror.server import MirrorServer
from mirror.site import Site
from tests import test_reparse as one_process
from tests.conftest import crawl, informburo, rows
from tests.test_history import RECHECK
from tests.test_reparse import BASE, Tables, differences, edited, every_table

history = one_process.history  # the fixture: four runs, several versions, rejected and unreadable pages

#: Long enough for a reparse of the fixture's 23 pages with a pool start, short enough to call a hang a hang.
HANG = 60


@contextmanager
def deadline(seconds: int = HANG) -> Iterator[None]:
    """Fail the test, rather than hang the suite, if the block runs past ``seconds``."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"still running after {seconds} s: a hung reparse")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def copy_of(db: Path, to: Path) -> Path:
    """A copy of the database and its archive (WAL files included) in ``to``."""
    to.mkdir()
    for path in db.parent.iterdir():
        if path.name.startswith(db.stem) and not path.name.endswith(".lock"):
            shutil.copy2(path, to / path.name)
    return to / db.name


def all_tables(db: Path) -> Tables:
    """Every row of every table in ``rowid`` order (the order of the writes), but the clock: when the reparse
    runs started and ended, and when they met a problem of their own (two runs never share a second)."""
    conn = sqlite3.connect(db)
    try:
        names = sorted(name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        runs = {run for (run,) in conn.execute("SELECT id FROM crawl_runs WHERE job = 'reparse'")}
        found: Tables = {}
        for name in names:
            cursor = conn.execute(f'SELECT * FROM "{name}"')
            columns = [d[0] for d in cursor.description]
            table = cursor.fetchall()
            if name in ("crawl_runs", "crawl_errors"):
                run = columns.index("id" if name == "crawl_runs" else "run_id")
                clock = {i for i, c in enumerate(columns) if c.endswith("_at")}
                table = [tuple(None if i in clock and r[run] in runs else v for i, v in enumerate(r)) for r in table]
            found[name] = table
        return found
    finally:
        conn.close()


def emptied(db: Path) -> None:
    """Drop every article and version, so the reparse writes all of them (ids in the order it stores)."""
    conn = sqlite3.connect(db)
    conn.executescript("DELETE FROM article_versions; DELETE FROM articles;")
    conn.close()


def pooled_and_one_process(db: Path, tmp_path: Path, **options: Any) -> tuple[Any, Any, Tables, Tables]:
    """Reparse two copies of ``db``, with a pool of 2 and in this process: both outcomes and tables."""
    alone, pooled = copy_of(db, tmp_path / "alone"), copy_of(db, tmp_path / "pooled")
    one = reparse(alone, workers=0, **options)
    with deadline():
        two = reparse(pooled, workers=2, **options)
    return one, two, all_tables(alone), all_tables(pooled)


@pytest.mark.parametrize("chunk", [1, 3, jobs.reparse.POOL_CHUNK])
@pytest.mark.parametrize("start", ["as stored", "emptied"])
def test_a_pooled_reparse_leaves_every_table_as_a_one_process_reparse(
    history: dict[str, dict[str, Any]],
    db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
    start: str,
) -> None:
    """The fixture's history (versions, rejected, unreadable pages), as stored or with every article to rebuild."""
    monkeypatch.setattr(jobs.reparse, "POOL_CHUNK", chunk)  # tasks of one page to several URLs
    if start == "emptied":
        emptied(db)
    one, two, alone, pooled = pooled_and_one_process(db, tmp_path)
    assert one == two
    assert (two.pages, two.stored, two.rejected, two.unreadable) == (23, 19, 4, 1)
    if start == "emptied":  # the pool had something to write: every version, in fetch order
        assert two.versions_rebuilt == len(pooled["article_versions"]) > len(pooled["articles"]) > 5
    assert differences(alone, pooled) == {}
    assert alone == pooled  # the same rows in the same order: written in the same order


def test_a_pooled_reparse_since_a_date_matches_too(
    history: dict[str, dict[str, Any]], db: Path, tmp_path: Path
) -> None:
    one, two, alone, pooled = pooled_and_one_process(db, tmp_path, since=one_process.T3)
    assert one == two and two.pages == 7 + 1
    assert alone == pooled


def test_an_unreadable_archive_row_is_recorded_in_its_turn(site: Site, db: Path, tmp_path: Path) -> None:
    """A URL whose pages cannot be loaded is recorded when its turn comes, between the URLs around it."""
    a = site.articles
    one_process.collect(db, one_process.T1, [one_process.page(site, x) for x in (a[1], a[3], a[6])])
    emptied(db)
    with jobs.reparse.Archive(jobs.reparse.archive_path(db)) as archive:
        archive.conn.execute("UPDATE raw_pages SET body = x'00ff00ff' WHERE url = ?", (BASE + site.path_of(a[3]),))
    one, two, alone, pooled = pooled_and_one_process(db, tmp_path)
    assert one == two and two.pages == 2
    assert [r[3] for r in pooled["crawl_errors"]] == ["parse"]
    assert alone == pooled


# --- workers that die ---


def dies_on(fragment: str) -> Any:
    """A ``read_page`` that kills its worker process on the page whose URL contains ``fragment``."""
    read_page = jobs.reparse.read_page

    def reading(page: RawPage, seq: int = 0) -> Read:
        if fragment in page.url and os.getpid() != PARENT:
            os._exit(7)  # as a segfault in C would: no exception, no result, the process gone
        return read_page(page, seq)

    return reading


PARENT = os.getpid()


@pytest.fixture
def forked_workers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Workers forked from the test (so they run a patched ``read_page``); the ids of every worker started."""
    monkeypatch.setattr(jobs.reparse, "POOL_CONTEXT", "fork")
    started: list[int] = []
    stop = crawler.workers.stop_pool

    def stopping(executor: Any, *, wait: bool) -> None:
        started.extend((getattr(executor, "_processes", None) or {}).keys())
        stop(executor, wait=wait)

    monkeypatch.setattr(crawler.workers, "stop_pool", stopping)
    return started


def all_gone(pids: list[int]) -> bool:
    """Whether every one of ``pids`` has exited (and been reaped)."""
    time.sleep(0.2)
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        return False
    return True


def test_a_worker_that_dies_is_a_recorded_problem_of_its_page_and_the_run_goes_on(
    history: dict[str, dict[str, Any]],
    site: Site,
    db: Path,
    monkeypatch: pytest.MonkeyPatch,
    forked_workers: list[int],
) -> None:
    """The worker dies on the second page of ``grows``: that page is recorded, every other one stored."""
    grows = history["grows"]
    before = every_table(db)
    monkeypatch.setattr(jobs.reparse, "read_page", dies_on(site.path_of(grows)))
    monkeypatch.setattr(jobs.reparse, "POOL_CHUNK", 4)
    with deadline():
        outcome = reparse(db, workers=2)
    # every page accounted for: grows's three pages were the ones that killed a worker, each recorded once
    assert (outcome.pages, outcome.stored, outcome.rejected, outcome.unreadable) == (23, 19 - 3, 4 + 3, 1 + 3)
    after = every_table(db, outcome.run_id)
    errors = rows(db, "SELECT url, stage, reason, captured_at FROM crawl_errors WHERE run_id = ?", (outcome.run_id,))
    assert errors == [
        {
            "url": BASE + site.path_of(grows),
            "stage": "parse",
            "reason": "the extraction worker died reading it: BrokenProcessPool",
            "captured_at": at,
        }
        for at in (one_process.T1, one_process.T2, one_process.T3)
    ]
    assert differences(before, {**after, "crawl_errors": before["crawl_errors"]}) == {}  # its versions all kept
    assert rows(db, "SELECT status FROM crawl_runs WHERE id = ?", (outcome.run_id,)) == [{"status": "ok"}]
    assert forked_workers and all_gone(forked_workers)


def test_workers_that_keep_dying_fail_the_run_cleanly(
    history: dict[str, dict[str, Any]], db: Path, monkeypatch: pytest.MonkeyPatch, forked_workers: list[int]
) -> None:
    before = every_table(db)
    monkeypatch.setattr(jobs.reparse, "read_page", dies_on(BASE))  # every page
    monkeypatch.setattr(crawler.workers, "MAX_POOL_RESTARTS", 3)
    with deadline(), pytest.raises(ExtractionWorkersError, match="died 4 times"):
        reparse(db, workers=2)
    run = rows(db, "SELECT id, status FROM crawl_runs ORDER BY id DESC LIMIT 1")[0]
    assert run["status"] == "failed"
    after = every_table(db, run["id"])
    assert differences(before, {**after, "crawl_errors": before["crawl_errors"]}) == {}  # nothing lost
    assert forked_workers and all_gone(forked_workers)


@pytest.mark.parametrize("how", ["Ctrl-C", "SIGTERM"])
def test_an_interrupted_pooled_reparse_closes_its_run_and_its_pool(
    history: dict[str, dict[str, Any]],
    db: Path,
    monkeypatch: pytest.MonkeyPatch,
    forked_workers: list[int],
    how: str,
) -> None:
    def progress(done: int, total: int) -> None:
        if done >= 5:
            if how == "Ctrl-C":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the signal arrives first

    handler = signal.getsignal(signal.SIGTERM)
    with deadline(), pytest.raises(KeyboardInterrupt):
        reparse(db, workers=2, progress=progress)
    assert signal.getsignal(signal.SIGTERM) == handler  # put back
    assert rows(db, "SELECT status FROM crawl_runs ORDER BY id DESC LIMIT 1") == [{"status": "interrupted"}]
    assert forked_workers and all_gone(forked_workers)


# --- the real thing: crawls of the mirror, the command line, the default start method ---


@pytest.mark.slow
def test_the_command_with_workers_rebuilds_real_crawls_as_one_process_does(
    site: Site, db: Path, tmp_path: Path
) -> None:
    grows = site.articles[1]
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url).returncode == 0
        grows.update(edited(grows, "Обновлено: история выросла вдвое.", longer=6))
        site.faults[site.path_of(site.articles[4])] = "truncated"
        assert crawl(db, mirror.url, *RECHECK).returncode == 0
    emptied(db)
    alone, pooled = copy_of(db, tmp_path / "alone"), copy_of(db, tmp_path / "pooled")
    results = [informburo("reparse", "--db", str(path), "--workers", n) for path, n in ((alone, "0"), (pooled, "2"))]
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    assert results[0].stdout == results[1].stdout
    assert all_tables(alone) == all_tables(pooled)
    assert len(rows(pooled, "SELECT id FROM article_versions")) > len(rows(pooled, "SELECT url FROM articles"))


def test_the_default_is_a_worker_per_core_and_none_on_one_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer mostly waits for reads, so every core reads; on one core a worker would only add the round trip."""
    for cores, workers in ((1, 0), (2, 2), (8, 8)):
        monkeypatch.setattr(jobs.reparse, "usable_cores", lambda cores=cores: cores)
        assert jobs.reparse.default_workers() == workers
