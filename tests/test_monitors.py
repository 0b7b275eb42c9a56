"""The monitors of a run, the checks across runs and their incidents (monitoring/, docs/monitoring.md).

Unit tests of each monitor and check on crafted rows, boundaries included; incidents and the alert
outbox on a real database with a real local webhook; and the real crawl against the mirror: a sidebar
that disappears and comes back sends exactly one alert when it starts and one when it recovers.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from core.alerts import AlertsConfig, Destination
from core.clock import KZ_TZ, now_kz
from core.config import Monitors, load_config, parse_monitors
from mirror.server import MirrorServer
from mirror.site import Site
from monitoring import checks, incidents, monitors
from monitoring.checks import JobState
from monitoring.monitors import RunFacts, evaluate_run
from pipelines.store import Store
from scheduler import crawl_command
from storage import ledger
from storage.db import open_database
from tests.conftest import ROOT, crawl, daemon_config, rows

DEFAULTS = Monitors()
NOW = datetime(2026, 1, 16, 15, 0, tzinfo=KZ_TZ)  # a Friday afternoon, within the publishing hours


class Webhook:
    """A real HTTP server on 127.0.0.1 that keeps every JSON body posted to it (Apprise's ``json://``)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.received.append(json.loads(body))
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Webhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def alerts(self) -> list[tuple[str, str]]:
        """(kind, monitor) of each alert received, in order."""
        return [(body["kind"], body["monitor"]) for body in self.received]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with Webhook() as hook:
        yield hook


def run(**values: Any) -> dict[str, Any]:
    """A closed ``crawl_runs`` row: a clean full run unless ``values`` say otherwise."""
    row = {
        "id": 7, "status": "ok", "pages": 28, "errors": 0, "items_rejected": 0, "article_pages": 19,
        "field_coverage": json.dumps({"author": 0.421, "lead": 0.737}), "warning": None,
        "parts": "articles,most_read,rates", "job": None,
    }  # fmt: skip
    return {**row, **values}


def facts(**values: Any) -> RunFacts:
    fields = {k: values.pop(k) for k in list(values) if k in RunFacts.__dataclass_fields__}
    return RunFacts(run=run(**values), **{"most_read": 10, "rates": 3, "finish_reason": "finished", **fields})


# --- the monitors of one run ---


def test_a_clean_run_passes_every_monitor() -> None:
    verdicts = evaluate_run(facts(), DEFAULTS)
    assert [v.monitor for v in verdicts] == [*monitors.RUN_MONITORS, "monitor_error"]
    assert all(v.passed and v.severity == "ok" and v.applies for v in verdicts), verdicts


@pytest.mark.parametrize("status", ["failed", "interrupted"])
def test_run_failed_is_critical_with_the_reason(status: str) -> None:
    verdict = monitors.run_failed(facts(status=status, start_error="HTTP 503 on the home page"), DEFAULTS)
    assert (verdict.passed, verdict.severity) == (False, "critical")
    assert verdict.detail == f"run 7 ended {status}: HTTP 503 on the home page"


@pytest.mark.parametrize(
    ("not_fetched", "pages", "passed"),
    [(0, 0, True), (1, 0, False), (2, 10, True), (3, 10, False), (5, 28, True), (6, 28, False)],
)
def test_page_errors_above_their_share_of_the_pages(not_fetched: int, pages: int, passed: bool) -> None:
    """20 % exactly passes; above it is critical (2 of 10 and 5 of 28 pass, 3 of 10 and 6 of 28 do not)."""
    verdict = monitors.page_errors(facts(not_fetched=not_fetched, pages=pages, errors=99), DEFAULTS)
    assert verdict.passed is passed and verdict.severity == ("ok" if passed else "critical"), verdict
    assert monitors.page_errors(facts(not_fetched=3, pages=10), parse_monitors({"page_errors_percent": 30})).passed


def test_page_errors_count_pages_not_fetched_not_fields_unread() -> None:
    """A widget or a field not read on a page that came is the drift and coverage monitors' business."""
    verdict = monitors.page_errors(facts(not_fetched=0, pages=2, errors=1), DEFAULTS)
    assert verdict.passed and verdict.detail == "0 pages not fetched, of 2 received (0%), at most 20%"


@pytest.mark.parametrize(("rejected", "passed"), [(0, True), (5, True), (6, False)])
def test_rejects_above_the_threshold_warn(rejected: int, passed: bool) -> None:
    verdict = monitors.rejects(facts(items_rejected=rejected), DEFAULTS)
    assert verdict.passed is passed and verdict.severity == ("ok" if passed else "warning")


def test_coverage_floors_for_core_and_optional_fields() -> None:
    # a page rejected for having no title: title covered on 18 of 19 article pages, under its 100 % floor
    missing_title = monitors.coverage(facts(core_rejects={"title": 1}), DEFAULTS)
    assert (missing_title.passed, missing_title.severity) == (False, "warning")
    assert missing_title.detail == "title 95% (floor 100%) of 19 article pages"
    floors = parse_monitors({"coverage_percent": {"author": 42.1}})
    assert monitors.coverage(facts(), floors).passed  # exactly at its floor
    low = monitors.coverage(facts(), parse_monitors({"coverage_percent": {"author": 42.2, "lead": 80}}))
    assert not low.passed and low.detail == "author 42% (floor 42.2%), lead 74% (floor 80%) of 19 article pages"
    nothing = monitors.coverage(facts(article_pages=0), DEFAULTS)
    assert nothing.passed and not nothing.applies
    assert not monitors.coverage(facts(status="failed", core_rejects={"title": 5}), DEFAULTS).applies


def test_drift_is_the_runs_warning() -> None:
    warning = "layout drift: most-read sidebar: no most-read sidebar on the home page; check the selectors"
    verdict = monitors.drift(facts(warning=warning), DEFAULTS)
    assert (verdict.passed, verdict.severity, verdict.detail) == (False, "warning", warning)
    assert monitors.drift(facts(), DEFAULTS).passed
    assert not monitors.drift(facts(status="failed", warning=warning), DEFAULTS).applies


@pytest.mark.parametrize(
    ("monitor", "part", "count"), [("sidebar", "most_read", "most_read"), ("rates", "rates", "rates")]
)
def test_a_widget_asked_for_and_not_stored_is_critical(monitor: str, part: str, count: str) -> None:
    check = monitors.RUN_MONITORS[monitor]
    missing = check(facts(**{count: 0}), DEFAULTS)
    assert (missing.passed, missing.severity, missing.applies) == (False, "critical", True)
    assert f"asked for {part}" in missing.detail
    assert check(facts(**{count: 1}), DEFAULTS).passed
    not_asked = check(facts(**{count: 0, "parts": "articles"}), DEFAULTS)
    assert not_asked.passed and not not_asked.applies  # a run that did not ask moves no incident
    assert not check(facts(**{count: 0, "status": "failed"}), DEFAULTS).applies  # run_failed says it


def test_finish_reason_other_than_finished_warns() -> None:
    assert monitors.finish_reason(facts(), DEFAULTS).passed
    verdict = monitors.finish_reason(facts(finish_reason="closespider_timeout"), DEFAULTS)
    assert (verdict.passed, verdict.severity) == (False, "warning") and "closespider_timeout" in verdict.detail
    assert not monitors.finish_reason(facts(finish_reason=None), DEFAULTS).applies


def test_a_monitor_that_raises_is_a_monitor_error_and_the_others_still_judge(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(facts: RunFacts, thresholds: Monitors) -> monitors.Verdict:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(monitors.RUN_MONITORS, "rejects", broken)
    verdicts = {v.monitor: v for v in evaluate_run(facts(), DEFAULTS)}
    assert "rejects" not in verdicts and verdicts["sidebar"].passed
    error = verdicts["monitor_error"]
    assert (error.passed, error.severity) == (False, "warning")
    assert error.detail == "rejects: ZeroDivisionError: division by zero"
    disabled = {v.monitor for v in evaluate_run(facts(), parse_monitors({"disabled": ["drift", "rates"]}))}
    assert not disabled & {"drift", "rates"} and "sidebar" in disabled


# --- the checks across runs ---


def kz(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=KZ_TZ)


def test_quiet_site_counts_only_the_publishing_hours() -> None:
    three_hours = checks.quiet_site("2026-01-16T12:00:00+05:00", kz("2026-01-16T15:00:00"), DEFAULTS)
    assert (three_hours.passed, three_hours.severity) == (False, "critical")
    assert three_hours.detail == (
        "no new article for 3.0 h (since 2026-01-16T12:00:00+05:00) within publishing hours 06:00–23:00"
    )
    assert checks.quiet_site("2026-01-16T12:00:01+05:00", kz("2026-01-16T15:00:00"), DEFAULTS).passed
    # a quiet night is no alarm: 22:00 → 07:00 is one hour before 23:00 and one after 06:00
    assert checks.quiet_site("2026-01-15T22:00:00+05:00", kz("2026-01-16T07:00:00"), DEFAULTS).passed
    assert not checks.quiet_site("2026-01-15T22:00:00+05:00", kz("2026-01-16T08:00:00"), DEFAULTS).passed
    outside = checks.quiet_site("2026-01-15T12:00:00+05:00", kz("2026-01-16T05:59:00"), DEFAULTS)
    assert outside.passed and not outside.applies and outside.detail == "outside publishing hours 06:00–23:00"
    assert not checks.quiet_site(None, NOW, DEFAULTS).applies
    always = parse_monitors({"publishing_hours": "00:00-24:00", "quiet_hours": 1})
    assert not checks.quiet_site("2026-01-16T01:00:00+05:00", kz("2026-01-16T02:00:00"), always).passed


def test_publishing_overlap_across_days_and_offsets() -> None:
    hours = (6 * 60, 23 * 60)
    assert (
        checks.publishing_overlap(kz("2026-01-14T12:00:00"), kz("2026-01-16T12:00:00"), hours) == (11 + 17 + 6) * 3600
    )
    # stored in +06:00 before March 2024: the same instant, whatever offset it is written in
    before = datetime.fromisoformat("2023-05-01T07:00:00+06:00")
    assert checks.publishing_overlap(before, before + timedelta(hours=2), hours) == 2 * 3600


def job(name: str = "articles", **values: Any) -> JobState:
    spec = {"task": "articles", "trigger": "interval", "minutes": 15, "jitter": 60}
    fields = {"spec": spec, "last_ok_started": None, "first_started": None, **values}
    return JobState(name, **fields)


def test_job_overdue_after_twice_its_interval_and_its_jitter() -> None:
    on_time = job(last_ok_started=(NOW - timedelta(minutes=31)).isoformat())  # due at 2 × 15 min + 60 s
    assert checks.job_overdue([on_time], NOW, DEFAULTS, daemon=True).passed
    late = job(last_ok_started=(NOW - timedelta(minutes=31, seconds=1)).isoformat())
    verdict = checks.job_overdue([late], NOW, DEFAULTS, daemon=True)
    assert (verdict.passed, verdict.severity) == (False, "critical") and verdict.detail.startswith("job articles:")
    never = job(first_started=(NOW - timedelta(hours=2)).isoformat())
    assert "no ok run ever" in checks.job_overdue([never], NOW, DEFAULTS, daemon=True).detail
    assert checks.job_overdue([job()], NOW, DEFAULTS, daemon=True).passed  # no run yet
    assert checks.job_overdue([job(spec=None, last_ok_started="2020-01-01T00:00:00+06:00")], NOW, DEFAULTS, True).passed
    assert not checks.job_overdue([late], NOW, DEFAULTS, daemon=False).applies


def test_job_overdue_of_a_cron_job_counts_its_fire_times() -> None:
    """Every 15 minutes from 06:00 to 23:59: after a success at 22:50, overdue only after 23:15."""
    spec = {"task": "articles", "trigger": "cron", "minute": "*/15", "hour": "6-23"}
    state = job(spec=spec, last_ok_started="2026-01-16T22:50:00+05:00")
    assert checks.job_overdue([state], kz("2026-01-16T23:15:00"), DEFAULTS, daemon=True).passed
    assert not checks.job_overdue([state], kz("2026-01-16T23:15:01"), DEFAULTS, daemon=True).passed


def test_db_size_against_its_limit() -> None:
    assert checks.db_size({"database": 10**12}, DEFAULTS).passed  # no limit: off
    limited = parse_monitors({"db_size_limit_mb": 100, "archive_size_limit_mb": 1000})
    assert checks.db_size({"database": 90_000_000, "archive": None}, limited).passed  # 90 % exactly
    verdict = checks.db_size({"database": 10_000_000, "archive": 901_000_000}, limited)
    assert (verdict.passed, verdict.severity) == (False, "warning") and verdict.detail.startswith("archive 901 MB")


def test_disk_free_under_its_floor_is_critical() -> None:
    assert checks.disk_free(1_000_000_000, "/data", DEFAULTS).passed
    verdict = checks.disk_free(999_999_999, "/data", DEFAULTS)
    assert (verdict.passed, verdict.severity) == (False, "critical") and "/data" in verdict.detail


def durations(day: list[float], week: list[float], job: str = "articles") -> list[dict[str, Any]]:
    out = []
    for i, seconds in enumerate(day):
        start = NOW - timedelta(hours=1 + i)
        out.append({"started_at": start.isoformat(), "finished_at": (start + timedelta(seconds=seconds)).isoformat()})
    for i, seconds in enumerate(week):
        start = NOW - timedelta(days=2 + i)
        out.append({"started_at": start.isoformat(), "finished_at": (start + timedelta(seconds=seconds)).isoformat()})
    return [{**r, "job": job, "parts": None} for r in out]


def test_slower_runs_compares_the_days_median_with_the_weeks() -> None:
    assert checks.slower_runs(durations([20, 20, 21], [10, 10, 11]), NOW, DEFAULTS).passed  # 2.0× exactly
    verdict = checks.slower_runs(durations([25, 24, 26], [10, 10, 11]), NOW, DEFAULTS)
    assert (verdict.passed, verdict.severity) == (False, "warning")
    assert verdict.detail.startswith("job articles: median 25.0 s over the last day, 10.0 s over the week before")
    assert "too few" in checks.slower_runs(durations([90, 90], [1, 1, 1]), NOW, DEFAULTS).detail


def test_lock_held_longer_than_the_run_timeout_warns() -> None:
    assert checks.lock_held(None, NOW, 1800).passed
    held = {"pid": 4242, "since": NOW - timedelta(seconds=1800), "ours": False}
    assert checks.lock_held(held, NOW, 1800).passed
    stuck = checks.lock_held({**held, "since": NOW - timedelta(seconds=1801)}, NOW, 1800)
    assert (stuck.passed, stuck.severity) == (False, "warning") and "pid 4242" in stuck.detail


def test_heartbeat_missing_stale_or_fresh() -> None:
    where = "data/informburo.heartbeat"
    none = checks.heartbeat(None, None, where, NOW, DEFAULTS)
    assert none.passed and none.detail == "no daemon heartbeat (not running as a daemon?)"
    expected = checks.heartbeat(None, None, where, NOW, parse_monitors({"expect_daemon": True}))
    assert (expected.passed, expected.severity) == (False, "critical")
    beat = {"pid": 99, "at": (NOW - timedelta(seconds=120)).isoformat(), "running": None}
    assert checks.heartbeat(beat, None, where, NOW, DEFAULTS).passed
    stale = checks.heartbeat({**beat, "at": (NOW - timedelta(seconds=121)).isoformat()}, None, where, NOW, DEFAULTS)
    assert (stale.passed, stale.severity) == (False, "critical") and "pid 99" in stale.detail
    assert not checks.heartbeat(None, "not JSON", where, NOW, DEFAULTS).passed


def test_heartbeat_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "x.heartbeat"
    assert checks.read_heartbeat(str(path)) == (None, None)
    path.write_text('{"pid": 1, "at": "2026-01-16T15:00:00+05:00", "running": "articles"}')
    assert checks.read_heartbeat(str(path))[0]["running"] == "articles"
    path.write_text("{")
    assert checks.read_heartbeat(str(path))[1].startswith("not JSON")


def test_skipped_fire_times_above_the_threshold_warn() -> None:
    assert checks.skipped_fire_times({("recheck", "skipped"): 3}, DEFAULTS).passed
    verdict = checks.skipped_fire_times({("recheck", "skipped"): 3, ("articles", "missed"): 1}, DEFAULTS)
    assert (verdict.passed, verdict.severity) == (False, "warning")
    assert "articles 1 missed, recheck 3 skipped" in verdict.detail


def test_a_check_that_raises_is_a_check_error() -> None:
    """Named apart from a run's monitor_error: a clean check must not recover a broken run monitor's incident."""
    facts = checks.CheckFacts(now=NOW, latest_seen="not a time")
    verdicts = {v.monitor: v for v in checks.evaluate_checks(facts, DEFAULTS, 1800)}
    assert "quiet_site" not in verdicts and "monitor_error" not in verdicts
    assert verdicts["disk_free"].applies is False
    assert not verdicts["check_error"].passed and verdicts["check_error"].detail.startswith("quiet_site: ValueError")


# --- incidents and the alert outbox, on a real database ---


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Any]:
    db = open_database(tmp_path / "informburo.db")
    try:
        yield db
    finally:
        db.close()


def closed_run(db: Any, *, status: str = "ok", parts: str = "articles,most_read,rates", job: str | None = None) -> dict:
    run_id = ledger.start_run(db, now_kz(), job=job, parts=parts)
    return ledger.finish_run(db, run_id, status=status, finished_at=now_kz(), pages=10)


def test_an_incident_opens_counts_and_recovers(database: Any) -> None:
    db = database
    good = closed_run(db)
    incidents.record(db, [monitors.ok("sidebar", "10 entries")], now_kz(), good)
    first, second, back = closed_run(db), closed_run(db), closed_run(db)
    missing = monitors.failed("sidebar", "critical", "no most-read snapshot")
    assert [t.kind for t in incidents.record(db, [missing], now_kz(), first)] == ["start"]
    assert [t.kind for t in incidents.record(db, [missing], now_kz(), second)] == ["again"]
    not_asked = monitors.ok("sidebar", "not asked for", applies=False)
    assert incidents.record(db, [not_asked], now_kz(), closed_run(db)) == []
    assert [t.kind for t in incidents.record(db, [monitors.ok("sidebar", "10")], now_kz(), back)] == ["recover"]
    (incident,) = rows_of(db, "SELECT * FROM incidents")
    assert incident["monitor"] == "sidebar" and incident["failures"] == 2
    assert (incident["first_run_id"], incident["last_good_run_id"], incident["recovered_run_id"]) == (
        first["id"], good["id"], back["id"],
    )  # fmt: skip
    assert len(rows_of(db, "SELECT * FROM monitor_results WHERE monitor = 'sidebar'")) == 5


def test_each_job_has_its_own_incidents(database: Any) -> None:
    """A clean rates run does not recover the most_read job's sidebar, nor a full cron crawl's."""
    db = database
    missing = monitors.failed("sidebar", "critical", "no most-read snapshot")
    incidents.record(db, [missing], now_kz(), closed_run(db, job="most_read", parts="most_read"))
    incidents.record(db, [missing], now_kz(), closed_run(db))
    incidents.record(db, [monitors.ok("sidebar", "10")], now_kz(), closed_run(db, job="rates", parts="rates"))
    opened = rows_of(db, "SELECT monitor FROM incidents WHERE recovered_at IS NULL ORDER BY id")
    assert [r["monitor"] for r in opened] == ["sidebar/most_read", "sidebar"]


def rows_of(db: Any, sql: str) -> list[dict]:
    return list(db.query(sql))


def test_alerts_go_once_at_the_start_and_once_at_the_recovery(database: Any, webhook: Webhook) -> None:
    db, alerts = database, AlertsConfig((Destination(webhook.url),))
    incidents.record(db, [monitors.failed("quiet_site", "critical", "no new article for 4.2 h")], now_kz())
    assert incidents.deliver(db, AlertsConfig(), "http://site", "x.db") == []  # no destination: nothing marked
    assert [d.ok for d in incidents.deliver(db, alerts, "http://site", "x.db")] == [True]
    assert incidents.deliver(db, alerts, "http://site", "x.db") == []  # told already
    incidents.record(db, [monitors.failed("quiet_site", "critical", "no new article for 5.2 h")], now_kz())
    assert incidents.deliver(db, alerts, "http://site", "x.db") == []  # still the same incident
    incidents.record(db, [monitors.ok("quiet_site", "last new article 0.1 h ago")], now_kz())
    incidents.deliver(db, alerts, "http://site", "x.db")
    assert incidents.deliver(db, alerts, "http://site", "x.db") == []
    assert webhook.alerts() == [("start", "quiet_site"), ("recover", "quiet_site")]
    start, back = webhook.received
    assert (start["severity"], start["detail"], start["run"], start["site"]) == (
        "critical", "no new article for 4.2 h", None, "http://site",
    )  # fmt: skip
    assert back["failures"] == 2 and back["detail"] == "no new article for 5.2 h"


def test_an_alert_not_delivered_stays_pending_and_a_recovery_waits_for_its_start(database: Any) -> None:
    db = database
    incidents.record(db, [monitors.failed("disk_free", "critical", "only 0.2 GB free")], now_kz())
    incidents.record(db, [monitors.ok("disk_free", "9 GB free")], now_kz())
    with Webhook(status=500) as down:
        sent = incidents.deliver(db, AlertsConfig((Destination(down.url),)), "", "")
        assert [d.ok for d in sent] == [False] and len(down.received) == 1  # the start only: no recovery before it
    with Webhook() as up:
        incidents.deliver(db, AlertsConfig((Destination(up.url),)), "", "")
        assert up.alerts() == [("start", "disk_free"), ("recover", "disk_free")]


def test_transitions_older_than_a_day_are_not_alerted(database: Any, webhook: Webhook) -> None:
    db = database
    incidents.record(db, [monitors.failed("heartbeat", "critical", "stale")], "2026-01-14T10:00:00+05:00")
    later = datetime(2026, 1, 15, 10, 0, 1, tzinfo=KZ_TZ)
    assert incidents.deliver(db, AlertsConfig((Destination(webhook.url),)), "", "", now=later) == []
    assert webhook.received == []
    on_time = later - timedelta(seconds=2)
    assert len(incidents.deliver(db, AlertsConfig((Destination(webhook.url),)), "", "", now=on_time)) == 1


def test_a_broken_monitor_never_costs_the_run_its_row(database: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    db = database
    run_id = ledger.start_run(db, now_kz(), parts="articles,most_read,rates")
    monkeypatch.setitem(monitors.RUN_MONITORS, "sidebar", lambda facts, thresholds: 1 / 0)
    store = Store(db, run_id)
    row = store.finish("ok", 2, 0.5, finish_reason="finished", monitors=DEFAULTS)
    assert row["status"] == "ok" and rows_of(db, "SELECT status FROM crawl_runs") == [{"status": "ok"}]
    error = rows_of(db, "SELECT passed, severity, detail FROM monitor_results WHERE monitor = 'monitor_error'")
    assert error == [{"passed": 0, "severity": "warning", "detail": "sidebar: ZeroDivisionError: division by zero"}]
    # the database refusing the verdicts themselves: logged, and the run still closed
    db.execute("DROP TABLE monitor_results")
    second = Store(db, ledger.start_run(db, now_kz(), parts="rates"))
    assert second.finish("ok", 2, 0.5, monitors=DEFAULTS)["status"] == "ok"
    assert [v.monitor for v in second.verdicts] == ["monitor_error"]
    unjudged = Store(db, ledger.start_run(db, now_kz(), job="reparse", parts="reparse"))
    assert unjudged.finish("ok", 2, 1.0)["status"] == "ok" and unjudged.verdicts == []  # a reparse


# --- through the real crawl against the mirror ---


@pytest.fixture(scope="module")
def sidebar_story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Four daemon-made crawls of one mirror: clean, no sidebar twice, clean again; alerts to a webhook.

    Each crawl is the very child the daemon runs (scheduler.crawl_command), so the per-run thresholds
    reach the store as INFORMBURO_MONITORS and the destinations as the config's path, INFORMBURO_CONFIG.
    """
    tmp = tmp_path_factory.mktemp("sidebar")
    site = Site.default()
    with MirrorServer(site) as mirror, Webhook() as hook:
        path = daemon_config(
            tmp / "informburo.toml",
            db=tmp / "informburo.db",
            base_url=mirror.url,
            jobs={"all": {"task": "all", "trigger": "interval", "hours": 1}},
            settings={"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "LOG_LEVEL": "WARNING"},
            log_file="",
        )
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f'[monitors]\nrejects = 3\n\n[alerts]\ncritical = ["{hook.url}"]\nwarning = ["{hook.url}"]\n')
        config = load_config(path)
        command = crawl_command(config, "all")
        seen: list[list[tuple[str, str]]] = []
        for sidebar in (True, False, False, True):
            site.most_read = Site.default().most_read if sidebar else []
            child = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
            assert child.returncode == 0, child.stderr
            seen.append(hook.alerts())
        yield {"db": tmp / "informburo.db", "hook": hook, "seen": seen, "command": command, "config": config}


@pytest.mark.slow
def test_the_daemon_child_gets_the_thresholds_and_the_config_path_never_the_urls(sidebar_story: dict) -> None:
    command = " ".join(sidebar_story["command"])
    assert 'INFORMBURO_MONITORS={"rejects": 3}' in command
    assert f"INFORMBURO_CONFIG={sidebar_story['config'].alerts_file}" in command
    assert (
        "json://" not in command and "127.0.0.1:" + str(sidebar_story["hook"].server.server_address[1]) not in command
    )


@pytest.mark.slow
def test_a_clean_run_trips_nothing(sidebar_story: dict) -> None:
    results = rows(sidebar_story["db"], "SELECT monitor, passed, severity FROM monitor_results WHERE run_id = 1")
    assert sorted(r["monitor"] for r in results) == sorted([*monitors.RUN_MONITORS, "monitor_error"])
    assert all(r["passed"] == 1 and r["severity"] == "ok" for r in results), results
    assert rows(sidebar_story["db"], "SELECT * FROM incidents WHERE first_run_id = 1") == []
    assert sidebar_story["seen"][0] == []


@pytest.mark.slow
def test_a_lost_sidebar_alerts_once_when_it_goes_and_once_when_it_is_back(sidebar_story: dict) -> None:
    db, seen = sidebar_story["db"], sidebar_story["seen"]
    failing = rows(db, "SELECT run_id, monitor, severity FROM monitor_results WHERE passed = 0 ORDER BY id")
    assert failing == [
        {"run_id": 2, "monitor": "drift", "severity": "warning"},
        {"run_id": 2, "monitor": "sidebar", "severity": "critical"},
        {"run_id": 3, "monitor": "drift", "severity": "warning"},
        {"run_id": 3, "monitor": "sidebar", "severity": "critical"},
    ]
    started = [("start", "drift"), ("start", "sidebar")]
    assert seen[1] == started and seen[2] == started  # the second run without it sends nothing more
    assert seen[3] == [*started, ("recover", "drift"), ("recover", "sidebar")]
    bodies = {(b["kind"], b["monitor"]): b for b in sidebar_story["hook"].received}
    start, back = bodies[("start", "sidebar")], bodies[("recover", "sidebar")]
    assert (start["severity"], start["run"], start["last_good_run"]) == ("critical", 2, 1)
    assert start["detail"] == "no most-read snapshot stored by run 2, which asked for most_read"
    assert "informburo status" in start["message"] and "sidebar" in start["title"]
    assert (back["run"], back["failures"]) == (4, 2) and back["title"].startswith("[informburo RECOVERED] sidebar")
    assert "most-read sidebar" in bodies[("start", "drift")]["detail"]
    (sidebar,) = rows(db, "SELECT * FROM incidents WHERE monitor = 'sidebar'")
    assert sidebar["alerted_at"] and sidebar["recovery_alerted_at"] and sidebar["recovered_run_id"] == 4


@pytest.mark.slow
def test_a_run_with_a_third_of_its_pages_failing_trips_page_errors(site: Site, db: Path) -> None:
    articles = [a for a in site.articles if a.get("variant") is None][:8]
    for article in articles:
        site.faults[site.path_of(article)] = "500"
    with MirrorServer(site) as mirror:
        result = crawl(db, mirror.url, "-s", "RETRY_TIMES=0")
    assert result.returncode == 0, result.stderr
    (verdict,) = rows(db, "SELECT passed, severity, detail FROM monitor_results WHERE monitor = 'page_errors'")
    assert (verdict["passed"], verdict["severity"]) == (0, "critical"), verdict
    assert verdict["detail"].startswith("8 pages not fetched, of 28 received (29%)"), verdict
    (incident,) = rows(db, "SELECT monitor, first_run_id FROM incidents")
    assert incident == {"monitor": "page_errors", "first_run_id": 1}
