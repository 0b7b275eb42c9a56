"""``informburo check``: the checks across runs for cron and supervisors, exit 0 / 1 / 2 as monitoring
plugins have them, the open incidents of runs, alerts, and a clear line for a bad configuration."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

import cli
import jobs.check
from core.clock import KZ_TZ, as_kz, now_kz
from core.config import load_config
from core.names import heartbeat_path
from jobs.check import run_checks
from mirror.server import MirrorServer
from monitoring.incidents import judge_run_id
from storage import ledger
from storage.db import open_database
from tests.conftest import crawl, rows, writer_lock_held
from tests.test_monitors import Webhook


def config_file(path: Path, db: Path, text: str = "") -> Path:
    path.write_text(f'db = "{db}"\nlog_file = ""\n{text}', encoding="utf-8")
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database with one clean run and nothing else: every check passes."""
    path = tmp_path / "informburo.db"
    database = open_database(path)
    try:
        run_id = ledger.start_run(database, now_kz(), parts="articles,most_read,rates")
        ledger.finish_run(database, run_id, status="ok", finished_at=now_kz(), pages=3)
    finally:
        database.close()
    return path


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = cli.main(["check", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_all_is_well_exit_0(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = check(capsys, "--db", str(db))
    assert code == 0 and len(lines) == 1 and lines[0].startswith("OK: ") and "no incident open" in lines[0]
    recorded = rows(db, "SELECT monitor, passed FROM monitor_results WHERE run_id IS NULL")
    assert {r["monitor"] for r in recorded} >= {"quiet_site", "disk_free", "heartbeat", "lock_held"}
    assert all(r["passed"] for r in recorded)


def test_a_warning_exits_1_and_a_critical_2_the_worst_wins(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = config_file(tmp_path / "small.toml", db, "[monitors]\ndb_size_limit_mb = 0.001\n")
    code, lines, _ = check(capsys, "--config", str(small))
    assert code == 1 and len(lines) == 1 and lines[0].startswith("WARNING db_size: database 0 MB of 0.001 MB"), lines
    stale = (datetime.now(KZ_TZ) - timedelta(minutes=10)).isoformat(timespec="seconds")
    Path(heartbeat_path(str(db))).write_text(json.dumps({"pid": 4242, "at": stale, "running": None}))
    code, lines, _ = check(capsys, "--config", str(small))
    assert code == 2, lines
    assert [line.split(":")[0] for line in lines] == ["WARNING db_size", "CRITICAL heartbeat"]
    assert "daemon pid 4242: last heartbeat 10 min ago" in lines[1]
    # a job the daemon recorded, whose runs stopped succeeding, is overdue now that a heartbeat exists
    database = open_database(db)
    ledger.record_jobs(database, [{"name": "articles", "task": "articles", "trigger": "interval", "next_run_at": None}])
    database.execute("UPDATE crawl_runs SET job = 'articles', started_at = '2026-01-01T00:00:00+05:00'")
    database.close()
    code, lines, _ = check(capsys, "--config", str(small))
    assert any(line.startswith("CRITICAL job_overdue: job articles: no ok run since 2026-01-01") for line in lines)


def test_an_open_incident_of_a_run_is_reported_until_it_recovers(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = open_database(db)
    run_id = ledger.start_run(database, now_kz(), parts="most_read")
    ledger.record_error(database, run_id, "http://x/", "start", "HTTP 503")
    ledger.finish_run(database, run_id, status="failed", finished_at=now_kz())
    judge_run_id(database, run_id)
    database.close()
    code, lines, _ = check(capsys, "--db", str(db))
    assert code == 2
    assert lines == [
        f"CRITICAL run_failed/most_read: run {run_id} ended failed: HTTP 503 (since run {run_id} at"
        f" {rows(db, 'SELECT started_at FROM incidents')[0]['started_at']}, 1 failed run, last good run none)"
    ]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[alerts]\nurls = 5\n", "[alerts] urls: expected a list of URLs, got 5"),
        ('[alerts]\ncritical = ["not a url"]\n', "[alerts] critical[0]: 'not a url' is not a URL"),
        ("[alerts]\npagers = []\n", "[alerts] unknown key 'pagers'"),
        ('[monitors]\npage_errors_percent = "20"\n', "[monitors] page_errors_percent must be a number"),
        ("[monitors]\npage_errors_percent = 120\n", "[monitors] page_errors_percent must be at most 100"),
        ("[monitors]\nquite_hours = 3\n", "[monitors]: unknown keys: quite_hours"),
        ('[monitors]\npublishing_hours = "23:00-06:00"\n', "[monitors] publishing_hours must be"),
        ("[monitors]\nrejects = -1\n", "[monitors] rejects must be a whole number of at least 0"),
    ],
)
@pytest.mark.parametrize("command", ["check", "crawl"])
def test_a_malformed_alerts_or_monitors_table_is_one_line_and_exit_2(
    command: str, table: str, message: str, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = config_file(tmp_path / "bad.toml", db, table)
    before = rows(db, "SELECT count(*) AS n FROM monitor_results")
    assert cli.main([command, "--config", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("informburo: bad configuration: "), err
    assert message in err
    assert rows(db, "SELECT count(*) AS n FROM monitor_results") == before  # refused before touching anything


def test_a_busy_writer_lock_still_checks_read_only_and_says_so(db: Path) -> None:
    with writer_lock_held(db):
        report = run_checks(load_config(db=str(db), environ={}), lock_timeout=0.3)
    assert not report.recorded and report.exit_code == 0
    assert report.note and "checked read-only, verdicts not recorded" in report.note
    assert report.lines()[-1].startswith("note: another collection is writing to")
    assert rows(db, "SELECT * FROM monitor_results") == []
    recorded = run_checks(load_config(db=str(db), environ={}))
    assert recorded.recorded and len(rows(db, "SELECT * FROM monitor_results")) == len(recorded.verdicts)


def test_no_database_is_critical(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = check(capsys, "--db", str(tmp_path / "none.db"))
    assert code == 2 and lines[0].startswith("CRITICAL database: no database at")
    assert not (tmp_path / "none.db").exists()


def test_check_sends_an_alert_when_a_check_starts_failing_and_not_again(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Webhook() as hook:
        config = config_file(
            tmp_path / "c.toml", db, f'[monitors]\nexpect_daemon = true\n[alerts]\nurls = ["{hook.url}"]\n'
        )
        code, lines, _ = check(capsys, "--config", str(config))
        assert code == 2 and lines[0].startswith("CRITICAL heartbeat: no daemon heartbeat at")
        assert lines[-1] == f"alert heartbeat start: sent to json://127.0.0.1:{hook.server.server_address[1]}"
        assert check(capsys, "--config", str(config))[0] == 2
        assert hook.alerts() == [("start", "heartbeat")]
        assert hook.received[0]["run"] is None and hook.received[0]["severity"] == "critical"


def test_test_alert_tries_every_destination(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Webhook() as hook:
        good = config_file(tmp_path / "good.toml", db, f'[alerts]\nurls = ["{hook.url}"]\n')
        code, lines, _ = check(capsys, "--config", str(good), "--test-alert")
        assert code == 0 and lines == [f"json://127.0.0.1:{hook.server.server_address[1]}: ok"]
        assert hook.received[0]["kind"] == "test"
        dead = hook.url.replace(f":{hook.server.server_address[1]}/", ":9/")
        both = config_file(tmp_path / "both.toml", db, f'[alerts]\nurls = ["{hook.url}", "{dead}"]\n')
        code, lines, _ = check(capsys, "--config", str(both), "--test-alert")
        assert code == 2 and lines[0].endswith(": ok") and lines[1].startswith("json://127.0.0.1:9: failed: ")
    code, lines, err = check(capsys, "--db", str(db), "--test-alert")
    assert code == 2 and "no alert destination" in err


# --- a mirror that publishes nothing new, checked with a frozen clock ---


@pytest.fixture(scope="module")
def quiet_mirror(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two crawls of a mirror that publishes nothing between them."""
    db = tmp_path_factory.mktemp("quiet") / "informburo.db"
    with MirrorServer() as mirror:
        for _ in range(2):
            result = crawl(db, mirror.url)
            assert result.returncode == 0, result.stderr
    (seen,) = rows(db, "SELECT max(first_seen_at) AS first FROM articles")
    runs = rows(db, "SELECT status, article_pages FROM crawl_runs ORDER BY id")
    return {"db": db, "first": seen["first"], "runs": runs}


@pytest.fixture
def quiet_db(quiet_mirror: dict[str, Any], tmp_path: Path) -> Iterator[Path]:
    copy = tmp_path / "informburo.db"
    shutil.copy(quiet_mirror["db"], copy)
    yield copy


@pytest.mark.slow
def test_a_mirror_that_publishes_nothing_new_trips_quiet_site(
    quiet_mirror: dict[str, Any], quiet_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    first = as_kz(quiet_mirror["first"])
    (one, two) = quiet_mirror["runs"]
    assert one["article_pages"] > 0 and two == {"status": "ok", "article_pages": 0}  # the second found nothing new
    # half an hour later, at any hour: not quiet yet
    always = config_file(tmp_path / "always.toml", quiet_db, '[monitors]\npublishing_hours = "00:00-24:00"\n')
    soon = run_checks(load_config(always, environ={}), now=first + timedelta(minutes=30))
    (verdict,) = [v for v in soon.verdicts if v.monitor == "quiet_site"]
    assert verdict.passed and verdict.applies and soon.exit_code == 0, soon.lines()
    # the next day at noon, by the project's clock, frozen: six publishing hours without a new article
    noon = datetime.combine(first.date() + timedelta(days=1), time(12, 0), KZ_TZ)
    monkeypatch.setattr(jobs.check, "now_kz", lambda: noon.isoformat(timespec="seconds"))
    plain = config_file(tmp_path / "plain.toml", quiet_db)
    code, lines, _ = check(capsys, "--config", str(plain))
    assert code == 2, lines
    day_before = datetime.combine(first.date(), time(23, 0), KZ_TZ) - max(first, first.replace(hour=6, minute=0))
    quiet_hours = max(0.0, day_before.total_seconds()) / 3600 + 6  # the rest of that day, then 06:00–12:00
    assert lines == [
        f"CRITICAL quiet_site: no new article for {quiet_hours:.1f} h (since {quiet_mirror['first']})"
        " within publishing hours 06:00–23:00"
    ]
    (incident,) = rows(quiet_db, "SELECT monitor, severity, first_run_id, started_at FROM incidents")
    assert incident == {"monitor": "quiet_site", "severity": "critical", "first_run_id": None,
                        "started_at": noon.isoformat(timespec="seconds")}  # fmt: skip
    # past 23:00 the site may be quiet: the check passes and leaves the incident open
    monkeypatch.setattr(jobs.check, "now_kz", lambda: noon.replace(hour=23, minute=30).isoformat())
    assert check(capsys, "--config", str(plain))[0] == 0
    assert rows(quiet_db, "SELECT recovered_at FROM incidents") == [{"recovered_at": None}]
