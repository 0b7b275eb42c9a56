"""The daemon: APScheduler decides *when*; each collection runs in a child process.

Scrapy's Twisted reactor cannot be restarted inside one process, so every run is
``informburo crawl`` in a fresh child (see docs/architecture.md): a crash or hang
there cannot take the daemon down, and the daemon's memory does not grow with the
number of runs. Runs are serialised (one child at a time) and every child takes the
database's writer lock, so a cron ``informburo crawl`` never overlaps a daemon run.

The daemon keeps its own books: when each run really started against its fire time, and the fire
times that did not run as scheduled (``scheduler_jobs``, ``scheduler_events``); a heartbeat file that
``informburo check`` reads; one summary line per run in its log, each child's full output in a
per-run file beside it.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO, Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.clock import KZ_TZ, kz_iso, now_kz
from core.config import TASKS, Config, ConfigError, make_trigger
from core.names import heartbeat_path
from monitoring.incidents import judge_run_id
from storage.db import open_database, writer
from storage.ledger import close_orphan_runs, orphan_runs, record_jobs, run_summary
from storage.lock import LockTimeoutError

logger = logging.getLogger("informburo.scheduler")
#: The children's own lines: at DEBUG (invisible at the daemon's INFO) but for their warnings and errors.
child_logger = logging.getLogger("informburo.scheduler.child")

EXIT_TIMEOUT = 124  # what a run killed for running past run_timeout is reported as
#: Seconds the daemon's bookkeeping waits for the writer lock; a crawl holding it longer
#: only delays ``informburo status``'s next fire times until the next record.
RECORD_LOCK_TIMEOUT = 5.0
#: Seconds between the daemon's checks that APScheduler's thread is still alive, and between heartbeats.
WATCH_INTERVAL = 5.0
#: The daemon's own job: the checks across runs (``informburo check``), every ``[monitors] check_minutes``.
CHECKS_JOB = "_checks"
#: Per-run log files (each child's whole output) go into this folder beside the daemon's log file.
RUN_LOG_DIR = "runs"
#: Per-run log files kept: the newest by modification time; older ones are removed after each run.
#: About 5.5 kB a run at LOG_LEVEL INFO: the default schedule (~170 runs a day) keeps ~6 days in ~6 MB,
#: and a fast test schedule cannot fill the disk, as an age limit would let it.
RUN_LOGS_KEPT = 1000
#: Skipped and missed fire times held in memory while the database cannot be written (the oldest go first).
PENDING_EVENTS_KEPT = 10_000
#: Most fire times recorded for one coalesced wake-up (a laptop asleep for a week with a 1-minute job).
COALESCED_RECORDED = 100
#: A child's line at WARNING or above, in Scrapy's log format (``2026-01-16 12:00:00 [scrapy.core.scraper]
#: ERROR: …``), or the CLI's one-line failure (``informburo: run 5 failed: …``): relayed to the daemon's log.
WARNING_LINE = re.compile(r"^(?:\S+ \S+ )?\[[^\]]+\] (?:WARNING|ERROR|CRITICAL): |^informburo: ")
RUN_LOG_NAME = re.compile(r"^.+-\d{8}T\d{6}(?:-\d+)?\.log$")


def crawl_command(config: Config, task: str, job: str | None = None) -> list[str]:
    """The child process of one run: the very ``informburo crawl`` that cron calls, or in
    distributed mode ``informburo seed``, which queues the run for the workers."""
    command = "seed" if config.redis_url else "crawl"
    cmd = [sys.executable, "-m", "cli", command, "--db", config.db, "--base-url", config.base_url]
    if TASKS[task]:
        cmd += ["--only", TASKS[task]]
    settings = config.crawl_settings()
    if job:
        settings.update(config.jobs.get(job, {}).get("settings", {}))  # a job's own [jobs.<name>.settings]
        settings["INFORMBURO_JOB"] = job
    for name, value in settings.items():
        text = value if isinstance(value, str) else json.dumps(value)  # Scrapy reads JSON for dicts and lists
        cmd += ["-s", f"{name}={text}"]
    return cmd


def setup_logging(log_file: str | None) -> None:
    """Log to stderr and, when configured, to a rotating file (5 × 5 MB).

    ``ConfigError`` when the file cannot be opened (the default ``data/informburo.log``
    in a read-only directory): the daemon refuses to start in one line, not a traceback.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file:
        try:
            Path(log_file).parent.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.handlers.RotatingFileHandler(log_file, maxBytes=5_000_000, backupCount=5))
        except OSError as exc:
            raise ConfigError(f"cannot open the log file {log_file}: {exc.strerror or exc}") from None
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s [%(name)s] %(levelname)s: %(message)s", handlers=handlers, force=True
    )
    # "Running job …" and "… executed successfully" for every run: the daemon's own start and summary
    # lines say as much. Its warnings (a missed fire time) stay.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)


