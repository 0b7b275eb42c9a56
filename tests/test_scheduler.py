"""The daemon: schedule configuration, repeated runs in child processes, clean stop on SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.base import BaseTrigger

import scheduler
from core.clock import KZ_TZ
from core.config import DEFAULT_JOBS, load_config
from mirror.server import MirrorServer
from tests.conftest import ROOT, daemon_config, ended, rows, start_daemon, stop, wait_for

SHIPPED_CONFIG = ROOT / "config" / "informburo.toml"


def test_shipped_config_is_the_default_schedule() -> None:
    config = load_config(SHIPPED_CONFIG)
    assert config.jobs == DEFAULT_JOBS
    assert config.base_url == "https://informburo.kz" and config.db == "data/informburo.db"


def test_command_line_values_override_the_config() -> None:
    config = load_config(SHIPPED_CONFIG, db="x.db", base_url="http://127.0.0.1:9")
    assert (config.db, config.base_url) == ("x.db", "http://127.0.0.1:9")
    command = scheduler.crawl_command(config, "rates")
    assert command[-6:] == ["--db", "x.db", "--base-url", "http://127.0.0.1:9", "--only", "rates"]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[jobs.a]\ntrigger = "hourly"\n', "trigger must be"),
        ('[jobs.a]\ntrigger = "interval"\ntask = "everything"\n', "task must be one of"),
        ('[jobs.a]\ntrigger = "interval"\nminuets = 5\n', "job a"),
        ('[jobs.a]\ntrigger = "cron"\nminute = "*/99"\n', "job a: .*step value"),
        ('dbb = "x.db"\n', "unknown top-level keys: dbb"),
    ],
)
def test_bad_config_is_refused_with_the_reason(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ValueError, match=message):
        load_config(path)


@pytest.mark.slow
def test_daemon_runs_on_schedule_and_stops_cleanly_on_sigterm(tmp_path: Path, mirror: MirrorServer) -> None:
    db = tmp_path / "daemon.db"
    config = daemon_config(
        tmp_path / "fast.toml",
        db=db,
        base_url=mirror.url,
        settings={"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": "False", "LOG_LEVEL": "WARNING"},
        jobs={"everything": {"task": "all", "trigger": "interval", "seconds": 2}},
    )
    daemon = start_daemon(config)
    try:
        wait_for(db, "SELECT * FROM crawl_runs WHERE status = 'ok'", lambda found: len(found) >= 2, 90)
    finally:
        output = stop(daemon)
    assert daemon.returncode == 0, output
    assert "job everything (interval[0:00:02]): next run at" in output and "stopped" in output
    statuses = {r["status"] for r in rows(db, "SELECT status FROM crawl_runs")}
    assert statuses <= {"ok", "interrupted"}  # a run caught by SIGTERM closes as interrupted
    assert len(rows(db, "SELECT url FROM articles")) == len(set(r["url"] for r in rows(db, "SELECT url FROM articles")))


@pytest.mark.slow
def test_fire_times_missed_while_paused_are_coalesced_into_one_run(tmp_path: Path, mirror: MirrorServer) -> None:
    db, log = tmp_path / "pause.db", tmp_path / "pause.log"
    config = daemon_config(
        tmp_path / "pause.toml",
        db=db,
        base_url=mirror.url,
        log_file=str(log),
        settings={"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "LOG_LEVEL": "WARNING"},
        jobs={"rates": {"task": "rates", "trigger": "interval", "seconds": 2, "misfire_grace_time": 120}},
    )
    daemon = start_daemon(config)
    try:
        # pause only once the first job is done (its run's row is closed before its child exits and
        # the scheduler hears of it), so the paused fire times are coalesced, not skipped as running
        deadline = time.monotonic() + 60
        while "job rates: done for fire time" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the first run never ended"
            time.sleep(0.05)
        daemon.send_signal(signal.SIGSTOP)  # the machine sleeps: three fire times pass unseen
        paused_at = datetime.now(KZ_TZ)
        time.sleep(7)
        before = len(rows(db, "SELECT id FROM crawl_runs"))
        daemon.send_signal(signal.SIGCONT)
        # the coalesced run, and the one scheduled after it, however slow this machine is today
        wait_for(db, "SELECT id FROM crawl_runs WHERE status = 'ok'", lambda found: len(found) >= before + 2, 90)
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=60)
    finally:
        ended(daemon)
    output = log.read_text()
    assert daemon.returncode == 0, output
    fire_times = [
        datetime.fromisoformat(line.split("done for fire time ")[1].split(" ")[0])
        for line in output.splitlines()
        if "job rates: done for fire time" in line
    ]
    during_pause = [t for t in fire_times if paused_at < t < paused_at + timedelta(seconds=7)]
    # Without coalescing, each of the ~3 missed fire times would run back to back; with it, one run stands for all.
    assert len(during_pause) == 1, output


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("jobs = 5\n", "jobs must be a table"),
        ("[jobs]\na = 3\n", "job a must be a .jobs.<name>. table"),
        ("[jobs]\n", "no .jobs.<name>. table"),
        ('[jobs.a]\ntrigger = "interval"\nminutes = 1\njitter = "abc"\n', "job a: jitter must be a number"),
        ('[jobs.a]\ntrigger = "interval"\nminutes = 1\nmisfire_grace_time = "x"\n', "job a: misfire_grace_time"),
        (
            '[jobs.a]\ntrigger = "interval"\nminutes = 1\nmisfire_grace_time = 0\n',
            "misfire_grace_time must be at least",
        ),
        ('[jobs.a]\ntrigger = "interval"\nminutes = -5\n', "job a: the interval must be positive"),
        ('[jobs.a]\ntrigger = "cron"\nday = 31\nmonth = 2\n', "job a: its trigger never fires"),
        ('[jobs.a]\ntrigger = "interval"\nminutes = "15"\n', "job a: "),
        ('[jobs.a]\ntask = 5\ntrigger = "interval"\nminutes = 1\n', "task must be one of"),
        ('[jobs.a]\ntrigger = "interval"\nminutes = 1\nsettings = 3\n', "job a: settings must be a table"),
        ('run_timeout = "abc"\n', "run_timeout must be a number"),
        ("grace_period = -1\n", "grace_period must be at least 0"),
        ("download_delay = true\n", "download_delay must be a number"),
        ("concurrent_requests_per_host = 1.5\n", "concurrent_requests_per_host must be a whole number"),
        ("settings = 3\n", "settings must be a table"),
        ("db = 5\n", "db must be a string"),
        ('base_url = "ftp://x"\n', "base URL must be an absolute http"),
        ('redis_url = "http://x"\n', "redis_url must start with"),
        ('log_file = "{tmp}/afile/informburo.log"\n', "log_file .*afile is not a directory"),
        ('log_file = "{tmp}"\n', "log_file .* is a directory"),
        ("x = \n", "not valid TOML"),
    ],
)
def test_every_key_of_the_config_is_checked_at_load(tmp_path: Path, toml: str, message: str) -> None:
    """A config that passes load_config never fails later: not as a traceback, not in the daemon's thread."""
    (tmp_path / "afile").write_text("x")
    path = tmp_path / "bad.toml"
    path.write_text(toml.replace("{tmp}", str(tmp_path)))
    with pytest.raises(ValueError, match=message):
        load_config(path)


