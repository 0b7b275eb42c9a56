"""Checks across runs, for ``informburo check`` and the daemon: what no single run can see.

Each check is a function of plain inputs and ``now`` (a Kazakhstan-time datetime the caller takes
from the project's clock, so a test freezes it by passing one); ``gather`` reads those inputs from
the database, the files beside it and the disk, and ``evaluate_checks`` runs them all, a check that
raises becoming a failed ``check_error`` verdict, as a monitor of a run becomes ``monitor_error``.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from core.clock import KZ_TZ, as_kz
from core.config import Config, Monitors, make_trigger
from core.names import DEFAULT_PARTS, heartbeat_path
from monitoring.monitors import CHECK_ERROR, Verdict, failed, guarded, ok
from storage import monitoring as store
from storage.archive import archive_path

GB = 1_000_000_000
MB = 1_000_000
DAY = timedelta(days=1)
#: Runs a day (and a week) must have had before ``slower_runs`` compares their medians.
MIN_RUNS = 3


def _hours(seconds: float) -> str:
    """``45 s``, ``12 min``, ``4.2 h``, ``3.1 days``: a duration as a person reads it."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# --- quiet_site ---


def publishing_overlap(start: datetime, end: datetime, hours: tuple[int, int]) -> float:
    """Seconds of [start, end] that fall within the publishing hours of each Kazakhstan day."""
    if end <= start:
        return 0.0
    start, end = as_kz(start), as_kz(end)
    total = 0.0
    day = start.date()
    while day <= end.date():
        midnight = datetime.combine(day, time(), KZ_TZ)
        opens, closes = midnight + timedelta(minutes=hours[0]), midnight + timedelta(minutes=hours[1])
        total += max(0.0, (min(end, closes) - max(start, opens)).total_seconds())
        day += timedelta(days=1)
    return total


def within_hours(moment: datetime, hours: tuple[int, int]) -> bool:
    local = as_kz(moment)
    minute = local.hour * 60 + local.minute
    return hours[0] <= minute < hours[1]


def quiet_site(latest_seen: str | None, now: datetime, thresholds: Monitors) -> Verdict:
    """No new article for ``quiet_hours`` hours, counted within the publishing hours only (a quiet night
    is no alarm), judged only within them. The site went quiet, or the crawler stopped seeing it."""
    window = f"publishing hours {thresholds.hours_text()}"
    if not within_hours(now, thresholds.publishing_hours):
        return ok("quiet_site", f"outside {window}", applies=False)
    if latest_seen is None:
        return ok("quiet_site", "no article stored yet", applies=False)
    quiet = publishing_overlap(as_kz(latest_seen), now, thresholds.publishing_hours)
    text = f"{quiet / 3600:.1f} h (since {latest_seen}) within {window}"
    if quiet >= thresholds.quiet_hours * 3600:
        return failed("quiet_site", "critical", f"no new article for {text}")
    return ok("quiet_site", f"last new article {text} ago, under {thresholds.quiet_hours:g} h")


# --- job_overdue ---


def due_by(spec: Mapping[str, Any], name: str, since: datetime, factor: float) -> datetime:
    """When a job last successful at ``since`` is overdue: ``factor`` intervals later (an interval trigger),
    or its ``ceil(factor)``-th fire time after it (a cron trigger, whose gaps vary); plus its jitter."""
    jitter = timedelta(seconds=float(spec.get("jitter") or 0))
    plain = {k: v for k, v in spec.items() if k != "jitter"}
    trigger = make_trigger(name, plain)
    length = getattr(trigger, "interval_length", None)
    if length is not None:
        return since + timedelta(seconds=length * factor) + jitter
    fire = since
    for _ in range(max(1, math.ceil(factor))):
        following = trigger.get_next_fire_time(None, fire + timedelta(seconds=1))
        if following is None:  # a cron trigger past its end date: never due again
            return datetime.max.replace(tzinfo=KZ_TZ)
        fire = following
    return fire + jitter


@dataclass(frozen=True)
class JobState:
    """A job the daemon recorded: its config (None when the config no longer has it) and its runs."""

    name: str
    spec: Mapping[str, Any] | None
    last_ok_started: str | None
    first_started: str | None


def job_overdue(jobs: Sequence[JobState], now: datetime, thresholds: Monitors, daemon: bool) -> Verdict:
    """A scheduled job without an ``ok`` run for ``overdue_factor`` times its interval: the daemon is
    stuck, or every run of that job fails. Judged only while a daemon heartbeat exists."""
    if not daemon:
        return ok("job_overdue", "no daemon heartbeat: scheduled jobs not checked", applies=False)
    if not jobs:
        return ok("job_overdue", "no scheduled job recorded by the daemon", applies=False)
    late, fine = [], []
    for job in jobs:
        if job.spec is None:
            fine.append(f"{job.name} (not in this config: not checked)")
            continue
        since_text = job.last_ok_started or job.first_started
        if since_text is None:
            fine.append(f"{job.name} (no run yet)")
            continue
        since = as_kz(since_text)
        due = due_by(job.spec, job.name, since, thresholds.overdue_factor)
        if now > due:
            what = (
                f"no ok run since {since_text}" if job.last_ok_started else f"no ok run ever (first run {since_text})"
            )
            late.append(f"job {job.name}: {what} ({_hours((now - since).total_seconds())}, due by {due:%H:%M})")
        else:
            fine.append(job.name)
    if late:
        return failed("job_overdue", "critical", "; ".join(late))
    return ok("job_overdue", f"every job on time: {', '.join(fine)}")


