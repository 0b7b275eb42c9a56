"""Monitoring's SQL: what the monitors read, their verdicts, incidents and the alert outbox.

``monitor_results`` keeps every verdict (passed ones too), so Datasette shows a monitor's history;
``incidents`` holds a monitor failing from its first failure to its recovery (at most one open per
monitor: a partial unique index), and its two alerts' times. Written by whoever holds the writer lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from core.clock import KZ_TZ
from storage.lock import _HELD

# --- what a run's monitors read ---


def run_facts(db: Database, run_id: int, core_fields: Iterable[str]) -> dict[str, Any]:
    """Counts the monitors of one run need beyond its ``crawl_runs`` row: its most-read and rates
    rows, the article pages rejected for lacking each core field, why it failed to start, and the
    pages it could not fetch (``crawl_errors`` of stage ``fetch``, each URL once)."""
    most_read = db.execute("SELECT count(*) FROM most_read WHERE run_id = ?", [run_id]).fetchone()[0]
    rates = db.execute("SELECT count(*) FROM rates WHERE run_id = ?", [run_id]).fetchone()[0]
    # An article's raw item has a body key (null or not); a most-read entry, also missing its title, has none.
    sql = (
        "SELECT field, count(*) FROM rejects WHERE run_id = ? AND json_valid(item)"
        " AND json_type(item, '$.body') IS NOT NULL GROUP BY field"
    )
    rejected = {field: n for field, n in db.execute(sql, [run_id]) if field in set(core_fields)}
    start = db.execute(
        "SELECT reason FROM crawl_errors WHERE run_id = ? AND stage = 'start' ORDER BY id LIMIT 1", [run_id]
    ).fetchone()
    sql = "SELECT count(DISTINCT url) FROM crawl_errors WHERE run_id = ? AND stage = 'fetch'"
    not_fetched = db.execute(sql, [run_id]).fetchone()[0]
    return {
        "most_read": most_read,
        "rates": rates,
        "core_rejects": rejected,
        "start_error": start[0] if start else None,
        "not_fetched": not_fetched,
    }


def run_row(db: Database, run_id: int) -> dict[str, Any] | None:
    found = list(db.query("SELECT * FROM crawl_runs WHERE id = ?", [run_id]))
    return found[0] if found else None


# --- what the checks across runs read ---


def latest_article_seen(db: Database) -> str | None:
    """When the newest article was first stored (``articles.first_seen_at``), or None with none stored."""
    return db.execute("SELECT max(first_seen_at) FROM articles").fetchone()[0]


def scheduled_jobs(db: Database) -> list[dict[str, Any]]:
    """Each job the daemon recorded, with the start of its latest ``ok`` run and of its first run."""
    sql = """
        SELECT j.name, j.task, j.trigger, j.updated_at,
            (SELECT max(started_at) FROM crawl_runs WHERE job = j.name AND status = 'ok') AS last_ok_started,
            (SELECT min(started_at) FROM crawl_runs WHERE job = j.name) AS first_started
        FROM scheduler_jobs j ORDER BY j.name
    """
    return list(db.query(sql))


def ok_runs_since(db: Database, since: str) -> list[dict[str, Any]]:
    """Runs that ended ``ok`` and started at or after ``since``: their times, job and parts."""
    sql = (
        "SELECT id, started_at, finished_at, job, parts FROM crawl_runs"
        " WHERE status = 'ok' AND finished_at IS NOT NULL AND started_at >= ? ORDER BY id"
    )
    return list(db.query(sql, [since]))


def fire_events_since(db: Database, since: str) -> dict[tuple[str, str], int]:
    """(job, event) → how many of the daemon's fire times were skipped or missed since ``since``."""
    sql = "SELECT job, event, count(*) FROM scheduler_events WHERE fire_time >= ? GROUP BY job, event"
    return {(job, event): n for job, event, n in db.execute(sql, [since])}


def lock_state(db_path: str | Path) -> dict[str, Any] | None:
    """Who holds the writer lock (``<db>.lock``) and since when, or None when it is free.

    The lock file holds its holder's pid, written when it was taken (so its mtime is that time).
    Probed with a non-blocking ``flock`` that is let go at once. This process holding it (a job
    checking from inside a run) is reported as such, with no time: it cannot be stuck behind itself.
    """
    path = Path(f"{db_path}.lock")
    if not path.exists():
        return None
    if any(key[0] == str(path.resolve()) for key in _HELD):
        return {"pid": os.getpid(), "since": None, "ours": True}
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            text = os.read(fd, 64).decode("ascii", "replace").strip()
            since = datetime.fromtimestamp(os.fstat(fd).st_mtime, KZ_TZ)
            return {"pid": int(text) if text.isdigit() else None, "since": since, "ours": False}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# --- verdicts ---


