"""The one configuration: defaults, then the TOML file, the environment and the command line.

Every command reads its configuration here (``crawl``, ``backfill``, ``seed``, ``worker``,
``store``, ``status`` and the daemon), so a default lives in one place and no command has
to import the daemon to read a file. Precedence, lowest first: the defaults below, the
environment (``INFORMBURO_DB``, ``INFORMBURO_BASE_URL``, ``INFORMBURO_REDIS_URL``), the
TOML file (``--config``), the command line.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
#: Top-level keys whose value is text (the numbers and tables are checked one by one).
_TEXT_KEYS = ("db", "base_url", "contact_url", "log_file", "redis_url", "redis_prefix")
REDIS_SCHEMES = ("redis", "rediss", "unix")


class ConfigError(ValueError):
    """Bad usage or configuration: the command says so in one line and exits 2, before it touches anything."""


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
    """Defaults, environment, the TOML file, then command-line values; ``ConfigError`` if wrong.

    Every key is checked here, its type and its meaning, so that no command (above all the
    daemon, whose scheduler thread a bad trigger would kill) starts on a configuration that
    fails later.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"unknown top-level keys: {', '.join(sorted(unknown))}")
    for key in _TEXT_KEYS:
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"{key} must be a string, not {_shown(raw[key])}")
    config = Config(**environment(environ))
    for key in ("contact_url", "log_file", "redis_url"):
        if key in raw:
            setattr(config, key, raw[key] or None)
    config.db = db or raw.get("db") or config.db
    config.base_url = base_url or raw.get("base_url") or config.base_url
    config.redis_url = redis_url or config.redis_url or None
    config.redis_prefix = raw.get("redis_prefix", config.redis_prefix)
    config.run_timeout = _number(raw, "run_timeout", config.run_timeout, above=0)
    config.grace_period = _number(raw, "grace_period", config.grace_period, least=0)
    if "download_delay" in raw:
        config.download_delay = _number(raw, "download_delay", 0, least=0)
    if "concurrent_requests_per_host" in raw:
        value = raw["concurrent_requests_per_host"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"concurrent_requests_per_host must be a whole number of at least 1, not {_shown(value)}")
        config.concurrent_requests_per_host = value
    config.settings = dict(_table(raw.get("settings", {}), "settings"))
    check_base_url(config.base_url)
    if not config.redis_prefix:
        raise ConfigError("redis_prefix must not be empty")
    if config.redis_url and urlsplit(config.redis_url).scheme not in REDIS_SCHEMES:
        schemes = ", ".join(f"{s}://" for s in REDIS_SCHEMES)
        raise ConfigError(f"redis_url must start with one of {schemes}, not {config.redis_url!r}")
    if "log_file" in raw and config.log_file:
        check_log_file(config.log_file)
    if "jobs" in raw:
        jobs = _table(raw["jobs"], "jobs")
        if not jobs:
            raise ConfigError("jobs holds no [jobs.<name>] table: the daemon would run nothing")
        config.jobs = {name: dict(_table(spec, f"job {name}", "[jobs.<name>] table")) for name, spec in jobs.items()}
    for name, spec in config.jobs.items():
        check_job(name, spec)  # fail now, not at the first fire time
    return config


def check_base_url(url: str) -> str:
    """The site must be an absolute http(s) URL: anything else could only fail once a run has started."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base URL must be an absolute http(s) URL, not {url!r}")
    try:
        parts.port  # noqa: B018 -- raises on a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"base URL {url!r}: {exc}") from None
    return url


def check_log_file(log_file: str) -> None:
    """The daemon's log must be writable, or its directory creatable: found at load, not as a traceback at start."""
    path = Path(log_file)
    if path.is_dir():
        raise ConfigError(f"log_file {log_file} is a directory")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise ConfigError(f"log_file {log_file} is not writable")
        return
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"log_file {log_file}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"log_file {log_file}: cannot create it under {parent} (not writable)")


def check_job(name: str, spec: dict[str, Any]) -> None:
    """One ``[jobs.<name>]`` table: the types of its own keys, then its trigger, tried once."""
    task = spec.get("task", "all")
    if not isinstance(task, str) or task not in TASKS:
        raise ConfigError(f"job {name}: task must be one of {', '.join(TASKS)}, not {_shown(task)}")
    _number(spec, "jitter", 0, least=0, where=f"job {name}: ")
    _number(spec, "misfire_grace_time", 1, least=1, where=f"job {name}: ")
    _table(spec.get("settings", {}), f"job {name}: settings")
    make_trigger(name, spec)


def _shown(value: Any) -> str:
    """A value as a message names it: its TOML type and itself."""
    kind = {bool: "a boolean", str: "a string", int: "a number", float: "a number", dict: "a table", list: "an array"}
    return f"{kind.get(type(value), type(value).__name__)} ({value!r})"


def _number(
    table: Mapping[str, Any],
    key: str,
    default: float,
    *,
    least: float | None = None,
    above: float | None = None,
    where: str = "",
) -> float:
    """``table[key]`` as a number (a TOML integer or float, never a boolean or a string), within its bounds."""
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigError(f"{where}{key} must be a number, not {_shown(value)}")
    if least is not None and value < least:
        raise ConfigError(f"{where}{key} must be at least {least:g}, not {value!r}")
    if above is not None and value <= above:
        raise ConfigError(f"{where}{key} must be more than {above:g}, not {value!r}")
    return float(value)


def _table(value: Any, what: str, expected: str = "table") -> Mapping[str, Any]:
    """``value`` when it is a TOML table; a one-line refusal otherwise (``jobs = 5`` is not a schedule)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a {expected}, not {_shown(value)}")
    return value


def make_trigger(name: str, spec: dict[str, Any]) -> IntervalTrigger | CronTrigger:
    """The APScheduler 3 trigger of one ``[jobs.<name>]`` table, asked for two fire times once.

    Asking is what proves it: a trigger builds fine with ``jitter = "abc"`` or a negative
    interval and fails only when the scheduler's thread asks it for a time.
    """
    if spec.get("task", "all") not in TASKS:
        raise ConfigError(f"job {name}: task must be one of {', '.join(TASKS)}")
    args = {k: v for k, v in spec.items() if k not in _JOB_KEYS}
    jitter = spec.get("jitter")
    try:
        if spec.get("trigger") == "interval":
            trigger: IntervalTrigger | CronTrigger = IntervalTrigger(timezone=KZ_TZ, jitter=jitter, **args)
        elif spec.get("trigger") == "cron":
            trigger = CronTrigger(timezone=KZ_TZ, jitter=jitter, **args)
        else:
            got = spec.get("trigger")
            shown = f"not {_shown(got)}" if got is not None else "and it is not set"
            raise ConfigError(f'job {name}: trigger must be "interval" or "cron", {shown}')
        first = trigger.get_next_fire_time(None, datetime.now(KZ_TZ))
        if first is not None:
            trigger.get_next_fire_time(first, first)
    except ConfigError:
        raise
    except (TypeError, ValueError, ArithmeticError, OverflowError) as exc:
        raise ConfigError(f"job {name}: {exc}") from None
    if isinstance(trigger, IntervalTrigger) and trigger.interval_length <= 0:
        raise ConfigError(f"job {name}: the interval must be positive, not {trigger.interval_length:g} s")
    if first is None:
        raise ConfigError(f"job {name}: its trigger never fires")
    return trigger