# --- db_size, disk_free ---


def db_size(sizes: Mapping[str, int | None], thresholds: Monitors) -> Verdict:
    """The database or the raw-page archive at ``size_percent`` of its configured limit (none: off)."""
    limits = {"database": thresholds.db_size_limit_mb, "archive": thresholds.archive_size_limit_mb}
    if not any(limits.values()):
        return ok("db_size", "no size limit configured")
    over, seen = [], []
    for what, limit in limits.items():
        size = sizes.get(what)
        if not limit or size is None:
            continue
        share = size / (limit * MB)
        text = f"{what} {size / MB:.0f} MB of {limit:g} MB ({share:.0%})"
        (over if share * 100 > thresholds.size_percent else seen).append(text)
    if over:
        return failed("db_size", "warning", f"{'; '.join(over)}, above {thresholds.size_percent:g}% of its limit")
    return ok("db_size", "; ".join(seen) or "no file to measure yet")


def disk_free(free: int | None, where: str, thresholds: Monitors) -> Verdict:
    """Less than ``disk_free_gb`` free where the database lives: the next writes may fail."""
    if free is None:
        return ok("disk_free", f"cannot measure the free space at {where}", applies=False)
    text = f"{free / GB:.1f} GB free at {where}"
    if free < thresholds.disk_free_gb * GB:
        return failed("disk_free", "critical", f"only {text}, under {thresholds.disk_free_gb:g} GB")
    return ok("disk_free", text)


# --- slower_runs ---


def slower_runs(runs: Sequence[Mapping[str, Any]], now: datetime, thresholds: Monitors) -> Verdict:
    """The last day's median run, per job (or parts), ``slower_factor`` times the median of the week before."""
    by_scope: dict[str, tuple[list[float], list[float]]] = {}
    for run in runs:
        started, finished = as_kz(run["started_at"]), as_kz(run["finished_at"])
        scope = f"job {run['job']}" if run.get("job") else (run.get("parts") or ",".join(DEFAULT_PARTS))
        day, week = by_scope.setdefault(scope, ([], []))
        if started >= now - DAY:
            day.append((finished - started).total_seconds())
        elif started >= now - 8 * DAY:
            week.append((finished - started).total_seconds())
    slower, compared = [], []
    for scope, (day, week) in sorted(by_scope.items()):
        if len(day) < MIN_RUNS or len(week) < MIN_RUNS:
            continue
        recent, before = statistics.median(day), statistics.median(week)
        factor = recent / before if before > 0 else (math.inf if recent > 0 else 1.0)
        text = f"{scope}: median {recent:.1f} s over the last day, {before:.1f} s over the week before"
        if factor > thresholds.slower_factor:
            slower.append(f"{text} ({factor:.1f}×, above {thresholds.slower_factor:g}×)")
        else:
            compared.append(scope)
    if slower:
        return failed("slower_runs", "warning", "; ".join(slower))
    if not compared:
        return ok("slower_runs", f"too few ok runs to compare (at least {MIN_RUNS} a day and a week before)")
    return ok("slower_runs", f"no slower runs: {', '.join(compared)}")


# --- lock_held, heartbeat, skipped_fire_times ---


def lock_held(holder: Mapping[str, Any] | None, now: datetime, run_timeout: float) -> Verdict:
    """The writer lock held longer than ``run_timeout``: a writer is stuck (or a backfill is long), and
    every other writer waits behind it."""
    if holder is None:
        return ok("lock_held", "the writer lock is free")
    who = f"pid {holder.get('pid') or '?'}"
    if holder.get("ours") or holder.get("since") is None:
        return ok("lock_held", f"held by this process ({who})")
    held = max(0.0, (now - holder["since"]).total_seconds())
    if held > run_timeout:
        return failed(
            "lock_held", "warning", f"the writer lock held by {who} for {_hours(held)}, longer than run_timeout"
            f" ({run_timeout:g} s): a stuck writer, or a long backfill",
        )  # fmt: skip
    return ok("lock_held", f"held by {who} for {_hours(held)} (a run in progress)")


