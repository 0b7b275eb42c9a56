"""``informburo check``: the checks across runs, the incidents still open, and the alerts owed.

For cron, systemd timers and monitoring systems (Nagios, Uptime Kuma …): one line per failing
check or open incident, and the exit code of a monitoring plugin (0 ok, 1 warning, 2 critical,
the worst wins). The daemon calls ``run_checks`` on its own schedule too.

The verdicts and the incidents they move are written under the writer lock, taken with a short
timeout: a check must not wait minutes behind a crawl. When the lock is busy the checks are still
evaluated, read-only, and printed; only their recording (and the alerts) waits for the next check.
"""

from __future__ import annotations

import logging
import socket
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core.clock import as_kz, now_kz
from core.config import Config
from monitoring.alerts import Alert, Delivery, send
from monitoring.checks import evaluate_checks, gather
from monitoring.incidents import deliver, record
from monitoring.monitors import SEVERITY_RANK, Verdict, failed, worst
from storage.db import UnusableDatabaseError, open_database, writer
from storage.lock import LockTimeoutError
from storage.monitoring import lock_state, open_incidents

logger = logging.getLogger(__name__)

#: Seconds a check waits for the writer lock before it evaluates read-only.
CHECK_LOCK_TIMEOUT = 5.0
#: Exit codes, as monitoring plugins have them.
EXIT_CODES = {"ok": 0, "warning": 1, "critical": 2}


@dataclass
class CheckReport:
    """What a check found: the verdicts across runs, the incidents open after it, the alerts it sent."""

    verdicts: list[Verdict]
    incidents: list[dict[str, Any]] = field(default_factory=list)  # every open incident, after recording
    recorded: bool = False
    note: str | None = None  # why the verdicts were not recorded
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def run_incidents(self) -> list[dict[str, Any]]:
        """Open incidents of the monitors of runs (the checks across runs speak for themselves)."""
        return [i for i in self.incidents if i.get("first_run_id") is not None]

    @property
    def severity(self) -> str:
        """The worst of the failing checks and the open incidents of runs."""
        failing = [v for v in self.verdicts if not v.passed]
        levels = [worst(failing), *(i["severity"] for i in self.run_incidents)]
        return max(levels, key=SEVERITY_RANK.__getitem__)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.severity]

    def lines(self) -> list[str]:
        """One line per failing check and open incident of a run; a single OK line when there is none."""
        out = [f"{v.severity.upper()} {v.monitor}: {v.detail}" for v in self.verdicts if not v.passed]
        for incident in self.run_incidents:
            good = incident["last_good_run_id"]
            out.append(
                f"{incident['severity'].upper()} {incident['monitor']}: {incident['detail']} (since run"
                f" {incident['first_run_id']} at {incident['started_at']}, {incident['failures']} failed"
                f" run{'s' if incident['failures'] != 1 else ''}, last good run {good if good is not None else 'none'})"
            )
        if not out:
            passed = sum(1 for v in self.verdicts if v.passed)
            out.append(f"OK: {passed} checks passed, no incident open")
        if self.note:
            out.append(f"note: {self.note}")
        for d in self.deliveries:
            outcome = "sent" if d.ok else f"not sent ({d.error})"
            out.append(f"alert {d.alert.monitor} {d.alert.kind}: {outcome} to {d.destination}")
        return out


def run_checks(
    config: Config,
    *,
    deliver: bool = True,
    now: datetime | None = None,
    lock_timeout: float = CHECK_LOCK_TIMEOUT,
    environ: Mapping[str, str] | None = None,
) -> CheckReport:
    """Evaluate every check across runs at ``now`` (default: the project's clock, ``core.clock.now_kz``),
    record the verdicts and move their incidents under the writer lock, then send the alerts owed
    (``deliver``). Never raises for a missing or unusable database: that is itself a critical line."""
    now = as_kz(now) if now is not None else as_kz(now_kz())
    at = now.isoformat(timespec="seconds")
    path = config.db
    lock = lock_state(path) if Path(path).exists() else None  # probed before we take it ourselves
    if not Path(path).exists():
        verdicts = evaluate_checks(gather(None, config, now, lock), config.monitors, config.run_timeout)
        missing = failed("database", "critical", f"no database at {path}: `informburo crawl` has not run here")
        return CheckReport([missing, *verdicts], note="nothing recorded: there is no database")
    try:
        with writer(path, lock_timeout) as db:
            verdicts = evaluate_checks(gather(db, config, now, lock), config.monitors, config.run_timeout)
            record(db, verdicts, at)
            report = CheckReport(verdicts, open_incidents(db), recorded=True)
            if deliver:
                report.deliveries = _deliver(db, config, now, environ)
            return report
    except LockTimeoutError as exc:
        note = f"{exc}: checked read-only, verdicts not recorded, no alert sent"
    except (UnusableDatabaseError, sqlite3.DatabaseError) as exc:
        return CheckReport([failed("database", "critical", f"{path}: {exc}")], note="nothing recorded")
    except OSError as exc:  # a read-only directory: the lock file cannot be made
        note = f"cannot take the writer lock ({exc}): checked read-only, verdicts not recorded"
    return _read_only(config, now, lock, note)


def _read_only(config: Config, now: datetime, lock: dict[str, Any] | None, note: str) -> CheckReport:
    try:
        db = open_database(config.db, create=False)
    except (UnusableDatabaseError, sqlite3.DatabaseError, OSError) as exc:
        return CheckReport([failed("database", "critical", f"{config.db}: {exc}")], note=note)
    try:
        verdicts = evaluate_checks(gather(db, config, now, lock), config.monitors, config.run_timeout)
        return CheckReport(verdicts, open_incidents(db), note=note)
    finally:
        db.close()


def _deliver(db: Any, config: Config, now: datetime, environ: Mapping[str, str] | None) -> list[Delivery]:
    return deliver(db, config.alerts, config.base_url, config.db, now=now, environ=environ)


def send_test_alert(config: Config, environ: Mapping[str, str] | None = None) -> list[Delivery]:
    """A ``test`` alert to every destination (``informburo check --test-alert``): one Delivery each."""
    alert = Alert(
        kind="test",
        severity="warning",
        monitor="test",
        detail=f"informburo check --test-alert on {socket.gethostname()} for {config.db}",
        site=config.base_url,
        database=config.db,
    )
    return send(config.alerts, [alert], environ=environ)
