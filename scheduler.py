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
import os
import signal
import subprocess
import sys
import threading
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobEvent, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawler.fields import KZ_TZ, now_kz
from storage.db import DEFAULT_DB, close_orphan_runs, open_database
from storage.lock import WriterLock

logger = logging.getLogger("informburo.scheduler")

#: What a job collects; each maps to ``informburo crawl --only``.
TASKS = {"all": None, "articles": "articles", "most_read": "most_read", "rates": "rates", "recheck": "recheck"}
DEFAULT_JOBS: dict[str, dict[str, Any]] = {
    "articles": {"task": "articles", "trigger": "interval", "minutes": 15, "jitter": 60},
    "most_read": {"task": "most_read", "trigger": "interval", "minutes": 30, "jitter": 60},
    "rates": {"task": "rates", "trigger": "interval", "hours": 1, "jitter": 120},
    "recheck": {"task": "recheck", "trigger": "interval", "hours": 6, "jitter": 300},
}
_JOB_KEYS = {"task", "trigger", "jitter", "misfire_grace_time", "settings"}
_TOP_KEYS = {
    "db", "base_url", "contact_url", "run_timeout", "grace_period", "log_file",
    "download_delay", "concurrent_requests_per_host", "settings", "jobs", "redis_url", "redis_prefix",
}  # fmt: skip
EXIT_TIMEOUT = 124  # what a run killed for running past run_timeout is reported as


@dataclass
class Config:
    """What the daemon runs: the database, the site, politeness, Scrapy overrides and the jobs."""

    db: str = DEFAULT_DB
    base_url: str = "https://informburo.kz"
    contact_url: str | None = None  # put in the User-Agent, so the site can reach us
    run_timeout: float = 1800.0  # seconds before a hung run is killed and marked failed
    grace_period: float = 60.0  # seconds a running crawl gets to finish after SIGTERM
    log_file: str | None = "data/informburo.log"  # rotating; None logs to stderr only
    download_delay: float | None = None
    concurrent_requests_per_host: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    #: Distributed mode (docs/distributed.md): jobs seed the shared Redis queue instead of crawling.
    redis_url: str | None = None
    redis_prefix: str = "informburo"
    jobs: dict[str, dict[str, Any]] = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_JOBS.items()})

    def crawl_settings(self) -> dict[str, Any]:
        """The Scrapy settings every run gets: politeness keys first, ``[settings]`` on top."""
        out: dict[str, Any] = {}
        if self.contact_url:
            out["USER_AGENT"] = f"informburo-pipeline/0.1 (news archive for research; +{self.contact_url})"
        if self.download_delay is not None:
            out["DOWNLOAD_DELAY"] = self.download_delay
        if self.concurrent_requests_per_host is not None:
            out["CONCURRENT_REQUESTS_PER_DOMAIN"] = self.concurrent_requests_per_host
        if self.redis_url:
            out["INFORMBURO_REDIS_URL"] = self.redis_url
        if self.redis_prefix != "informburo":
            out["INFORMBURO_REDIS_PREFIX"] = self.redis_prefix
        return {**out, **self.settings}


def load_config(
    path: str | Path | None, *, db: str | None = None, base_url: str | None = None, redis_url: str | None = None
) -> Config:
    """The TOML config (or the defaults), with command-line values on top; ``ValueError`` if wrong."""
    raw: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ValueError(f"unknown top-level keys: {', '.join(sorted(unknown))}")
    config = Config()
    for key in ("contact_url", "log_file", "redis_url"):
        if key in raw:
            setattr(config, key, str(raw[key]) or None)
    config.db = str(db or raw.get("db", config.db))
    config.base_url = str(base_url or raw.get("base_url", config.base_url))
    config.redis_url = redis_url or config.redis_url or os.environ.get("INFORMBURO_REDIS_URL") or None
    config.redis_prefix = str(raw.get("redis_prefix", config.redis_prefix))
    config.run_timeout = float(raw.get("run_timeout", config.run_timeout))
    config.grace_period = float(raw.get("grace_period", config.grace_period))
    if "download_delay" in raw:
        config.download_delay = float(raw["download_delay"])
    if "concurrent_requests_per_host" in raw:
        config.concurrent_requests_per_host = int(raw["concurrent_requests_per_host"])
    config.settings = dict(raw.get("settings", {}))
    if "jobs" in raw:
        config.jobs = {name: dict(spec) for name, spec in raw["jobs"].items()}
    for name, spec in config.jobs.items():
        make_trigger(name, spec)  # fail now, not at the first fire time
    return config