def heartbeat(
    beat: Mapping[str, Any] | None, problem: str | None, where: str, now: datetime, thresholds: Monitors
) -> Verdict:
    """The daemon's heartbeat file older than ``heartbeat_seconds``: the daemon is hung or gone.

    No file: no daemon here, which is fine unless ``expect_daemon`` says one should be running.
    """
    if problem is not None:
        return failed("heartbeat", "critical", f"daemon heartbeat {where} unreadable: {problem}")
    if beat is None:
        if thresholds.expect_daemon:
            return failed("heartbeat", "critical", f"no daemon heartbeat at {where}: the daemon is not running")
        return ok("heartbeat", "no daemon heartbeat (not running as a daemon?)")
    try:
        at = as_kz(str(beat["at"]))
    except (KeyError, ValueError) as exc:
        return failed("heartbeat", "critical", f"daemon heartbeat {where} has no time: {exc}")
    age = max(0.0, (now - at).total_seconds())
    who = f"daemon pid {beat.get('pid', '?')}"
    if age > thresholds.heartbeat_seconds:
        return failed(
            "heartbeat", "critical", f"{who}: last heartbeat {_hours(age)} ago ({beat['at']}), older than"
            f" {thresholds.heartbeat_seconds:g} s: the daemon is hung or gone",
        )  # fmt: skip
    running = beat.get("running")
    doing = f", running {running}" if running else ", idle"
    return ok("heartbeat", f"{who}: heartbeat {_hours(age)} ago{doing}")


def skipped_fire_times(events: Mapping[tuple[str, str], int], thresholds: Monitors) -> Verdict:
    """More than ``skipped_fire_times`` fire times skipped or missed in the last day: a job keeps running
    past its interval, or the daemon's one executor is held by another."""
    total = sum(events.values())
    if total > thresholds.skipped_fire_times:
        parts = ", ".join(f"{job} {n} {event}" for (job, event), n in sorted(events.items()))
        return failed(
            "skipped_fire_times",
            "warning",
            f"{total} fire times skipped or missed in the last day ({parts}), above {thresholds.skipped_fire_times}",
        )
    return ok("skipped_fire_times", f"{total} fire times skipped or missed in the last day")


# --- gathering and evaluating ---


@dataclass
class CheckFacts:
    """Everything the checks read, read once: from the database (None when there is none), files, the disk."""

    now: datetime
    latest_seen: str | None = None
    jobs: list[JobState] = field(default_factory=list)
    sizes: dict[str, int | None] = field(default_factory=dict)
    free: int | None = None
    free_where: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)
    lock: dict[str, Any] | None = None
    beat: dict[str, Any] | None = None
    beat_problem: str | None = None
    beat_where: str = ""
    events: dict[tuple[str, str], int] = field(default_factory=dict)


def read_heartbeat(path: str) -> tuple[dict[str, Any] | None, str | None]:
    """(the heartbeat's JSON, None), (None, None) with no file, or (None, what is wrong with it)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, exc.strerror or str(exc)
    try:
        beat = json.loads(text)
    except ValueError as exc:
        return None, f"not JSON ({exc})"
    if not isinstance(beat, dict):
        return None, "not a JSON object"
    return beat, None


def _size(path: Path) -> int | None:
    """A SQLite file's size with its write-ahead log; None when there is no such file."""
    if not path.exists():
        return None
    wal = Path(f"{path}-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def gather(db: Any, config: Config, now: datetime, lock: dict[str, Any] | None = None) -> CheckFacts:
    """Read what the checks need; ``db`` None when there is no database to read. ``lock`` is the writer
    lock's state probed before the caller took it (storage.monitoring.lock_state)."""
    facts = CheckFacts(now=now, lock=lock)
    facts.beat_where = heartbeat_path(config.db)
    facts.beat, facts.beat_problem = read_heartbeat(facts.beat_where)
    where = Path(config.db).resolve().parent
    while not where.exists() and where != where.parent:
        where = where.parent
    facts.free_where = str(where)
    try:
        facts.free = shutil.disk_usage(where).free
    except OSError:
        facts.free = None
    facts.sizes = {"database": _size(Path(config.db)), "archive": _size(archive_path(config.db))}
    if db is not None:
        facts.latest_seen = store.latest_article_seen(db)
        facts.jobs = [
            JobState(row["name"], config.jobs.get(row["name"]), row["last_ok_started"], row["first_started"])
            for row in store.scheduled_jobs(db)
        ]
        facts.runs = store.ok_runs_since(db, (now - 8 * DAY).isoformat(timespec="seconds"))
        facts.events = store.fire_events_since(db, (now - DAY).isoformat(timespec="seconds"))
    return facts


def evaluate_checks(facts: CheckFacts, thresholds: Monitors, run_timeout: float) -> list[Verdict]:
    """Every enabled check's verdict, and ``check_error``'s (a check that raised)."""
    now = facts.now
    daemon = facts.beat is not None or facts.beat_problem is not None
    checks = {
        "quiet_site": lambda: quiet_site(facts.latest_seen, now, thresholds),
        "job_overdue": lambda: job_overdue(facts.jobs, now, thresholds, daemon),
        "db_size": lambda: db_size(facts.sizes, thresholds),
        "disk_free": lambda: disk_free(facts.free, facts.free_where, thresholds),
        "slower_runs": lambda: slower_runs(facts.runs, now, thresholds),
        "lock_held": lambda: lock_held(facts.lock, now, run_timeout),
        "heartbeat": lambda: heartbeat(facts.beat, facts.beat_problem, facts.beat_where, now, thresholds),
        "skipped_fire_times": lambda: skipped_fire_times(facts.events, thresholds),
    }
    return guarded(checks, thresholds.disabled, error=CHECK_ERROR)
