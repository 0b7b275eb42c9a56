"""The daemon: APScheduler decides *when*; each collection runs in a child process.

Scrapy's Twisted reactor cannot be restarted inside one process, so every run is
``informburo crawl`` in a fresh child: a crash or hang there cannot take the
daemon down, and the daemon's memory does not grow with the number of runs.
Runs are serialised (one child at a time), so two jobs never write at once.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawler.fields import KZ_TZ
from storage.db import DEFAULT_DB

logger = logging.getLogger("informburo.scheduler")

TASKS = ("all", "articles", "most_read", "rates")
DEFAULT_JOBS: dict[str, dict[str, Any]] = {
    "articles": {"task": "articles", "trigger": "interval", "minutes": 15, "jitter": 60},
    "most_read": {"task": "most_read", "trigger": "interval", "minutes": 30, "jitter": 60},
    "rates": {"task": "rates", "trigger": "interval", "hours": 1, "jitter": 120},
}
_JOB_KEYS = {"task", "trigger", "jitter", "misfire_grace_time"}


@dataclass
class Config:
    """What the daemon runs: the database, the site, Scrapy overrides and the jobs."""

    db: str = DEFAULT_DB
    base_url: str = "https://informburo.kz"
    run_timeout: float = 1800.0  # seconds before a hung run is killed
    grace_period: float = 60.0  # seconds a running crawl gets to finish after SIGTERM
    settings: dict[str, Any] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_JOBS.items()})


def load_config(path: str | Path | None, *, db: str | None = None, base_url: str | None = None) -> Config:
    """The TOML config (or the defaults), with command-line values on top; ``ValueError`` if wrong."""
    raw: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    config = Config()
    unknown = set(raw) - {"db", "base_url", "run_timeout", "grace_period", "settings", "jobs"}
    if unknown:
        raise ValueError(f"unknown top-level keys: {', '.join(sorted(unknown))}")
    config.db = str(db or raw.get("db", config.db))
    config.base_url = str(base_url or raw.get("base_url", config.base_url))
    config.run_timeout = float(raw.get("run_timeout", config.run_timeout))
    config.grace_period = float(raw.get("grace_period", config.grace_period))
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


def crawl_command(config: Config, task: str) -> list[str]:
    """The child process of one run: the very ``informburo crawl`` that cron calls."""
    cmd = [sys.executable, "-m", "cli", "crawl", "--db", config.db, "--base-url", config.base_url]
    if task != "all":
        cmd += ["--only", task]
    for name, value in config.settings.items():
        cmd += ["-s", f"{name}={value}"]
    return cmd


class Daemon:
    """Runs the configured jobs until SIGTERM/SIGINT, one crawl child at a time."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.scheduler = BackgroundScheduler(
            timezone=KZ_TZ, executors={"default": {"type": "threadpool", "max_workers": 1}}
        )
        self._stop = threading.Event()
        self._child_lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None

    def run_job(self, name: str, task: str) -> int | None:
        """One scheduled run; its exit code, or ``None`` when the daemon is stopping."""
        with self._child_lock:
            if self._stop.is_set():
                return None
            logger.info("job %s: starting a %s run", name, task)
            self._child = subprocess.Popen(crawl_command(self.config, task))
        try:
            code = self._child.wait(timeout=self.config.run_timeout)
        except subprocess.TimeoutExpired:
            logger.error("job %s: run exceeded %ss, killing it", name, self.config.run_timeout)
            self._child.kill()
            code = self._child.wait()
        finally:
            with self._child_lock:
                child, self._child = self._child, None
        logger.info("job %s: run ended with exit code %s", name, code if child else "?")
        return code

    def request_stop(self, signum: int, frame: FrameType | None = None) -> None:
        logger.info("received signal %s: stopping", signum)
        self._stop.set()

    def serve(self) -> int:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(name)s] %(levelname)s: %(message)s")
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
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            logger.info("job %s: next run at %s", job.id, job.next_run_time.isoformat())
        self._stop.wait()
        self.scheduler.shutdown(wait=False)
        with self._child_lock:
            child = self._child
        if child is not None:
            child.send_signal(signal.SIGTERM)  # the crawl closes its run as `interrupted`
            try:
                child.wait(timeout=self.config.grace_period)
            except subprocess.TimeoutExpired:
                logger.error("the running crawl did not stop within %ss: killing it", self.config.grace_period)
                child.kill()
                child.wait()
        logger.info("stopped")
        return 0