def make_trigger(name: str, spec: dict[str, Any]) -> IntervalTrigger | CronTrigger:
    """The APScheduler 3 trigger of one ``[jobs.<name>]`` table."""
    if spec.get("task", "all") not in TASKS:
        raise ValueError(f"job {name}: task must be one of {', '.join(TASKS)}")
    args = {k: v for k, v in spec.items() if k not in _JOB_KEYS}
    jitter = spec.get("jitter")
    try:
        if spec.get("trigger") == "interval":
            return IntervalTrigger(timezone=KZ_TZ, jitter=jitter, **args)
        if spec.get("trigger") == "cron":
            return CronTrigger(timezone=KZ_TZ, jitter=jitter, **args)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"job {name}: {exc}") from exc
    raise ValueError(f'job {name}: trigger must be "interval" or "cron"')


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
    """Log to stderr and, when configured, to a rotating file (5 × 5 MB)."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(log_file, maxBytes=5_000_000, backupCount=5))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s [%(name)s] %(levelname)s: %(message)s", handlers=handlers, force=True
    )


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
        """One scheduled run; its exit code, or ``None`` when the daemon is stopping."""
        with self._child_lock:
            if self._stop.is_set():
                return None
            logger.info("job %s: starting a %s run", name, task)
            child = subprocess.Popen(
                crawl_command(self.config, task, name), stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            self._child = child
        relays = [
            threading.Thread(target=_relay, args=(stream, f"{name}"), daemon=True)
            for stream in (child.stdout, child.stderr)
        ]
        for relay in relays:
            relay.start()
        try:
            code = child.wait(timeout=self.config.run_timeout)
        except subprocess.TimeoutExpired:
            logger.error("job %s: run exceeded %ss; killing it", name, f"{self.config.run_timeout:g}")
            child.kill()
            child.wait()
            code = EXIT_TIMEOUT
            self._close_killed_run(f"killed after {self.config.run_timeout:g} s")
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
            with WriterLock(self.config.db, timeout=60):
                db = open_database(self.config.db)
                try:
                    closed = close_orphan_runs(db, "failed", now_kz())
                finally:
                    db.close()
            logger.error("marked %s run(s) failed: %s", closed, why)
        except Exception:
            logger.exception("could not mark the killed run failed; the next run will mark it interrupted")

    def _record_jobs(self) -> None:
        """Keep ``scheduler_jobs`` (next fire times) current for ``informburo status``."""
        try:
            db = open_database(self.config.db)
            try:
                with db.atomic():
                    for job in self.scheduler.get_jobs():
                        spec = self.config.jobs[job.id]
                        db["scheduler_jobs"].upsert(
                            {
                                "name": job.id,
                                "task": spec.get("task", "all"),
                                "trigger": str(job.trigger),
                                "next_run_at": job.next_run_time.isoformat() if job.next_run_time else None,
                                "updated_at": now_kz(),
                            },
                            pk="name",
                        )
            finally:
                db.close()
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

    def serve(self) -> int:
        setup_logging(self.config.log_file)
        for name, spec in self.config.jobs.items():
            self.scheduler.add_job(
                self.run_job,
                make_trigger(name, spec),
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
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            logger.info("job %s (%s): next run at %s", job.id, job.trigger, job.next_run_time.isoformat())
        self._record_jobs()
        self._stop.wait()
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
        return 0


def _relay(stream: IO[str] | None, name: str) -> None:
    """Pass a child's output into the daemon's log (stderr and the rotating file)."""
    if stream is None:
        return
    for line in stream:
        if line.strip():
            logger.info("[%s] %s", name, line.rstrip())
