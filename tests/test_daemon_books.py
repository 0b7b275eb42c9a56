"""The daemon's own books: skipped and missed fire times, start delays, its heartbeat, its log and run logs."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import scheduler
from core.clock import KZ_TZ
from core.config import load_config
from core.names import heartbeat_path
from mirror.server import MirrorServer
from mirror.site import Site
from storage.db import open_database
from tests.conftest import ROOT, daemon_config, informburo, rows, start_daemon, stop, wait_for, writer_lock_held

FAULTS = "tests.faults"
RUN_LOG_DIR, RUN_LOGS_KEPT = scheduler.RUN_LOG_DIR, scheduler.RUN_LOGS_KEPT
#: The summary line the daemon logs for each run, once it has ended.
SUMMARY = re.compile(
    r"job (\S+): done for fire time (\S+) — run (\d+) (\w+), exit code (-?\d+), [\d.]+ s: .*drift (yes|no)"
)


def seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


@dataclass
class Books:
    """One daemon's life, shared by the tests that read it (a daemon run takes ~20 s)."""

    db: Path
    log: Path
    runs: Path
    old: list[Path]  # run logs of an earlier life, oldest first
    pid: int
    returncode: int | None
    output: str
    heartbeat: dict[str, Any] | None  # as read while the daemon ran
    read_at: datetime
    beat_after_stop: bool


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> Books:
    """A rates job slow enough (the home page answers after 3 s) that its next fire times come while it
    runs, and a job (failing on the home page) queued behind it at start; stopped after two runs of the
    first and one of the second."""
    tmp_path = tmp_path_factory.mktemp("books")
    site = Site.default()
    site.faults["/"] = "slow"
    db, log = tmp_path / "books.db", tmp_path / "logs" / "daemon.log"
    runs = log.parent / RUN_LOG_DIR
    runs.mkdir(parents=True)
    old = []
    for i in range(RUN_LOGS_KEPT):
        path = runs / f"old-20240101T000000-{i}.log"
        path.write_text("x\n")
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))
        old.append(path)
    (runs / "notes.log").write_text("not a run log: never removed\n")
    open_database(db).close()  # migrated before the daemon starts: its first record is quick
    with MirrorServer(site) as mirror:
        config = daemon_config(
            tmp_path / "books.toml",
            db=db,
            base_url=mirror.url,
            log_file=log,
            settings={"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "LOG_LEVEL": "INFO"},
            jobs={
                "slow": {"task": "rates", "trigger": "interval", "seconds": 1, "misfire_grace_time": 2},
                "queued": {
                    "task": "rates",
                    "trigger": "interval",
                    "hours": 1,
                    "settings": {"SPIDER_MIDDLEWARES": {f"{FAULTS}.RaiseOnHomePage": 10}},
                },
            },
        )
        daemon = start_daemon(config)
        beat = Path(heartbeat_path(str(db)))
        try:
            wait_for(
                db,
                "SELECT job, status FROM crawl_runs",
                lambda found: (
                    sum(r["job"] == "slow" and r["status"] == "ok" for r in found) >= 2
                    and any(r["job"] == "queued" and r["status"] == "failed" for r in found)
                ),
                timeout=120,
            )
            heartbeat = json.loads(beat.read_text()) if beat.exists() else None
            read_at = datetime.now(KZ_TZ)
        finally:
            output = stop(daemon)
    return Books(db, log, runs, old, daemon.pid, daemon.returncode, output, heartbeat, read_at, beat.exists())


@pytest.mark.slow
def test_skipped_and_missed_fire_times_are_recorded_and_shown(books: Books) -> None:
    """Skipped: the job's run (or its submission waiting behind the other job) still there; missed: its
    submission started past misfire_grace_time (2 s) behind the other job's run."""
    assert books.returncode == 0, books.output
    events = rows(books.db, "SELECT * FROM scheduler_events ORDER BY id")
    assert {e["job"] for e in events} == {"slow"}, events
    skipped = [e for e in events if e["event"] == "skipped"]
    missed = [e for e in events if e["event"] == "missed"]
    assert len(skipped) >= 2 and all("still going" in e["detail"] or "waiting behind" in e["detail"] for e in skipped)
    assert missed and all("past misfire_grace_time 2 s" in e["detail"] for e in missed), missed
    assert len({e["fire_time"] for e in events}) == len(events)  # each fire time once
    status = informburo("status", "--db", str(books.db)).stdout
    line = next((x for x in status.splitlines() if x.startswith("  slow ") and "skipped" in x), None)
    counted = re.search(r"(\d+) skipped, (\d+) missed; last: (\w+) (\S+)", line or "")
    assert counted and (int(counted[1]), int(counted[2])) == (len(skipped), len(missed)), status


@pytest.mark.slow
def test_a_queued_jobs_start_delay_is_its_wait_measured_at_the_start(books: Books) -> None:
    """Not the wait plus its own run, as "started up to X s late" measured at the end was."""
    all_runs = rows(books.db, "SELECT * FROM crawl_runs ORDER BY id")
    assert all_runs[0]["job"] == "slow" and all_runs[1]["job"] == "queued", all_runs  # both fired at start
    queued = rows(books.db, "SELECT * FROM scheduler_jobs WHERE name = 'queued'")[0]
    waited = queued["start_delay"]
    assert waited is not None and waited >= 3, queued  # the slow run's 3 s home page, at least
    assert abs(waited - seconds(queued["last_fire_at"], queued["last_started_at"])) <= 1
    assert queued["last_started_at"] <= all_runs[1]["started_at"]  # the job started, then its child
    ran_for = seconds(all_runs[1]["started_at"], all_runs[1]["finished_at"])
    assert ran_for >= 3 and waited <= seconds(queued["last_fire_at"], all_runs[1]["finished_at"]) - 2.5
    status = informburo("status", "--db", str(books.db)).stdout
    assert f"{waited:.1f} s" in next(x for x in status.splitlines() if x.startswith("  queued ")), status
    text = books.log.read_text()
    assert re.search(rf"job queued: starting a rates run for fire time \S+ \({waited:.1f} s late\)", text), text


@pytest.mark.slow
def test_the_heartbeat_is_fresh_while_the_daemon_runs_and_gone_after_a_clean_stop(books: Books) -> None:
    assert books.heartbeat is not None, "no heartbeat file while the daemon ran"
    assert books.heartbeat["pid"] == books.pid, books.heartbeat
    age = (books.read_at - datetime.fromisoformat(books.heartbeat["at"])).total_seconds()
    assert 0 <= age <= scheduler.WATCH_INTERVAL + 3, books.heartbeat
    assert books.heartbeat["started_at"] <= books.heartbeat["at"]
    assert books.heartbeat["running"] in (None, "slow", "queued")
    assert not books.beat_after_stop, "the heartbeat outlived the daemon"


@pytest.mark.slow
def test_one_summary_line_per_run_and_the_full_output_in_its_run_log(books: Books) -> None:
    text = books.log.read_text()
    summaries = sorted((m for m in map(SUMMARY.search, text.splitlines()) if m), key=lambda m: int(m[3]))
    finished = [r for r in rows(books.db, "SELECT * FROM crawl_runs ORDER BY id") if r["status"] != "running"]
    assert [int(m[3]) for m in summaries] == [r["id"] for r in finished], text
    assert all(m[4] == r["status"] and m[6] == "no" for m, r in zip(summaries, finished, strict=True))
    # none of the children's INFO lines (Scrapy's start-up, its stats), but their errors, at WARNING
    assert "[scrapy.utils.log] INFO" not in text and "Dumping Scrapy stats" not in text, text
    assert re.search(r"WARNING: \[queued\] .*injected fault while reading the home page", text), text
    # each run's full output in its own file, named by its summary line
    first = next(m for m in summaries if m[1] == "slow" and m[4] == "ok")
    path = Path(re.search(rf"run {first[3]} ok.*; full log (\S+)", text)[1])
    assert path.parent == books.runs and re.fullmatch(r"slow-\d{8}T\d{6}(-\d+)?\.log", path.name), path
    full = path.read_text()
    assert "[scrapy.utils.log] INFO: Scrapy" in full and "Dumping Scrapy stats" in full
    assert f"run {first[3]} ok: " in full  # what `informburo crawl` prints on stdout


@pytest.mark.slow
def test_run_logs_beyond_the_kept_number_are_removed_oldest_first(books: Books) -> None:
    mine = [p for p in books.runs.glob("*.log") if not p.name.startswith("old-") and p.name != "notes.log"]
    finished = [r for r in rows(books.db, "SELECT * FROM crawl_runs") if r["status"] != "running"]
    assert len(finished) <= len(mine) <= len(finished) + 1, mine  # one per run (+ one stopped before its row)
    kept_old = [p for p in books.old if p.exists()]
    assert len(kept_old) + len(mine) == RUN_LOGS_KEPT
    assert kept_old == books.old[len(books.old) - len(kept_old) :]  # the newest of them
    assert (books.runs / "notes.log").exists()  # not named as a run log: never removed


def quiet_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: dict, db: Path) -> scheduler.Daemon:
    """A daemon whose serve() runs in this process: no signal handlers, no logging setup."""
    monkeypatch.setattr(scheduler, "setup_logging", lambda log_file: None)
    monkeypatch.setattr(scheduler.signal, "signal", lambda *args: None)
    config = load_config(ROOT / "config" / "informburo.toml", db=str(db))
    config.jobs = jobs
    return scheduler.Daemon(config)


