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
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.alerts import AlertsConfig, AlertsConfigError, alerts_from_environment, parse_alerts
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
    "monitors", "alerts", "extraction_workers",
}  # fmt: skip
#: Top-level keys whose value is text (the numbers and tables are checked one by one).
_TEXT_KEYS = ("db", "base_url", "contact_url", "log_file", "redis_url", "redis_prefix")
REDIS_SCHEMES = ("redis", "rediss", "unix")


class ConfigError(ValueError):
    """Bad usage or configuration: the command says so in one line and exits 2, before it touches anything."""


#: Every monitor of a run (monitoring/monitors.py) and check across runs (monitoring/checks.py), by name:
#: what ``[monitors] disabled`` may name. docs/monitoring.md says what each one means.
RUN_MONITORS = ("run_failed", "page_errors", "rejects", "coverage", "drift", "sidebar", "rates", "finish_reason")
CHECKS = (
    "quiet_site", "job_overdue", "db_size", "disk_free", "slower_runs", "lock_held", "heartbeat",
    "skipped_fire_times",
)  # fmt: skip
#: Article fields whose coverage a run reports: the three every stored article has, then the optional ones.
CORE_FIELDS = ("title", "body", "published_at")
OPTIONAL_FIELDS = ("lead", "author", "modified_at", "tags", "image_url", "views")


@dataclass(frozen=True)
class Monitors:
    """The thresholds of ``[monitors]``: each monitor's and check's, with the defaults docs/monitoring.md lists.

    ``table`` is the table as written (checked), which a crawl gets as the ``INFORMBURO_MONITORS``
    setting: the daemon's children and distributed mode's store judge runs by the same numbers.
    """

    page_errors_percent: float = 20.0  # a run's pages not fetched above this share of its pages: critical
    rejects: int = 5  # a run's rejects above this: warning
    #: Field → lowest share (percent) of a run's article pages that may carry it; the core fields are 100.
    coverage_percent: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(CORE_FIELDS, 100.0))
    quiet_hours: float = 3.0  # no new article for this long, counted within publishing hours: critical
    publishing_hours: tuple[int, int] = (6 * 60, 23 * 60)  # minutes of the Kazakhstan day, start and end
    overdue_factor: float = 2.0  # a scheduled job without an ok run for this many intervals: critical
    db_size_limit_mb: float | None = None  # None: no limit, the check is off
    archive_size_limit_mb: float | None = None
    size_percent: float = 90.0  # a file above this share of its limit: warning
    disk_free_gb: float = 1.0  # less free space where the database lives: critical
    slower_factor: float = 2.0  # the last day's median run this many times the week's: warning
    heartbeat_seconds: float = 120.0  # the daemon's heartbeat older than this: critical
    expect_daemon: bool = False  # without a heartbeat file, say so as critical (not just note it)
    skipped_fire_times: int = 3  # more fire times skipped or missed in a day: warning
    check_minutes: float = 10.0  # the daemon runs the checks across runs this often; 0: only `informburo check`
    disabled: frozenset[str] = frozenset()
    table: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def hours_text(self) -> str:
        """The publishing hours as written: ``06:00–23:00``."""
        start, end = self.publishing_hours
        return f"{start // 60:02d}:{start % 60:02d}–{end // 60:02d}:{end % 60:02d}"


_MONITOR_KEYS = {
    "page_errors_percent", "rejects", "coverage_percent", "quiet_hours", "publishing_hours", "overdue_factor",
    "db_size_limit_mb", "archive_size_limit_mb", "size_percent", "disk_free_gb", "slower_factor",
    "heartbeat_seconds", "expect_daemon", "skipped_fire_times", "disabled", "check_minutes",
}  # fmt: skip
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})$")


