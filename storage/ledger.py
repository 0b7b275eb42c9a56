"""The run ledger: every run's row, what it met on the way, and the reads that report on runs.

``crawl_runs``, ``crawl_errors``, ``rejects``, ``scheduler_jobs`` and ``scheduler_events`` are written only
here, by whoever holds the writer lock (``storage.db.writer``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from core.clock import KZ_TZ, kz_iso, now_kz


def start_run(
    db: Database, started_at: str, *, job: str | None = None, parts: str | None = None, seed: str | None = None
) -> int:
    """A new ``crawl_runs`` row in state ``running``; its id."""
    cur = db.execute(
        "INSERT INTO crawl_runs (started_at, status, job, parts, seed) VALUES (?, 'running', ?, ?, ?)",
        [started_at, job, parts, seed],
    )
    return int(cur.lastrowid)


def orphan_runs(db: Database) -> list[int]:
    """The runs ``close_orphan_runs`` would close: left ``running`` by a writer that died, not distributed."""
    return [row[0] for row in db.execute("SELECT id FROM crawl_runs WHERE status = 'running' AND seed IS NULL")]


def close_orphan_runs(db: Database, status: str, finished_at: str) -> int:
    """Close runs left ``running`` by a writer that died (call while holding the writer lock).

    Runs of distributed mode (with a ``seed``) are left alone: their workers may still be at them.
    """
    cur = db.execute(
        "UPDATE crawl_runs SET status = ?, finished_at = ? WHERE status = 'running' AND seed IS NULL",
        [status, finished_at],
    )
    return cur.rowcount


def finish_run(db: Database, run_id: int, *, status: str, finished_at: str, **counts: Any) -> dict[str, Any]:
    """Close a run with its status and counts; rejects and errors are counted from what it recorded
    (a ``layers`` row is a doubt about a page that was read all the same, a ``drift`` row a part of the
    site not found where it should be, such as the feed: neither is an error of the run).

    ``counts`` are further ``crawl_runs`` columns (pages, items_stored, article_pages,
    fallback_pages, field_coverage, warning).
    """
    columns = "".join(f", {name} = ?" for name in counts)  # names are ours, never page data
    with db.atomic():
        db.execute(
            f"""
            UPDATE crawl_runs SET
                status = ?, finished_at = ?{columns},
                items_rejected = (SELECT count(*) FROM rejects WHERE run_id = ?),
                errors = (SELECT count(*) FROM crawl_errors WHERE run_id = ? AND stage NOT IN ('layers', 'drift'))
            WHERE id = ?
            """,
            [status, finished_at, *counts.values(), run_id, run_id, run_id],
        )
    return db["crawl_runs"].get(run_id)


def update_run_totals(db: Database, run_id: int, **counts: int) -> None:
    """A running run's totals so far (``pages``, ``items_stored``, ``article_pages``, ``fallback_pages``), with
    its rejects and errors counted as ``finish_run`` counts them: distributed mode's store writes them with
    each batch, so ``informburo status`` shows an open run's progress. Only a ``running`` row is touched."""
    columns = "".join(f"{name} = ?, " for name in counts)  # names are ours, never page data
    db.execute(
        f"""
        UPDATE crawl_runs SET {columns}
            items_rejected = (SELECT count(*) FROM rejects WHERE run_id = ?),
            errors = (SELECT count(*) FROM crawl_errors WHERE run_id = ? AND stage NOT IN ('layers', 'drift'))
        WHERE id = ? AND status = 'running'
        """,
        [*counts.values(), run_id, run_id, run_id],
    )


def run_totals(db: Database, run_id: int) -> dict[str, int]:
    """A run's counts as its row holds them (0 for none yet): where a new store process goes on counting."""
    sql = "SELECT pages, items_stored, article_pages, fallback_pages FROM crawl_runs WHERE id = ?"
    found = db.execute(sql, [run_id]).fetchone()
    names = ("pages", "items_stored", "article_pages", "fallback_pages")
    return {name: int(value or 0) for name, value in zip(names, found or (0, 0, 0, 0), strict=True)}


def record_error(
    db: Database,
    run_id: int,
    url: str,
    stage: str,
    reason: str,
    http_status: int | None = None,
    captured_at: str | None = None,
) -> None:
    """A failure a run met, with its URL and reason, in ``crawl_errors``."""
    db["crawl_errors"].insert(
        {
            "run_id": run_id,
            "url": url,
            "stage": stage,
            "reason": reason,
            "http_status": http_status,
            "captured_at": captured_at or now_kz(),
        }
    )


def error_recorded(db: Database, run_id: int, url: str, stage: str, reason: str, captured_at: str) -> bool:
    """Is this very error row there already (a replayed batch of distributed mode)?"""
    sql = "SELECT 1 FROM crawl_errors WHERE run_id = ? AND url = ? AND stage = ? AND reason = ? AND captured_at = ?"
    return db.execute(sql, [run_id, url, stage, reason, captured_at]).fetchone() is not None


def record_reject(
    db: Database, run_id: int, url: str | None, field: str | None, reason: str, captured_at: str, item_json: str
) -> None:
    """An item that broke the contract, kept in ``rejects`` with the field, reason and raw item."""
    db["rejects"].insert(
        {"run_id": run_id, "url": url, "field": field, "reason": reason, "captured_at": captured_at, "item": item_json}
    )