def run_log_dir(log_file: str | None) -> Path | None:
    """Where the per-run log files go: ``runs/`` beside the daemon's log file; none without a log file."""
    return Path(log_file).parent / RUN_LOG_DIR if log_file else None


def prune_run_logs(folder: Path, keep: int = RUN_LOGS_KEPT) -> int:
    """Remove all but the newest ``keep`` per-run log files in ``folder`` (by modification time, then
    name); how many were removed. Only files named as the daemon names them are touched."""
    found: list[tuple[float, str, Path]] = []
    for path in folder.glob("*.log"):
        if RUN_LOG_NAME.match(path.name):
            try:
                found.append((path.stat().st_mtime, path.name, path))
            except OSError:  # removed meanwhile
                continue
    found.sort(reverse=True)
    removed = 0
    for _, _, path in found[keep:]:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder: a reader sees the old
    file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class RunOutput:
    """Where one child's output goes: all of it into its per-run file (when there is one), and into the
    daemon's log only its warnings and errors (at WARNING); without a file, every line at DEBUG."""

    def __init__(self, name: str, path: Path | None) -> None:
        self.name = name
        self.path: Path | None = None
        self.said: str | None = None  # the child's last line on stdout: what the command says it did
        self._file: IO[str] | None = None
        self._lock = threading.Lock()
        if path is not None:
            self._open(path)

    def _open(self, path: Path) -> None:
        """Open ``path`` new (``-2``, ``-3``… when a run of the job started in the same second)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            for n in range(1, 100):
                candidate = path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")
                try:
                    self._file = open(candidate, "x", encoding="utf-8", buffering=1)  # closed by close()
                except FileExistsError:
                    continue
                self.path = candidate
                return
        except OSError as exc:
            logger.warning("job %s: cannot write its run log %s (%s): its output goes to the daemon's log at DEBUG",
                           self.name, path, exc.strerror or exc)  # fmt: skip

    def relay(self, stream: IO[str] | None, said: bool = False) -> None:
        """Read one of the child's pipes to its end (a full pipe would block the child); ``said``: its
        stdout, where the command says what it did in a line (kept for the run's summary)."""
        if stream is None:
            return
        for line in stream:
            self.write(line)
            if said and line.strip():
                self.said = line.strip()

    def write(self, line: str) -> None:
        text = line.rstrip()
        with self._lock:
            if self._file is not None:
                try:
                    self._file.write(text + "\n")
                except OSError as exc:
                    logger.warning("job %s: its run log %s stopped (%s): the rest goes to the daemon's log at DEBUG",
                                   self.name, self.path, exc.strerror or exc)  # fmt: skip
                    self._close()
        if not text.strip():
            return
        if WARNING_LINE.search(text):
            child_logger.warning("[%s] %s", self.name, text)
        elif self._file is None:
            child_logger.debug("[%s] %s", self.name, text)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError:
                pass


class FireTimeExecutor(ThreadPoolExecutor):
    """APScheduler's thread pool, telling the daemon each job's fire time as it is submitted.

    APScheduler 3 passes no fire time to the job function (agronholm/apscheduler#297, left for 4.0),
    and its ``EVENT_JOB_SUBMITTED`` is dispatched after the submission, when the pool's thread may have
    started the job already. ``_do_submit_job`` runs in the scheduler's thread before the job reaches the
    pool; with ``max_instances=1`` a job has at most one submission pending, so a per-job slot filled here
    is read by the run it belongs to.
    """

    def __init__(self, on_submit: Callable[[Job, list[datetime]], None], max_workers: int = 1) -> None:
        super().__init__(max_workers)
        self._on_submit = on_submit

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        self._on_submit(job, run_times)
        super()._do_submit_job(job, run_times)


class GuardedTrigger(BaseTrigger):
    """A job's trigger that cannot kill APScheduler's thread.

    APScheduler asks triggers for fire times in its one scheduling thread and does not
    catch what they raise: one bad trigger would end every job while the daemon stayed
    up. Here a failing trigger is logged once, with its reason, and only its job ends.
    """

    def __init__(self, name: str, trigger: BaseTrigger) -> None:
        self.name = name
        self.trigger = trigger
        self.failed = False

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        if self.failed:
            return None
        try:
            return self.trigger.get_next_fire_time(previous_fire_time, now)
        except Exception as exc:
            self.failed = True
            logger.error("job %s: its trigger failed (%s: %s): no further runs of this job", self.name,
                         type(exc).__name__, exc)  # fmt: skip
            return None

    def __str__(self) -> str:
        return str(self.trigger)


class Daemon:
    """Runs the configured jobs until SIGTERM/SIGINT, one crawl child at a time."""

    def __init__(self, config: Config) -> None:
        self.config = config
        executors = {"default": FireTimeExecutor(self._submitted), CHECKS_JOB: ThreadPoolExecutor(1)}
        self.scheduler = BackgroundScheduler(timezone=KZ_TZ, executors=executors)
        self._stop = threading.Event()
        self._child_lock = threading.Lock()
        self._child: subprocess.Popen[str] | None = None
        # The books, written by _record_jobs: a crawl child holds the writer lock for minutes, so what
        # the scheduler sees is kept here until a write succeeds, never waited for in its thread.
        self._books_lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one write of the books at a time: an event is written once
        self._fire_times: dict[str, datetime] = {}  # job → the fire time of its pending submission
        self._starts: dict[str, dict[str, Any]] = {}  # job → its latest start, not yet written
        self._events: deque[tuple[int, dict[str, Any]]] = deque(maxlen=PENDING_EVENTS_KEPT)  # (number, row)
        self._event_count = 0
        self._summaries: dict[str, str] = {}  # job → its last run's summary, for the "done" line
        self._running: str | None = None
        self._started_at = now_kz()
        self._heartbeat_failed = False
        self._heartbeat_written = False

    def _job(self, name: str, task: str) -> int | None:
        """What APScheduler calls: note when the run really starts against its fire time, then run it."""
        if self._stop.is_set():
            return None
        started = datetime.now(KZ_TZ)
        with self._books_lock:
            fire_time = self._fire_times.pop(name, None)
        if fire_time is None:
            logger.info("job %s: starting a %s run", name, task)
        else:
            delay = max(0.0, (started - fire_time).total_seconds())
            with self._books_lock:
                self._starts[name] = {
                    "last_fire_at": kz_iso(fire_time),
                    "last_started_at": kz_iso(started),
                    "start_delay": round(delay, 1),
                }
            logger.info("job %s: starting a %s run for fire time %s (%.1f s late)", name, task,
                        fire_time.isoformat(), delay)  # fmt: skip
        self._running = name
        try:
            return self.run_job(name, task)
        finally:
            self._running = None

    def run_job(self, name: str, task: str) -> int | None:
        """One scheduled run; its exit code, or ``None`` when the daemon is stopping or the run
        could not be made.

        Whatever goes wrong here (the child cannot start: no memory, no file descriptors) is
        logged once, with its reason, and not raised: APScheduler would log it again with a
        traceback, and the next fire time must come as usual.
        """
        try:
            return self._run_child(name, task)
        except Exception as exc:
            logger.error("job %s: the run could not be made: %s: %s", name, type(exc).__name__, exc)
            return None

    def _run_child(self, name: str, task: str) -> int | None:
        with self._child_lock:
            if self._stop.is_set():
                return None
            spawned = datetime.now(KZ_TZ)
            child = subprocess.Popen(
                crawl_command(self.config, task, name), stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            self._child = child
        began = time.monotonic()
        folder = run_log_dir(self.config.log_file)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        output = RunOutput(name, folder / f"{safe}-{spawned:%Y%m%dT%H%M%S}.log" if folder else None)
        relays: list[threading.Thread] = []
        try:
            for stream in (child.stdout, child.stderr):
                said = stream is child.stdout
                relays.append(threading.Thread(target=output.relay, args=(stream, said), daemon=True))
                relays[-1].start()
            code = child.wait(timeout=self.config.run_timeout)
        except subprocess.TimeoutExpired:
            logger.error("job %s: run exceeded %ss; killing it", name, f"{self.config.run_timeout:g}")
            child.kill()
            child.wait()
            code = EXIT_TIMEOUT
            self._close_killed_run(f"killed after {self.config.run_timeout:g} s")
        except BaseException:  # never leave a child running unwatched: the next run would overlap it
            if child.poll() is None:
                child.kill()
                child.wait()
            raise
        finally:
            for relay in relays:
                relay.join(timeout=5)
            output.close()
            with self._child_lock:
                self._child = None
        self._summaries[name] = self._summary(name, code, spawned, time.monotonic() - began, output)
        if folder is not None:
            try:
                prune_run_logs(folder)
            except OSError as exc:
                logger.warning("could not remove old run logs in %s: %s", folder, exc)
        self._record_jobs()
        return code

    def _summary(self, name: str, code: int, spawned: datetime, seconds: float, output: RunOutput) -> str:
        """One line for the daemon's log: the run's row (by job, the newest started since the child was
        spawned; read without the writer lock), its exit code, duration, and where its full log is."""
        run: dict[str, Any] | None = None
        try:
            db = open_database(self.config.db, create=False)
            try:
                run = run_summary(db, name, kz_iso(spawned))
            finally:
                db.close()
        except Exception as exc:  # no database yet (the child failed first), or unreadable: say so, go on
            logger.debug("job %s: its run's row could not be read: %s", name, exc)
        where = f"; full log {output.path}" if output.path else ""
        if run is None:  # a seed that queued a run, or one that did not: the command's own line says which
            said = f" ({output.said})" if output.said else ""
            return f"no run recorded{said}, exit code {code}, {seconds:.1f} s{where}"
        return (
            f"run {run['id']} {run['status']}, exit code {code}, {seconds:.1f} s: {run['pages']} pages,"
            f" {run['items_stored']} items stored, {run['items_rejected']} rejected, {run['errors']} errors,"
            f" drift {'yes' if run['drift'] else 'no'}{where}"
        )

    def _close_killed_run(self, why: str) -> None:
        """The killed child's run row is still ``running``: close it as ``failed``, and judge it as a run
        that closed itself would be (its ``run_failed`` incident; the next check sends the alert)."""
        try:
            with writer(self.config.db, lock_timeout=60) as db:
                killed = orphan_runs(db)
                closed = close_orphan_runs(db, "failed", now_kz())
                for run_id in killed:
                    judge_run_id(db, run_id, self.config.monitors)
            logger.error("marked %s run(s) failed: %s", closed, why)
        except Exception:
            logger.exception("could not mark the killed run failed; the next run will mark it interrupted")

    def _record_jobs(self, schedule: bool = True) -> None:
        """Write the books for ``informburo status``: the schedule (next fire times, unless ``schedule`` is
        false), each job's latest start, and the fire times not run as scheduled. What cannot be written
        now (another writer holds the lock) stays in memory for the next call."""
        with self._flush_lock:
            jobs = [
                {
                    "name": job.id,
                    "task": self.config.jobs[job.id].get("task", "all"),
                    "trigger": str(job.trigger),
                    "next_run_at": job.next_run_time.isoformat() if job.next_run_time else None,
                }
                for job in (self.scheduler.get_jobs() if schedule else [])
                if job.id != CHECKS_JOB
            ]
            with self._books_lock:
                starts = dict(self._starts)
                events = [row for _, row in self._events]
                written = self._event_count  # the events numbered up to here are in this write
            try:
                with writer(self.config.db, lock_timeout=RECORD_LOCK_TIMEOUT) as db:
                    record_jobs(db, jobs, starts=starts, events=events)
            except LockTimeoutError as exc:  # another writer (a cron crawl) is busy: record after the next run
                logger.warning("schedule not recorded this time (%s pending fire-time events): %s", len(events), exc)
                return
            except Exception:
                logger.exception("could not record the schedule in the database")
                return
            with self._books_lock:
                for name, start in starts.items():
                    if self._starts.get(name) is start:  # not replaced by a newer start meanwhile
                        del self._starts[name]
                while self._events and self._events[0][0] <= written:
                    self._events.popleft()  # the listeners append at the right end meanwhile

    def _note_event(self, job: str, fire_time: datetime, event: str, detail: str) -> None:
        """Queue a fire time that did not run as scheduled (called from APScheduler's threads: no waiting)."""
        row = {"job": job, "fire_time": kz_iso(fire_time), "event": event, "detail": detail, "recorded_at": now_kz()}
        with self._books_lock:
            self._event_count += 1
            self._events.append((self._event_count, row))

    def _submitted(self, job: Job, run_times: list[datetime]) -> None:
        """A job handed to the pool: keep its fire time for the run to read, and note the fire times that
        were coalesced into it (several came due at once: the daemon was paused, asleep or starved)."""
        fire_time = run_times[-1]
        with self._books_lock:
            self._fire_times[job.id] = fire_time
        first = job.next_run_time  # APScheduler moves it on only after the submission
        if first is None or first >= fire_time:
            return
        trigger = job.trigger.trigger if isinstance(job.trigger, GuardedTrigger) else job.trigger
        coalesced: list[datetime] = []
        at: datetime | None = first
        try:
            while at is not None and at < fire_time and len(coalesced) < COALESCED_RECORDED:
                coalesced.append(at)
                at = trigger.get_next_fire_time(at, fire_time)
        except Exception:  # GuardedTrigger reports a failing trigger; this count is no reason to
            coalesced = coalesced or [first]
        more = " (or more)" if len(coalesced) == COALESCED_RECORDED else ""
        count = f"{len(coalesced)}{more} earlier fire time{'s' if len(coalesced) > 1 else ''}"
        detail = f"coalesced: {count} came due together with {fire_time.isoformat()}, submitted as one run"
        for at in coalesced:
            self._note_event(job.id, at, "missed", detail)
        logger.warning("job %s: %s", job.id, detail)

    def _skipped(self, event: JobSubmissionEvent) -> None:
        if event.job_id == CHECKS_JOB:  # the previous check still going: this one is not needed
            return
        running = self._running
        detail = (
            "its previous run was still going"
            if running == event.job_id
            else f"its previous fire time was still waiting behind {running or 'another job'}"
        )
        for fire_time in event.scheduled_run_times:
            self._note_event(event.job_id, fire_time, "skipped", detail)

    def _executed(self, event: JobExecutionEvent) -> None:
        if event.job_id == CHECKS_JOB:  # it logs its own lines
            return
        summary = self._summaries.pop(event.job_id, None)
        logger.info("job %s: done for fire time %s%s", event.job_id, event.scheduled_run_time.isoformat(),
                    f" — {summary}" if summary else "")  # fmt: skip

    def _missed(self, event: JobExecutionEvent) -> None:
        if event.job_id == CHECKS_JOB:  # the next check comes soon enough: not a collection missed
            return
        grace = self.config.jobs.get(event.job_id, {}).get("misfire_grace_time", 300)
        late = (datetime.now(KZ_TZ) - event.scheduled_run_time).total_seconds()
        detail = f"{late:.0f} s late, past misfire_grace_time {grace} s"
        self._note_event(event.job_id, event.scheduled_run_time, "missed", detail)
        logger.warning("job %s: missed its fire time at %s (%s): the next one runs", event.job_id,
                       event.scheduled_run_time.isoformat(), detail)  # fmt: skip

    def _beat(self) -> None:
        """Rewrite the heartbeat file for ``informburo check``: a failure is logged once, not every tick."""
        path = Path(heartbeat_path(self.config.db))
        beat = {"pid": os.getpid(), "at": now_kz(), "running": self._running, "started_at": self._started_at}
        try:
            write_atomically(path, json.dumps(beat) + "\n")
        except OSError as exc:
            if not self._heartbeat_failed:
                logger.warning("cannot write the heartbeat file %s: %s (said once; it is retried every %g s)",
                               path, exc.strerror or exc, WATCH_INTERVAL)  # fmt: skip
            self._heartbeat_failed = True
            return
        self._heartbeat_written = True
        if self._heartbeat_failed:
            logger.info("the heartbeat file %s is written again", path)
            self._heartbeat_failed = False

    def _end_heartbeat(self) -> None:
        """A clean stop removes the heartbeat it wrote: no file says "not running", a stale one "hung or gone"."""
        if not self._heartbeat_written:
            return
        try:
            Path(heartbeat_path(self.config.db)).unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("could not remove the heartbeat file: %s", exc)

    def request_stop(self, signum: int, frame: FrameType | None = None) -> None:
        logger.info("received signal %s: stopping", signum)
        self._stop.set()

    def schedule(self) -> None:
        """Add every configured job (each also runs once at start) and the listeners that log them."""
        for name, spec in self.config.jobs.items():
            self.scheduler.add_job(
                self._job,
                GuardedTrigger(name, make_trigger(name, spec)),
                args=[name, spec.get("task", "all")],
                id=name,
                name=name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(spec.get("misfire_grace_time", 300)),
                next_run_time=datetime.now(KZ_TZ),  # collect once at start, then on schedule
            )
        minutes = self.config.monitors.check_minutes
        if minutes:  # the checks across runs, in their own thread: a long crawl must not hold them up
            self.scheduler.add_job(
                self._checks,
                IntervalTrigger(minutes=minutes, timezone=KZ_TZ),
                id=CHECKS_JOB,
                name=CHECKS_JOB,
                executor=CHECKS_JOB,
                max_instances=1,
                coalesce=True,
                next_run_time=datetime.now(KZ_TZ) + timedelta(minutes=min(1.0, minutes)),  # first runs under way
            )
        self.scheduler.add_listener(self._missed, EVENT_JOB_MISSED)
        self.scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES)
        self.scheduler.add_listener(self._executed, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def _checks(self) -> None:
        """The checks across runs (``informburo check``'s): verdicts recorded, incidents moved, alerts sent;
        each failing one logged. A crawl holding the writer lock makes it a read-only look, said so."""
        try:
            from jobs.check import run_checks

            report = run_checks(self.config)
        except Exception as exc:  # a check that cannot run must not stop the schedule
            logger.error("checks: could not run: %s: %s", type(exc).__name__, exc)
            return
        lines = report.lines()
        level = logging.WARNING if report.exit_code else logging.INFO
        for line in lines if report.exit_code else lines[:1]:
            logger.log(level, "checks: %s", line)

    def scheduler_alive(self) -> bool:
        """Is APScheduler's thread still there? (Its private ``_thread``: 3.x has no public way to ask.)"""
        thread = getattr(self.scheduler, "_thread", None)
        return thread is None or thread.is_alive()

    def serve(self) -> int:
        """Run the schedule until SIGTERM/SIGINT (exit 0), or until APScheduler's thread dies (exit 1,
        so that systemd restarts the daemon instead of leaving it up and idle). The heartbeat file is
        written every WATCH_INTERVAL meanwhile, and removed on the clean stop; after a failure it is left
        to go stale, which ``informburo check`` reports as a daemon hung or gone."""
        setup_logging(self.config.log_file)
        self.schedule()
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        self._started_at = now_kz()
        self._record_jobs()  # before the first child takes the writer lock for its crawl
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            logger.info("job %s (%s): next run at %s", job.id, job.trigger, job.next_run_time.isoformat())
        code = self._watch()
        if code == 0:
            self._end_heartbeat()
        return code

    def _watch(self) -> int:
        code = 0
        self._beat()
        while not self._stop.wait(WATCH_INTERVAL):
            if not self.scheduler_alive():
                logger.error("the scheduler's thread has died: stopping with exit code 1 (systemd restarts us)")
                self._stop.set()
                code = 1
            else:
                self._beat()
        self.scheduler.shutdown(wait=False)
        with self._child_lock:
            child = self._child
        if child is not None:
            child.send_signal(signal.SIGTERM)  # the crawl finishes in-flight items and closes as `interrupted`
            try:
                child.wait(timeout=self.config.grace_period)
            except subprocess.TimeoutExpired:
                logger.error("the running crawl did not stop within %ss: killing it", self.config.grace_period)
                child.kill()
                child.wait()
                self._close_killed_run("killed after the stop grace period")
        if self._events or self._starts:
            self._record_jobs(schedule=False)  # what the scheduler saw since the last run's record
        logger.info("stopped")
        return code
