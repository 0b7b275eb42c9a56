"""The one configuration: defaults, then the TOML file, the environment and the command line.

Every command reads its configuration here (``crawl``, ``backfill``, ``seed``, ``worker``,
``store``, ``status`` and the daemon), so a default lives in one place and no command has
to import the daemon to read a file. Precedence, lowest first: the defaults below, the
environment (``INFORMBURO_DB``, ``INFORMBURO_BASE_URL``, ``INFORMBURO_REDIS_URL``), the
TOML file (``--config``), the command line.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.clock import KZ_TZ
from core.names import DEFAULT_BASE_URL, DEFAULT_DB

#: Environment variables a deployment may set instead of a file; name → Config attribute.
ENVIRONMENT = {"INFORMBURO_DB": "db", "INFORMBURO_BASE_URL": "base_url", "INFORMBURO_REDIS_URL": "redis_url"}
USER_AGENT = "informburo-pipeline/0.1 (news archive for research; +{contact})"
DEFAULT_CONTACT = "https://github.com/informburo-pipeline/informburo-pipeline"

#: What a daemon job collects; each maps to ``informburo crawl --only``.
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


@dataclass
class Config:
    """What a run or the daemon needs: the database, the site, politeness, Scrapy overrides, jobs."""

    db: str = DEFAULT_DB
    base_url: str = DEFAULT_BASE_URL
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
            out["USER_AGENT"] = USER_AGENT.format(contact=self.contact_url)
        if self.download_delay is not None:
            out["DOWNLOAD_DELAY"] = self.download_delay
        if self.concurrent_requests_per_host is not None:
            out["CONCURRENT_REQUESTS_PER_DOMAIN"] = self.concurrent_requests_per_host
        if self.redis_url:
            out["INFORMBURO_REDIS_URL"] = self.redis_url
        if self.redis_prefix != "informburo":
            out["INFORMBURO_REDIS_PREFIX"] = self.redis_prefix
        return {**out, **self.settings}


def environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The configuration the environment sets (``Config`` attribute → value), empty values ignored."""
    environ = os.environ if environ is None else environ
    return {attr: environ[name] for name, attr in ENVIRONMENT.items() if environ.get(name)}


def load_config(
    path: str | Path | None = None,
    *,
    db: str | None = None,
    base_url: str | None = None,
    redis_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Defaults, environment, the TOML file, then command-line values; ``ValueError`` if wrong."""
    raw: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ValueError(f"unknown top-level keys: {', '.join(sorted(unknown))}")
    config = Config(**environment(environ))
    for key in ("contact_url", "log_file", "redis_url"):
        if key in raw:
            setattr(config, key, str(raw[key]) or None)
    config.db = str(db or raw.get("db", config.db))
    config.base_url = str(base_url or raw.get("base_url", config.base_url))
    config.redis_url = redis_url or config.redis_url or None
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