def run_of_seed(db: Database, seed: str) -> int | None:
    """The ``crawl_runs`` id of a distributed run, by its seed key."""
    found = db.execute("SELECT id FROM crawl_runs WHERE seed = ?", [seed]).fetchone()
    return found[0] if found else None


def run_status(db: Database, run_id: int) -> str | None:
    found = db.execute("SELECT status FROM crawl_runs WHERE id = ?", [run_id]).fetchone()
    return found[0] if found else None


def record_jobs(
    db: Database,
    jobs: list[dict[str, Any]],
    *,
    starts: dict[str, dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> None:
    """The daemon's schedule (name, task, trigger, next_run_at) and its books, for ``informburo status``.

    ``starts`` maps a job to its latest run's ``last_fire_at``, ``last_started_at`` and ``start_delay``;
    ``events`` are ``scheduler_events`` rows (job, fire_time, event, detail, recorded_at): fire times that
    did not run as scheduled. One transaction: the daemon keeps what it could not write for the next try.
    """
    now = now_kz()
    with db.atomic():
        for job in jobs:
            db["scheduler_jobs"].upsert({**job, "updated_at": now}, pk="name")
        for name, start in (starts or {}).items():  # the job's row is there: written with the schedule
            columns = ", ".join(f"{column} = ?" for column in start)  # names are ours
            db.execute(f"UPDATE scheduler_jobs SET {columns} WHERE name = ?", [*start.values(), name])
        for event in events or []:
            db["scheduler_events"].insert(event)


# --- reads for `informburo status` and the demo's summary ---


def recent_runs(db: Database, limit: int = 10) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM crawl_runs ORDER BY id DESC LIMIT ?", [limit]))


def runs_of_seeds(db: Database, seeds: list[str]) -> dict[str, dict[str, Any]]:
    """The ``crawl_runs`` rows of distributed runs by seed key (id, status and counts so far), for
    ``informburo status``'s open runs."""
    marks = ", ".join("?" for _ in seeds)
    sql = f"SELECT id, seed, status, pages, items_stored, errors FROM crawl_runs WHERE seed IN ({marks})"
    return {row["seed"]: row for row in db.query(sql, seeds)} if seeds else {}


def table_counts(db: Database, tables: tuple[str, ...]) -> dict[str, int]:
    return {table: db[table].count for table in tables}


def job_states(db: Database, since: str | None = None) -> list[dict[str, Any]]:
    """Each scheduled job as the daemon last recorded it, with its latest run (id, status, started), and
    its fire times that did not run as scheduled since ``since`` (default: the last 24 hours): how many
    were ``skipped`` and ``missed``, and the latest of them (``last_event``, ``last_event_at``, its fire time).
    """
    since = since or kz_iso(datetime.now(KZ_TZ) - timedelta(hours=24))
    sql = """
        SELECT j.*, r.id AS last_run, r.status AS last_status, r.started_at AS last_started,
            (SELECT count(*) FROM scheduler_events e
             WHERE e.job = j.name AND e.event = 'skipped' AND e.fire_time >= :since) AS skipped,
            (SELECT count(*) FROM scheduler_events e
             WHERE e.job = j.name AND e.event = 'missed' AND e.fire_time >= :since) AS missed,
            l.event AS last_event, l.fire_time AS last_event_at, l.detail AS last_event_detail
        FROM scheduler_jobs j
        LEFT JOIN crawl_runs r ON r.id = (SELECT max(id) FROM crawl_runs WHERE job = j.name)
        LEFT JOIN scheduler_events l ON l.id = (
            SELECT id FROM scheduler_events WHERE job = j.name ORDER BY fire_time DESC, id DESC LIMIT 1)
        ORDER BY j.name
    """
    return list(db.query(sql, {"since": since}))


def run_summary(db: Database, job: str, since: str) -> dict[str, Any] | None:
    """The newest run of ``job`` started at or after ``since`` (the daemon's child), with ``drift``: 1 when
    it met layout drift (its warning) or a part of the site not where it should be (``drift`` errors)."""
    sql = """
        SELECT r.*, (r.warning IS NOT NULL
                     OR EXISTS (SELECT 1 FROM crawl_errors WHERE run_id = r.id AND stage = 'drift')) AS drift
        FROM crawl_runs r WHERE r.job = ? AND r.started_at >= ? ORDER BY r.id DESC LIMIT 1
    """
    found = list(db.query(sql, [job, since]))
    return found[0] if found else None


def latest_errors(db: Database, limit: int = 5) -> list[dict[str, Any]]:
    sql = "SELECT run_id, stage, http_status, url, reason FROM crawl_errors ORDER BY id DESC LIMIT ?"
    return list(db.query(sql, [limit]))


def latest_snapshot(db: Database) -> dict[str, Any]:
    """The newest most-read list (top 5), the newest rates and the latest run, for the demo's summary."""
    most_read = list(
        db.query(
            "SELECT rank, emoji, title, views FROM most_read"
            " WHERE run_id = (SELECT max(run_id) FROM most_read) ORDER BY rank LIMIT 5"
        )
    )
    rates = list(
        db.query(
            "SELECT currency, buy, sell FROM rates WHERE run_id = (SELECT max(run_id) FROM rates) ORDER BY currency"
        )
    )
    run = db.execute("SELECT max(id) FROM crawl_runs").fetchone()[0]
    return {"most_read": most_read, "rates": rates, "run": db["crawl_runs"].get(run) if run else None}