def parse_monitors(table: Any) -> Monitors:
    """``[monitors]`` (None: the defaults) as ``Monitors``; ``ConfigError`` naming the key for anything wrong."""
    if table is None:
        return Monitors()
    table = _table(table, "monitors")
    unknown = set(table) - _MONITOR_KEYS
    if unknown:
        raise ConfigError(
            f"[monitors]: unknown keys: {', '.join(sorted(unknown))} (known: {', '.join(sorted(_MONITOR_KEYS))})"
        )
    where = "[monitors] "
    values: dict[str, Any] = {}
    for key, least, most in (
        ("page_errors_percent", 0, 100), ("size_percent", 1, 100), ("quiet_hours", None, 24 * 7),
        ("overdue_factor", None, None), ("disk_free_gb", 0, None), ("slower_factor", None, None),
        ("heartbeat_seconds", None, None), ("check_minutes", 0, 24 * 60),
    ):  # fmt: skip
        if key in table:
            number = _number(table, key, 0, least=least, above=None if least is not None else 0, where=where)
            if most is not None and number > most:
                raise ConfigError(f"{where}{key} must be at most {most:g}, not {table[key]!r}")
            values[key] = number
    if "overdue_factor" in values and values["overdue_factor"] < 1:
        raise ConfigError(f"{where}overdue_factor must be at least 1, not {table['overdue_factor']!r}")
    if "slower_factor" in values and values["slower_factor"] < 1:
        raise ConfigError(f"{where}slower_factor must be at least 1, not {table['slower_factor']!r}")
    for key in ("rejects", "skipped_fire_times"):
        if key in table:
            value = table[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where}{key} must be a whole number of at least 0, not {_shown(value)}")
            values[key] = value
    for key in ("db_size_limit_mb", "archive_size_limit_mb"):
        if key in table:
            values[key] = _number(table, key, 0, above=0, where=where)
    if "expect_daemon" in table:
        if not isinstance(table["expect_daemon"], bool):
            raise ConfigError(f"{where}expect_daemon must be true or false, not {_shown(table['expect_daemon'])}")
        values["expect_daemon"] = table["expect_daemon"]
    if "publishing_hours" in table:
        values["publishing_hours"] = _publishing_hours(table["publishing_hours"])
    if "coverage_percent" in table:
        floors = _table(table["coverage_percent"], f"{where}coverage_percent")
        fields = (*CORE_FIELDS, *OPTIONAL_FIELDS)
        for name in floors:
            if name not in fields:
                raise ConfigError(f"{where}coverage_percent: unknown field {name!r} (known: {', '.join(fields)})")
        checked = {name: _number(floors, name, 0, least=0, where=f"{where}coverage_percent.") for name in floors}
        for name, number in checked.items():
            if number > 100:
                raise ConfigError(f"{where}coverage_percent.{name} must be at most 100, not {floors[name]!r}")
        values["coverage_percent"] = {**dict.fromkeys(CORE_FIELDS, 100.0), **checked}
    if "disabled" in table:
        disabled = table["disabled"]
        names = (*RUN_MONITORS, *CHECKS)
        if not isinstance(disabled, list) or not all(isinstance(n, str) for n in disabled):
            raise ConfigError(f"{where}disabled must be a list of monitor names, not {_shown(disabled)}")
        for name in disabled:
            if name not in names:
                raise ConfigError(f"{where}disabled: unknown monitor {name!r} (known: {', '.join(names)})")
        values["disabled"] = frozenset(disabled)
    return Monitors(**values, table=dict(table))