@pytest.mark.slow
def test_fire_times_coalesced_after_a_pause_are_recorded_as_missed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The scheduler looked away (the machine slept): the fire times that came due at once ran as one
    run, and the others are in the books, each once, with the start delay of the one that ran."""
    db = tmp_path / "d.db"
    daemon = quiet_daemon(tmp_path, monkeypatch, {"tick": {"task": "rates", "trigger": "interval", "seconds": 0.2}}, db)
    runs: list[float] = []
    daemon.run_job = lambda name, task: runs.append(time.monotonic())  # type: ignore[method-assign]
    paused: list[float] = []

    def pause() -> None:
        daemon.scheduler.pause()
        paused.append(time.monotonic())

    threading.Timer(0.5, pause).start()
    threading.Timer(1.7, daemon.scheduler.resume).start()
    threading.Timer(2.2, daemon._stop.set).start()
    assert daemon.serve() == 0
    events = rows(db, "SELECT * FROM scheduler_events ORDER BY fire_time")
    assert len(events) >= 3 and {e["event"] for e in events} == {"missed"}, events  # ~5 came due in 1.2 s
    assert all(e["job"] == "tick" and e["detail"].startswith("coalesced: ") for e in events)
    said = [r.getMessage() for r in caplog.records if "came due together" in r.getMessage()]
    assert len(said) == 1 and f"coalesced: {len(events)} earlier fire times" in said[0], said  # each written once
    during = [t for t in runs if paused[0] < t < paused[0] + 1.1]
    assert during == [], runs  # nothing ran while paused
    job = rows(db, "SELECT * FROM scheduler_jobs")[0]
    assert job["last_fire_at"] and job["last_started_at"] and job["start_delay"] is not None
    assert not Path(heartbeat_path(str(db))).exists()


def test_a_heartbeat_that_cannot_be_written_is_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "afile").write_text("x")
    monkeypatch.setattr(scheduler, "WATCH_INTERVAL", 0.02)
    daemon = quiet_daemon(
        tmp_path, monkeypatch, {"a": {"task": "rates", "trigger": "interval", "hours": 1}}, tmp_path / "afile" / "d.db"
    )
    daemon.run_job = lambda name, task: None  # type: ignore[method-assign]
    threading.Timer(0.5, daemon._stop.set).start()
    with caplog.at_level(logging.WARNING, logger="informburo.scheduler"):
        assert daemon.serve() == 0
    said = [r.getMessage() for r in caplog.records if "heartbeat" in r.getMessage()]
    assert len(said) == 1 and "cannot write the heartbeat file" in said[0], said


def test_without_a_log_file_the_output_goes_to_the_daemons_log_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    """``log_file = ""`` (stderr only): no run log; the child's lines at DEBUG, its warnings and errors at WARNING."""
    assert scheduler.run_log_dir("") is None and scheduler.run_log_dir(None) is None
    output = scheduler.RunOutput("rates", None)
    lines = [
        "2026-01-16 12:00:00 [scrapy.utils.log] INFO: Scrapy 2.13.3 started (bot: informburo)\n",
        "2026-01-16 12:00:01 [scrapy.core.scraper] ERROR: Spider error processing <GET http://x/>: boom\n",
        "2026-01-16 12:00:01 [informburo] WARNING: layout drift: 3 of 4 article pages\n",
        "informburo: run 5 failed: the home page could not be read\n",
        "run 6 ok: 2 pages, 3 items passed the pipelines, 0 rejected\n",
        "\n",
    ]
    with caplog.at_level(logging.DEBUG, logger="informburo.scheduler"):
        for line in lines:
            output.write(line)
    output.close()
    got = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert got == [
        ("DEBUG", "[rates] " + lines[0].strip()),
        ("WARNING", "[rates] " + lines[1].strip()),
        ("WARNING", "[rates] " + lines[2].strip()),
        ("WARNING", "[rates] " + lines[3].strip()),
        ("DEBUG", "[rates] " + lines[4].strip()),
    ]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_daemon_that_fails_leaves_its_heartbeat_to_go_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exit 1 (APScheduler's thread died) is no clean stop: the file stays, and `informburo check` sees it age."""
    monkeypatch.setattr(scheduler, "WATCH_INTERVAL", 0.05)
    db = tmp_path / "d.db"
    daemon = quiet_daemon(tmp_path, monkeypatch, {"a": {"task": "rates", "trigger": "interval", "minutes": 15}}, db)
    daemon.run_job = lambda name, task: None  # type: ignore[method-assign]

    def dead(*args: object) -> float:
        raise RuntimeError("the scheduler's loop broke")

    daemon.scheduler._process_jobs = dead  # type: ignore[method-assign]
    safety = threading.Timer(5.0, daemon._stop.set)
    safety.start()
    try:
        assert daemon.serve() == 1
    finally:
        safety.cancel()
    beat = json.loads(Path(heartbeat_path(str(db))).read_text())
    assert beat["pid"] == os.getpid() and beat["running"] is None


def test_books_the_database_cannot_take_now_are_kept_for_the_next_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crawl holds the writer lock for minutes: the fire times seen meanwhile wait in memory, then are
    written once, in order, with the next record that gets the lock."""
    monkeypatch.setattr(scheduler, "RECORD_LOCK_TIMEOUT", 0.3)
    db = tmp_path / "d.db"
    daemon = quiet_daemon(tmp_path, monkeypatch, {"a": {"task": "rates", "trigger": "interval", "minutes": 15}}, db)
    daemon.schedule()
    daemon._record_jobs()
    at = datetime.now(KZ_TZ)
    daemon._note_event("a", at, "skipped", "its previous run was still going")
    with writer_lock_held(db):  # as a crawl holds it
        daemon._record_jobs()  # the lock is busy: nothing written, nothing lost
        assert rows(db, "SELECT * FROM scheduler_events") == []
        daemon._note_event("a", at + timedelta(minutes=15), "missed", "400 s late, past misfire_grace_time 300 s")
    daemon._record_jobs()
    daemon._record_jobs()
    events = rows(db, "SELECT job, event, fire_time FROM scheduler_events ORDER BY id")
    assert [(e["job"], e["event"]) for e in events] == [("a", "skipped"), ("a", "missed")]


@pytest.mark.slow
def test_the_daemon_runs_the_checks_across_runs_on_its_own_schedule(tmp_path: Path) -> None:
    """``[monitors] check_minutes``: the daemon runs ``informburo check``'s checks itself, records their
    verdicts (run_id NULL) and logs them, between its crawls."""
    db, log = tmp_path / "checked.db", tmp_path / "daemon.log"
    with MirrorServer(Site.default()) as mirror:
        config = daemon_config(
            tmp_path / "checked.toml",
            db=db,
            base_url=mirror.url,
            log_file=log,
            settings={"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False},
            monitors={"check_minutes": 0.05},  # every 3 s
            jobs={"rates": {"task": "rates", "trigger": "interval", "hours": 1}},
        )
        daemon = start_daemon(config)
        try:
            found = wait_for(
                db,
                "SELECT monitor, passed FROM monitor_results WHERE run_id IS NULL",
                lambda rows: any(r["monitor"] == "heartbeat" for r in rows),
                timeout=60,
            )
        finally:
            stop(daemon)
    assert {r["monitor"] for r in found} >= {"quiet_site", "disk_free", "heartbeat", "lock_held"}
    assert any(r["monitor"] == "heartbeat" and r["passed"] for r in found)  # its own heartbeat is fresh
    assert re.search(r"\[informburo\.scheduler\] (INFO|WARNING): checks: ", log.read_text())
    assert rows(db, "SELECT name FROM scheduler_jobs") == [{"name": "rates"}]  # not a job of the config
