"""The daemon: schedule configuration, repeated runs in child processes, clean stop on SIGTERM."""

from __future__ import annotations

import signal
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

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
    db = tmp_path / "pause.db"
    config = daemon_config(
        tmp_path / "pause.toml",
        db=db,
        base_url=mirror.url,
        log_file="",
        settings={"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "LOG_LEVEL": "WARNING"},
        jobs={"rates": {"task": "rates", "trigger": "interval", "seconds": 2, "misfire_grace_time": 120}},
    )
    daemon = start_daemon(config)
    try:
        wait_for(db, "SELECT id FROM crawl_runs WHERE status = 'ok'", bool, 60)
        time.sleep(0.5)
        daemon.send_signal(signal.SIGSTOP)  # the machine sleeps: three fire times pass unseen
        paused_at = datetime.now(KZ_TZ)
        time.sleep(7)
        daemon.send_signal(signal.SIGCONT)
        time.sleep(6)
        daemon.send_signal(signal.SIGTERM)
        output, _ = daemon.communicate(timeout=60)
    finally:
        ended(daemon)
    assert daemon.returncode == 0, output
    fire_times = [
        datetime.fromisoformat(line.split("done for fire time ")[1].split(" ")[0])
        for line in output.splitlines()
        if "job rates: done for fire time" in line
    ]
    during_pause = [t for t in fire_times if paused_at < t < paused_at + timedelta(seconds=7)]
    # Without coalescing, each of the ~3 missed fire times would run back to back; with it, one run stands for all.
    assert len(during_pause) == 1, output
