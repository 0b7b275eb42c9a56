"""Names shared across layers: defaults, what a pass collects, and the stats a run reports by."""

from __future__ import annotations

DEFAULT_DB = "data/informburo.db"
DEFAULT_BASE_URL = "https://informburo.kz"
#: Seconds a writer waits for another (cron vs daemon) before giving up (exit 75).
DEFAULT_LOCK_TIMEOUT = 120.0

#: What one pass can collect; ``--only`` picks a subset (the daemon's jobs do). ``recheck``
#: re-fetches stored articles published in the last INFORMBURO_RECHECK_DAYS days (edits, views).
PARTS = ("articles", "most_read", "rates", "recheck")
DEFAULT_PARTS = ("articles", "most_read", "rates")

# Scrapy stats through which the spider and the store pipeline tell the run's job how it went.
STAT_RUN_ID = "informburo/run_id"
STAT_STATUS = "informburo/status"
STAT_START_FAILED = "informburo/start_failed"
STAT_STORE_FAILED = "informburo/store_failed"


def parse_parts(only: str | None) -> set[str]:
    """``--only``'s comma-separated parts (default: articles, most_read, rates)."""
    parts = set(DEFAULT_PARTS) if not only else {p.strip() for p in only.split(",") if p.strip()}
    unknown = parts - set(PARTS)
    if unknown or not parts:
        raise ValueError(f"only= takes a comma-separated subset of {', '.join(PARTS)}, not {only!r}")
    return parts


def heartbeat_path(db: str) -> str:
    """The daemon's heartbeat file beside its database (``data/informburo.db`` →
    ``data/informburo.heartbeat``): JSON ``{"pid", "at", "running", "started_at"}``, rewritten every few seconds,
    read by ``informburo check``. A file, not a row: a crawl holds the writer lock for minutes."""
    stem = db[: -len(".db")] if db.endswith(".db") else db
    return stem + ".heartbeat"