def record_results(db: Database, run_id: int | None, results: Iterable[dict[str, Any]], checked_at: str) -> None:
    """One ``monitor_results`` row per verdict (monitor, passed, severity, detail) of a run, or across runs."""
    db.conn.executemany(
        "INSERT INTO monitor_results (run_id, monitor, passed, severity, detail, checked_at) VALUES (?, ?, ?, ?, ?, ?)",
        [(run_id, r["monitor"], int(r["passed"]), r["severity"], r["detail"], checked_at) for r in results],
    )


def last_result_passed(db: Database, monitor: str, run_ids: Iterable[int]) -> int | None:
    """The latest of ``run_ids`` in which ``monitor`` passed."""
    ids = list(run_ids)
    if not ids:
        return None
    marks = ",".join("?" * len(ids))
    sql = f"SELECT max(run_id) FROM monitor_results WHERE monitor = ? AND passed = 1 AND run_id IN ({marks})"
    return db.execute(sql, [monitor, *ids]).fetchone()[0]


def runs_of_scope(
    db: Database, before: int, job: str | None, parts: str, default_parts: str, limit: int = 500
) -> list[int]:
    """The ids of the runs before ``before`` of the same job (or, outside the daemon, the same parts; a
    run with none recorded collected ``default_parts``), newest first."""
    if job is not None:
        sql, args = "SELECT id FROM crawl_runs WHERE id < ? AND job = ? ORDER BY id DESC LIMIT ?", [before, job, limit]
    else:
        sql = (
            "SELECT id FROM crawl_runs WHERE id < ? AND job IS NULL AND coalesce(parts, ?) = ? ORDER BY id DESC LIMIT ?"
        )
        args = [before, default_parts, parts, limit]
    return [run_id for (run_id,) in db.execute(sql, args)]


# --- incidents ---


def open_incident(db: Database, monitor: str) -> dict[str, Any] | None:
    found = list(db.query("SELECT * FROM incidents WHERE monitor = ? AND recovered_at IS NULL", [monitor]))
    return found[0] if found else None


def open_incidents(db: Database) -> list[dict[str, Any]]:
    """Every incident still open, oldest first."""
    return list(db.query("SELECT * FROM incidents WHERE recovered_at IS NULL ORDER BY id"))


def start_incident(
    db: Database,
    monitor: str,
    severity: str,
    detail: str,
    started_at: str,
    first_run_id: int | None,
    last_good_run_id: int | None,
) -> int:
    cur = db.execute(
        "INSERT INTO incidents (monitor, severity, detail, started_at, first_run_id, last_good_run_id)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [monitor, severity, detail, started_at, first_run_id, last_good_run_id],
    )
    return int(cur.lastrowid)


def extend_incident(db: Database, incident_id: int, detail: str) -> None:
    """One more failure of an open incident: counted, and its detail is the latest failure's."""
    db.execute("UPDATE incidents SET failures = failures + 1, detail = ? WHERE id = ?", [detail, incident_id])


def recover_incident(db: Database, incident_id: int, recovered_at: str, run_id: int | None) -> None:
    db.execute(
        "UPDATE incidents SET recovered_at = ?, recovered_run_id = ? WHERE id = ? AND recovered_at IS NULL",
        [recovered_at, run_id, incident_id],
    )


# --- the alert outbox ---


def pending_alerts(db: Database, since: str) -> list[dict[str, Any]]:
    """Incidents whose start, or whose recovery, has not been alerted and happened at or after ``since``."""
    sql = """
        SELECT * FROM incidents
        WHERE (alerted_at IS NULL AND started_at >= :since)
           OR (recovered_at IS NOT NULL AND recovery_alerted_at IS NULL AND recovered_at >= :since)
        ORDER BY id
    """
    return list(db.query(sql, {"since": since}))


def mark_alerted(db: Database, incident_id: int, at: str, *, recovery: bool = False) -> None:
    """The start (or the recovery) of an incident was delivered to at least one destination."""
    column = "recovery_alerted_at" if recovery else "alerted_at"
    db.execute(f"UPDATE incidents SET {column} = ? WHERE id = ?", [at, incident_id])