def test_a_log_file_that_cannot_be_opened_is_a_config_error(tmp_path: Path) -> None:
    """The default log_file (not checked at load, as every command has it) in a place that cannot hold it."""
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="cannot open the log file"):
        scheduler.setup_logging(str(tmp_path / "afile" / "informburo.log"))


def test_an_exception_in_a_job_is_logged_once_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_child(*args: object) -> list[str]:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(scheduler, "crawl_command", no_child)
    config = load_config(SHIPPED_CONFIG, db=str(tmp_path / "d.db"))
    assert scheduler.Daemon(config).run_job("rates", "rates") is None  # not raised: APScheduler would log it again
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "job rates: the run could not be made: OSError: [Errno 24] Too many open files"
    ]


class FailingTrigger(BaseTrigger):
    """A trigger that fails whenever it is asked, as ``jitter = "abc"`` did in APScheduler's thread."""

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        raise TypeError("unsupported operand type(s) for -: 'str' and 'int'")


def quiet_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: dict) -> scheduler.Daemon:
    """A daemon whose serve() runs in this process: no signal handlers, no logging setup, no children."""
    monkeypatch.setattr(scheduler, "setup_logging", lambda log_file: None)
    monkeypatch.setattr(scheduler.signal, "signal", lambda *args: None)
    config = load_config(SHIPPED_CONFIG, db=str(tmp_path / "d.db"))
    config.jobs = jobs
    return scheduler.Daemon(config)


def test_a_trigger_failing_in_the_scheduler_thread_ends_its_job_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    good = {"task": "rates", "trigger": "interval", "seconds": 0.05}
    daemon = quiet_daemon(tmp_path, monkeypatch, {"bad": dict(good), "good": dict(good)})
    real = scheduler.make_trigger
    monkeypatch.setattr(
        scheduler, "make_trigger", lambda name, spec: FailingTrigger() if name == "bad" else real(name, spec)
    )
    runs: list[str] = []
    daemon.run_job = lambda name, task: runs.append(name)  # type: ignore[method-assign]
    threading.Timer(0.6, daemon._stop.set).start()
    assert daemon.serve() == 0
    assert runs.count("bad") == 1  # its run at start; then its trigger failed
    assert runs.count("good") >= 5, runs  # the schedule went on
    failed = [r.getMessage() for r in caplog.records if "its trigger failed" in r.getMessage()]
    assert failed == ["job bad: its trigger failed (TypeError: unsupported operand type(s) for -: 'str' and 'int'):"
                      " no further runs of this job"]  # fmt: skip


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_daemon_exits_1_when_the_scheduler_thread_dies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never up and idle: whatever kills APScheduler's thread, the daemon exits 1 and systemd restarts it."""
    monkeypatch.setattr(scheduler, "WATCH_INTERVAL", 0.05, raising=False)
    daemon = quiet_daemon(tmp_path, monkeypatch, {"a": {"task": "rates", "trigger": "interval", "minutes": 15}})
    daemon.run_job = lambda name, task: None  # type: ignore[method-assign]

    def dead(*args: object) -> float:
        raise RuntimeError("the scheduler's loop broke")

    daemon.scheduler._process_jobs = dead  # type: ignore[method-assign]
    safety = threading.Timer(5.0, daemon._stop.set)  # the daemon before this change waited for ever
    safety.start()
    try:
        assert daemon.serve() == 1
    finally:
        safety.cancel()
