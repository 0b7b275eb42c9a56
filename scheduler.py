"""The daemon: APScheduler decides *when*; each collection runs in a child process.

Scrapy's Twisted reactor cannot be restarted inside one process, so every run is
``informburo crawl`` in a fresh child (see docs/architecture.md): a crash or hang
there cannot take the daemon down, and the daemon's memory does not grow with the
number of runs. Runs are serialised (one child at a time) and every child takes the
database's writer lock, so a cron ``informburo crawl`` never overlaps a daemon run.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import IO

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobEvent, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from core.clock import KZ_TZ, now_kz
from core.config import TASKS, Config, ConfigError, make_trigger
from storage.db import writer
from storage.ledger import close_orphan_runs, record_jobs
from storage.lock import LockTimeoutError

logger = logging.getLogger("informburo.scheduler")

EXIT_TIMEOUT = 124  # what a run killed for running past run_timeout is reported as
#: Seconds the daemon's bookkeeping waits for the writer lock; a crawl holding it longer
#: only delays ``informburo status``'s next fire times until the next record.
RECORD_LOCK_TIMEOUT = 5.0
#: Seconds between the daemon's checks that APScheduler's thread is still alive.
WATCH_INTERVAL = 5.0


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
        self.scheduler = BackgroundScheduler(
            timezone=KZ_TZ, executors={"default": {"type": "threadpool", "max_workers": 1}}
        )
        self._stop = threading.Event()
        self._child_lock = threading.Lock()
        self._child: subprocess.Popen[str] | None = None

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
            logger.info("job %s: starting a %s run", name, task)
            child = subprocess.Popen(
                crawl_command(self.config, task, name), stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            self._child = child
        relays: list[threading.Thread] = []
        try:
            for stream in (child.stdout, child.stderr):
                relays.append(threading.Thread(target=_relay, args=(stream, f"{name}"), daemon=True))
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
            with self._child_lock:
                self._child = None
        logger.info("job %s: run ended with exit code %s", name, code)
        self._record_jobs()
        return code

    def _close_killed_run(self, why: str) -> None:
        """The killed child's run row is still ``running``: close it as ``failed``."""
        try:
            with writer(self.config.db, lock_timeout=60) as db:
                closed = close_orphan_runs(db, "failed", now_kz())
            logger.error("marked %s run(s) failed: %s", closed, why)
        except Exception:
            logger.exception("could not mark the killed run failed; the next run will mark it interrupted")

    def _record_jobs(self) -> None:
        """Keep ``scheduler_jobs`` (next fire times) current for ``informburo status``."""
        jobs = [
            {
                "name": job.id,
                "task": self.config.jobs[job.id].get("task", "all"),
                "trigger": str(job.trigger),
                "next_run_at": job.next_run_time.isoformat() if job.next_run_time else None,
            }
            for job in self.scheduler.get_jobs()
        ]
        try:
            with writer(self.config.db, lock_timeout=RECORD_LOCK_TIMEOUT) as db:
                record_jobs(db, jobs)
        except LockTimeoutError as exc:  # another writer (a cron crawl) is busy: record after the next run
            logger.warning("schedule not recorded this time: %s", exc)
        except Exception:
            logger.exception("could not record the schedule in the database")

    def _executed(self, event: JobExecutionEvent) -> None:
        late = (datetime.now(KZ_TZ) - event.scheduled_run_time).total_seconds()
        logger.info("job %s: done for fire time %s (started up to %.1f s late)", event.job_id,
                    event.scheduled_run_time.isoformat(), late)  # fmt: skip

    def _missed(self, event: JobEvent) -> None:
        logger.warning(
            "job %s: missed its fire time at %s (coalesced into the next run)", event.job_id, event.scheduled_run_time
        )

    def request_stop(self, signum: int, frame: FrameType | None = None) -> None:
        logger.info("received signal %s: stopping", signum)
        self._stop.set()

    def schedule(self) -> None:
        """Add every configured job (each also runs once at start) and the listeners that log them."""
        for name, spec in self.config.jobs.items():
            self.scheduler.add_job(
                self.run_job,
                GuardedTrigger(name, make_trigger(name, spec)),
                args=[name, spec.get("task", "all")],
                id=name,
                name=name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(spec.get("misfire_grace_time", 300)),
                next_run_time=datetime.now(KZ_TZ),  # collect once at start, then on schedule
            )
        self.scheduler.add_listener(self._missed, EVENT_JOB_MISSED)
        self.scheduler.add_listener(self._executed, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def scheduler_alive(self) -> bool:
        """Is APScheduler's thread still there? (Its private ``_thread``: 3.x has no public way to ask.)"""
        thread = getattr(self.scheduler, "_thread", None)
        return thread is None or thread.is_alive()

    def serve(self) -> int:
        """Run the schedule until SIGTERM/SIGINT (exit 0), or until APScheduler's thread dies (exit 1,
        so that systemd restarts the daemon instead of leaving it up and idle)."""
        setup_logging(self.config.log_file)
        self.schedule()
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        self._record_jobs()  # before the first child takes the writer lock for its crawl
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            logger.info("job %s (%s): next run at %s", job.id, job.trigger, job.next_run_time.isoformat())
        code = 0
        while not self._stop.wait(WATCH_INTERVAL):
            if not self.scheduler_alive():
                logger.error("the scheduler's thread has died: stopping with exit code 1 (systemd restarts us)")
                self._stop.set()
                code = 1
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
        logger.info("stopped")
        return code


def _relay(stream: IO[str] | None, name: str) -> None:
    """Pass a child's output into the daemon's log (stderr and the rotating file)."""
    if stream is None:
        return
    for line in stream:
        if line.strip():
            logger.info("[%s] %s", name, line.rstrip())
