"""Incidents: a monitor failing, from its first failure to its recovery; and the alert outbox.

A failing verdict opens an incident for its monitor (one open per monitor); further failures only
count; a passing verdict recovers it. The outbox is the incidents whose start or recovery has not yet
been told: ``deliver`` sends each once, so one alert goes out when an incident starts and one when it
recovers, never one per run while it lasts.

A run's monitors are kept apart by the run's scope, its job (daemon) or else its parts: the incident
of ``page_errors/recheck`` is neither recovered by a clean ``rates`` run nor reopened by it, so the
daemon's differing jobs do not make an incident flap on every other run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.alerts import AlertsConfig
from core.clock import as_kz, now_kz
from core.config import CORE_FIELDS, Monitors
from core.names import DEFAULT_PARTS
from monitoring.alerts import Alert, Delivery, send
from monitoring.monitors import MONITOR_ERROR, RunFacts, Verdict, evaluate_run, failed
from storage import monitoring as store

logger = logging.getLogger(__name__)

#: Transitions older than this are not alerted late (a destination added today does not get last month's).
ALERT_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Transition:
    """What one verdict did to its incident: ``start``, ``again`` (one more failure) or ``recover``."""

    kind: str
    incident_id: int
    key: str


DEFAULT_SCOPE = ",".join(sorted(DEFAULT_PARTS))


def parts_of(run: Mapping[str, Any]) -> str:
    """The parts a run collected, as ``crawl_runs.parts`` writes them (none recorded: the default parts)."""
    return str(run.get("parts") or DEFAULT_SCOPE)


def scope_of(run: Mapping[str, Any]) -> str | None:
    """A run's scope: its job when the daemon started it, else the parts it collected; None for a plain
    ``informburo crawl`` of the default parts (what cron runs), whose incidents carry the bare monitor name."""
    if run.get("job"):
        return str(run["job"])
    parts = parts_of(run)
    return None if parts == DEFAULT_SCOPE else parts


def incident_key(monitor: str, run: Mapping[str, Any] | None) -> str:
    """The incident a verdict belongs to: ``sidebar`` (a plain crawl's), ``sidebar/most_read`` (the daemon's
    job most_read), or a check across runs' own name (``quiet_site``)."""
    scope = scope_of(run) if run is not None else None
    return monitor if scope is None else f"{monitor}/{scope}"


def apply_verdicts(
    db: Any, verdicts: Sequence[Verdict], at: str, run: Mapping[str, Any] | None = None
) -> list[Transition]:
    """Open, count or recover each verdict's incident (a verdict with nothing to judge moves none)."""
    moved: list[Transition] = []
    for verdict in verdicts:
        if not verdict.applies:
            continue
        key = incident_key(verdict.monitor, run)
        current = store.open_incident(db, key)
        run_id = run["id"] if run is not None else None
        if not verdict.passed:
            if current is None:
                last_good = None
                if run is not None:
                    scope = store.runs_of_scope(db, run_id, run.get("job"), parts_of(run), DEFAULT_SCOPE)
                    last_good = store.last_result_passed(db, verdict.monitor, scope)
                new = store.start_incident(db, key, verdict.severity, verdict.detail, at, run_id, last_good)
                moved.append(Transition("start", new, key))
            else:
                store.extend_incident(db, current["id"], verdict.detail)
                moved.append(Transition("again", current["id"], key))
        elif current is not None:
            store.recover_incident(db, current["id"], at, run_id)
            moved.append(Transition("recover", current["id"], key))
    return moved


def record(db: Any, verdicts: Sequence[Verdict], at: str, run: Mapping[str, Any] | None = None) -> list[Transition]:
    """Keep every verdict in ``monitor_results`` and move the incidents, in one transaction."""
    with db.atomic():
        store.record_results(db, run["id"] if run is not None else None, [v.row() for v in verdicts], at)
        return apply_verdicts(db, verdicts, at, run)