def _publishing_hours(value: Any) -> tuple[int, int]:
    """``"06:00-23:00"`` → minutes of the day (start, end); the end may be 24:00, and must follow the start."""
    found = _HOURS.match(value.strip()) if isinstance(value, str) else None
    if found:
        h1, m1, h2, m2 = (int(g) for g in found.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 < 24 and h2 <= 24 and m1 < 60 and m2 < 60 and end <= 24 * 60 and start < end:
            return start, end
    raise ConfigError(
        f'[monitors] publishing_hours must be "HH:MM-HH:MM" with the start before the end (e.g. "06:00-23:00"),'
        f" not {_shown(value)}"
    )


def load_alerts(path: str | Path | None, environ: Mapping[str, str] | None = None) -> AlertsConfig:
    """The destinations of the ``[alerts]`` table of the file at ``path`` (None: no file), and of
    ``INFORMBURO_ALERT_URLS``; ``ConfigError`` when either is malformed.

    How a crawl the daemon started finds where to alert: it is passed the config's path
    (``INFORMBURO_CONFIG``), never the URLs, which may hold secrets and would show in ``ps``.
    """
    table = None
    if path is not None:
        try:
            with open(path, "rb") as fh:
                table = tomllib.load(fh).get("alerts")
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    try:
        return parse_alerts(table).merged(alerts_from_environment(os.environ if environ is None else environ))
    except AlertsConfigError as exc:
        raise ConfigError(str(exc)) from None


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
    #: Article pages read in this many worker processes (crawler/workers.py); None: a core each but one.
    extraction_workers: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    #: Distributed mode (docs/distributed.md): jobs seed the shared Redis queue instead of crawling.
    redis_url: str | None = None
    redis_prefix: str = "informburo"
    jobs: dict[str, dict[str, Any]] = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_JOBS.items()})
    monitors: Monitors = field(default_factory=Monitors)
    #: Where alerts go (secrets-bearing: never put in a setting, a command line or a log).
    alerts: AlertsConfig = field(default_factory=AlertsConfig, repr=False)
    #: The config file (absolute) when its ``[alerts]`` table names destinations: a crawl reads them from it.
    alerts_file: str | None = None

    def crawl_settings(self) -> dict[str, Any]:
        """The Scrapy settings every run gets: politeness keys first, ``[settings]`` on top."""
        out: dict[str, Any] = {}
        if self.contact_url:
            out["USER_AGENT"] = USER_AGENT.format(contact=self.contact_url)
        if self.download_delay is not None:  # AutoThrottle starts from it; 0 means no delay at all
            out["DOWNLOAD_DELAY"] = self.download_delay
            out["AUTOTHROTTLE_START_DELAY"] = self.download_delay
            if self.download_delay == 0:
                out["AUTOTHROTTLE_ENABLED"] = False
        if self.concurrent_requests_per_host is not None:
            out["CONCURRENT_REQUESTS_PER_DOMAIN"] = self.concurrent_requests_per_host
        if self.extraction_workers is not None:
            out["INFORMBURO_EXTRACTION_WORKERS"] = self.extraction_workers
        if self.redis_url:
            out["INFORMBURO_REDIS_URL"] = self.redis_url
        if self.redis_prefix != "informburo":
            out["INFORMBURO_REDIS_PREFIX"] = self.redis_prefix
        if self.monitors.table:  # the per-run thresholds, for the store that closes each run
            out["INFORMBURO_MONITORS"] = dict(self.monitors.table)
        if self.alerts_file:  # the path only: the URLs may hold secrets
            out["INFORMBURO_CONFIG"] = self.alerts_file
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
        config.concurrent_requests_per_host = _whole(raw, "concurrent_requests_per_host", least=1)
    if "extraction_workers" in raw:
        config.extraction_workers = _whole(raw, "extraction_workers", least=0)
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
    config.monitors = parse_monitors(raw.get("monitors"))
    try:
        in_file = parse_alerts(raw.get("alerts"))
        config.alerts = in_file.merged(alerts_from_environment(os.environ if environ is None else environ))
    except AlertsConfigError as exc:
        raise ConfigError(str(exc)) from None
    if path is not None and in_file:  # a crawl finds them by the file's path (INFORMBURO_CONFIG)
        config.alerts_file = str(Path(path).resolve())
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
    if name.startswith("_"):
        raise ConfigError(f"job {name}: a name starting with _ is the daemon's own (its checks are _checks)")
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


def _whole(raw: dict[str, Any], key: str, *, least: int) -> int:
    """A whole-number key's value, at least ``least``; ``ConfigError`` otherwise."""
    value = raw[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ConfigError(f"{key} must be a whole number of at least {least}, not {_shown(value)}")
    return value


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
