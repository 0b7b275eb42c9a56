"""Leaving it running: failing and hanging runs, one writer at a time, signals, kills, restarts."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest

from mirror.server import MirrorServer
from storage.lock import WriterLock
from tests.conftest import FAST, ROOT, crawl, daemon_config, informburo, rows, start_daemon, stop, wait_for
from tests.test_end_to_end import expected_articles

pytestmark = pytest.mark.slow  # the daemon and crawls, as child processes

FAULTS = "tests.faults"


def test_a_crashing_and_a_hanging_run_fail_while_the_schedule_goes_on(tmp_path: Path, mirror: MirrorServer) -> None:
    db, log = tmp_path / "d.db", tmp_path / "d.log"
    config = daemon_config(
        tmp_path / "faults.toml",
        db=db,
        base_url=mirror.url,
        run_timeout=6,
        log_file=log,
        settings={"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "LOG_LEVEL": "WARNING"},
        jobs={
            "crash": {
                "task": "rates",
                "trigger": "interval",
                "seconds": 2,
                "settings": {"SPIDER_MIDDLEWARES": {f"{FAULTS}.RaiseOnHomePage": 10}},
            },
            "hang": {
                "task": "rates",
                "trigger": "interval",
                "seconds": 30,
                "settings": {"SPIDER_MIDDLEWARES": {f"{FAULTS}.HangOnEveryPage": 10}},
            },
            "fine": {"task": "rates", "trigger": "interval", "seconds": 2},
        },
    )
    daemon = start_daemon(config)
    try:
        wait_for(
            db,
            "SELECT job, status FROM crawl_runs",
            lambda found: (
                {"hang"} <= {r["job"] for r in found if r["status"] == "failed"}
                and sum(r["job"] == "crash" and r["status"] == "failed" for r in found) >= 2
                and sum(r["job"] == "fine" and r["status"] == "ok" for r in found) >= 2
                # the schedule goes on after the hang was killed
                and any(
                    r["job"] == "fine" and r["status"] == "ok"
                    for r in found[[x["job"] for x in found].index("hang") + 1 :]
                )
            ),
            timeout=120,
        )
    finally:
        output = stop(daemon)
    assert daemon.returncode == 0, output
    assert "job hang: run exceeded 6s; killing it" in output and "marked 1 run(s) failed" in output
    summaries = re.findall(r"job crash: done for fire time \S+ — run \d+ failed, exit code 1,", log.read_text())
    assert len(summaries) >= 2  # one summary line per run, in the rotating log file
    runs = rows(db, "SELECT * FROM crawl_runs ORDER BY id")
    assert all(r["finished_at"] for r in runs if r["status"] != "running")
    for job in ("crash", "fine"):  # max_instances=1 and one child at a time: runs of a job never overlap
        mine = [r for r in runs if r["job"] == job and r["finished_at"]]
        assert all(a["finished_at"] <= b["started_at"] for a, b in pairwise(mine))
    crash_errors = rows(
        db, "SELECT reason FROM crawl_errors WHERE run_id IN (SELECT id FROM crawl_runs WHERE job = 'crash')"
    )
    assert crash_errors and all("injected fault" in e["reason"] for e in crash_errors)
    # the killed run is judged as a run that closed itself would be (no store closed it)
    (hang,) = [r["id"] for r in runs if r["job"] == "hang"]
    verdicts = rows(db, "SELECT monitor, passed FROM monitor_results WHERE run_id = ?", (hang,))
    assert {"monitor": "run_failed", "passed": 0} in verdicts
    jobs = {r["name"]: r for r in rows(db, "SELECT * FROM scheduler_jobs")}
    assert set(jobs) == {"crash", "hang", "fine"} and all(j["next_run_at"] for j in jobs.values())
    status = informburo("status", "--db", str(db))
    for job in ("crash", "hang", "fine"):
        assert any(line.startswith(f"  {job} ") for line in status.stdout.splitlines()), status.stdout


def test_a_second_writer_waits_then_exits_75(mirror: MirrorServer, db: Path) -> None:
    with WriterLock(db, timeout=1):
        started = time.monotonic()
        result = crawl(db, mirror.url, "-s", "INFORMBURO_LOCK_TIMEOUT=2")
        waited = time.monotonic() - started
    assert result.returncode == 75
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"informburo: another collection is writing to {db}; gave up after 2 s"
    )
    assert waited >= 2
    assert not db.exists() or rows(db, "SELECT * FROM crawl_runs") == []
    assert crawl(db, mirror.url).returncode == 0  # once the lock is free, the run goes ahead


def test_two_crawls_at_once_one_runs_the_other_waits_it_out(mirror: MirrorServer, db: Path) -> None:
    slow = ["-s", "DOWNLOAD_DELAY=0.3"]
    first = subprocess.Popen(
        [sys.executable, "-m", "cli", "crawl", "--db", str(db), "--base-url", mirror.url, *FAST, *slow],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    wait_for(db, "SELECT status FROM crawl_runs", lambda found: [r["status"] for r in found] == ["running"], 30)
    second = crawl(db, mirror.url, "-s", "INFORMBURO_LOCK_TIMEOUT=60")
    assert first.wait(timeout=60) == 0 and second.returncode == 0, second.stderr
    runs = rows(db, "SELECT id, started_at, finished_at, status FROM crawl_runs ORDER BY id")
    assert [r["status"] for r in runs] == ["ok", "ok"] and runs[0]["finished_at"] <= runs[1]["started_at"]


def test_sigterm_during_a_crawl_interrupts_it_cleanly(tmp_path: Path, mirror: MirrorServer) -> None:
    db = tmp_path / "t.db"
    config = daemon_config(
        tmp_path / "slow.toml",
        db=db,
        base_url=mirror.url,
        log_file="",
        settings={"DOWNLOAD_DELAY": 0.5, "AUTOTHROTTLE_ENABLED": False, "LOG_LEVEL": "INFO"},
        jobs={"all": {"task": "all", "trigger": "interval", "hours": 1}},
    )
    daemon = start_daemon(config)
    try:
        wait_for(db, "SELECT count(*) AS n FROM articles", lambda found: found and found[0]["n"] >= 2, 60)
    finally:
        output = stop(daemon)
    assert daemon.returncode == 0, output
    runs = rows(db, "SELECT status, finished_at FROM crawl_runs")
    assert [r["status"] for r in runs] == ["interrupted"] and runs[0]["finished_at"]
    stored = rows(db, "SELECT * FROM articles")
    assert 2 <= len(stored) < len(expected_articles(mirror.site))
    assert all(r["title"] and r["body"] and r["published_at"] for r in stored)  # no partial row
    assert rows(db, "SELECT count(*) AS n FROM article_versions")[0]["n"] == len(stored)


def test_sigkill_mid_crawl_then_the_next_run_completes_it(mirror: MirrorServer, db: Path) -> None:
    victim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "crawl",
            "--db",
            str(db),
            "--base-url",
            mirror.url,
            *FAST,
            "-s",
            "DOWNLOAD_DELAY=0.3",
        ],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    wait_for(db, "SELECT count(*) AS n FROM articles", lambda found: found and found[0]["n"] >= 2, 60)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert [r["status"] for r in rows(db, "SELECT status FROM crawl_runs")] == ["running"]
    assert crawl(db, mirror.url).returncode == 0
    assert [r["status"] for r in rows(db, "SELECT status FROM crawl_runs ORDER BY id")] == ["interrupted", "ok"]
    urls = [r["url"] for r in rows(db, "SELECT url FROM articles")]
    assert len(urls) == len(set(urls)) == len(expected_articles(mirror.site))