def judge_run(
    db: Any, run: Mapping[str, Any], thresholds: Monitors | None = None, finish_reason: str | None = None
) -> list[Verdict]:
    """The monitors of a run just closed (its ``crawl_runs`` row): judged, recorded, incidents moved.

    Never raises: the run's row is written already, and a monitor must not break the run. Whatever
    goes wrong is logged, and kept as a failed ``monitor_error`` verdict when the database still takes it.
    """
    thresholds = thresholds or Monitors()
    at = now_kz()
    try:
        counts = store.run_facts(db, run["id"], CORE_FIELDS)
        facts = RunFacts(run=dict(run), finish_reason=finish_reason, **counts)
        verdicts = evaluate_run(facts, thresholds)
        record(db, verdicts, at, run)
    except Exception as exc:
        logger.error("could not judge run %s: %s: %s", run.get("id"), type(exc).__name__, exc)
        verdicts = [failed(MONITOR_ERROR, "warning", f"the monitors of run {run.get('id')} failed: {exc}")]
        try:
            record(db, verdicts, at, run)
        except Exception as again:
            logger.error("could not record that either: %s: %s", type(again).__name__, again)
    for verdict in verdicts:
        if not verdict.passed:
            logger.warning("run %s: %s %s: %s", run.get("id"), verdict.severity, verdict.monitor, verdict.detail)
    return verdicts


def judge_run_id(db: Any, run_id: int, thresholds: Monitors | None = None) -> list[Verdict]:
    """``judge_run`` for a run closed without a store (one that failed before it could start)."""
    try:
        run = store.run_row(db, run_id)
    except Exception as exc:
        logger.error("could not read run %s to judge it: %s", run_id, exc)
        return []
    return judge_run(db, run, thresholds) if run else []


# --- the alert outbox ---


def alert_of(incident: Mapping[str, Any], kind: str, site: str, database: str) -> Alert:
    """The message for an incident's start or recovery."""
    recovered = kind == "recover"
    return Alert(
        kind=kind,
        severity=incident["severity"],
        monitor=incident["monitor"],
        detail=incident["detail"],
        since=incident["started_at"],
        run_id=incident["recovered_run_id"] if recovered else incident["first_run_id"],
        last_good_run_id=incident["last_good_run_id"],
        failures=incident["failures"],
        site=site,
        database=database,
    )


def deliver(
    db: Any,
    alerts: AlertsConfig,
    site: str,
    database: str,
    *,
    now: datetime | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Delivery]:
    """Send every pending start and recovery of the last 24 h; mark each one sent once a destination took it.

    With no destination, nothing is sent or marked (so adding one later tells only what is recent).
    A recovery waits for its start to have been told: no "back" for a start nobody heard of.
    Never raises: an alert that could not go stays pending for the next delivery.
    """
    if not alerts:
        return []
    try:
        moment = as_kz(now) if now is not None else as_kz(now_kz())
        pending = store.pending_alerts(db, (moment - ALERT_WINDOW).isoformat(timespec="seconds"))
    except Exception as exc:
        logger.error("could not read the pending alerts: %s: %s", type(exc).__name__, exc)
        return []
    deliveries: list[Delivery] = []
    since = (moment - ALERT_WINDOW).isoformat(timespec="seconds")
    for incident in pending:
        started_told = incident["alerted_at"] is not None
        if not started_told and incident["started_at"] >= since:
            sent = send(alerts, [alert_of(incident, "start", site, database)], environ=environ)
            deliveries += sent
            if any(d.ok for d in sent):
                started_told = _mark(db, incident["id"], recovery=False)
        if started_told and incident["recovered_at"] is not None and incident["recovery_alerted_at"] is None:
            sent = send(alerts, [alert_of(incident, "recover", site, database)], environ=environ)
            deliveries += sent
            if any(d.ok for d in sent):
                _mark(db, incident["id"], recovery=True)
    return deliveries


def _mark(db: Any, incident_id: int, *, recovery: bool) -> bool:
    try:
        store.mark_alerted(db, incident_id, now_kz(), recovery=recovery)
    except Exception as exc:  # sent but not marked: it may be sent once more, never lost
        logger.error("alert of incident %s sent but not marked: %s", incident_id, exc)
    return True
