"""The monitors of one run, judged when it closes: pure functions of its row and counts and the thresholds.

Each monitor is a small named function, ``(RunFacts, Monitors) → Verdict``. ``evaluate_run`` runs them
all; a monitor that raises becomes a failed ``monitor_error`` verdict with its reason, so a bug here
never costs a run its row. A monitor with nothing to judge in a run (the sidebar when only rates were
asked for, coverage with no article page) passes with ``applies=False``: it is recorded, but it
neither opens nor closes an incident, so a rates run never "recovers" a missing sidebar.

Why not Spidermon: its monitors are unittest cases run at ``spider_closed`` and read Scrapy's stats;
distributed mode's store closes runs outside Scrapy, and a run's verdict here needs the database
(its most-read rows, its rejects). Plain functions over the run's row serve every kind of run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.config import CORE_FIELDS, Monitors
from core.names import DEFAULT_PARTS

logger = logging.getLogger(__name__)

SEVERITY_RANK = {"ok": 0, "warning": 1, "critical": 2}
MONITOR_ERROR = "monitor_error"  # a monitor of a run raised
CHECK_ERROR = "check_error"  # a check across runs raised: its own name, so neither recovers the other's incident


@dataclass(frozen=True)
class Verdict:
    """One monitor's judgement: passed or not, how bad (``ok`` when passed), and what it saw in one line.

    ``applies`` is False when there was nothing to judge (the part was not asked for, outside the
    publishing hours): the verdict is kept, but moves no incident.
    """

    monitor: str
    passed: bool
    severity: str
    detail: str
    applies: bool = True

    def row(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "passed": self.passed, "severity": self.severity, "detail": self.detail}


def ok(monitor: str, detail: str, *, applies: bool = True) -> Verdict:
    return Verdict(monitor, True, "ok", detail, applies)


def failed(monitor: str, severity: str, detail: str) -> Verdict:
    if severity not in ("warning", "critical"):
        raise ValueError(f"a failed verdict is a warning or critical, not {severity!r}")
    return Verdict(monitor, False, severity, detail)


def worst(verdicts: Any) -> str:
    """The worst severity among verdicts (``ok`` for none)."""
    return max((v.severity for v in verdicts), key=SEVERITY_RANK.__getitem__, default="ok")


@dataclass(frozen=True)
class RunFacts:
    """A closed run as the monitors see it: its ``crawl_runs`` row and what else it stored."""

    run: Mapping[str, Any]
    most_read: int = 0
    rates: int = 0
    core_rejects: Mapping[str, int] = field(default_factory=dict)  # core field → article pages rejected without it
    start_error: str | None = None
    not_fetched: int = 0  # pages that could not be fetched (each URL once)
    finish_reason: str | None = None  # Scrapy's (``finished``, ``shutdown``, ``closespider_timeout``…)

    @property
    def parts(self) -> frozenset[str]:
        """What the run asked for (``crawl_runs.parts``; none recorded: the default parts)."""
        text = self.run.get("parts")
        return frozenset(p for p in text.split(",") if p) if text else frozenset(DEFAULT_PARTS)

    @property
    def label(self) -> str:
        return f"run {self.run.get('id')}"


def _percent(share: float) -> str:
    """``29%``; ``99.5%`` rather than a rounded ``100%`` (or ``0%``) that would hide the miss."""
    text = f"{share:.0%}"
    return f"{share:.1%}" if (text == "100%" and share < 1) or (text == "0%" and share > 0) else text


def run_failed(facts: RunFacts, thresholds: Monitors) -> Verdict:
    """A run that ended ``failed`` or ``interrupted``: nothing it should have collected can be trusted."""
    status = facts.run.get("status")
    if status in ("failed", "interrupted"):
        why = f": {facts.start_error}" if facts.start_error else ""
        return failed("run_failed", "critical", f"{facts.label} ended {status}{why}")
    return ok("run_failed", f"{facts.label} ended {status}")


def page_errors(facts: RunFacts, thresholds: Monitors) -> Verdict:
    """Pages that could not be fetched (an HTTP error, a timeout, a refused redirect) above a share of the
    pages the run received. A field or a widget not read on a page that came is not a page error: the
    coverage, drift and sidebar monitors judge those."""
    errors, pages = facts.not_fetched, facts.run.get("pages") or 0
    limit = thresholds.page_errors_percent
    if not pages:
        if errors:
            return failed("page_errors", "critical", f"{_count(errors, 'page')} not fetched and not one received")
        return ok("page_errors", "no pages and no errors")
    share = errors / pages
    text = f"{_count(errors, 'page')} not fetched, of {pages} received ({_percent(share)})"
    if share * 100 > limit:
        return failed("page_errors", "critical", f"{text}, above {limit:g}%")
    return ok("page_errors", f"{text}, at most {limit:g}%")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def rejects(facts: RunFacts, thresholds: Monitors) -> Verdict:
    """More rejected items than the threshold: the contract broke for more than the odd page."""
    count = facts.run.get("items_rejected") or 0
    if count > thresholds.rejects:
        return failed("rejects", "warning", f"{_count(count, 'item')} rejected, above {thresholds.rejects}")
    return ok("rejects", f"{_count(count, 'item')} rejected, at most {thresholds.rejects}")


def coverage(facts: RunFacts, thresholds: Monitors) -> Verdict:
    """Article fields under their floor: the core ones (every page must give them) among the run's article
    pages, the optional ones among its stored articles (``crawl_runs.field_coverage``)."""
    pages = facts.run.get("article_pages") or 0
    if facts.run.get("status") != "ok":
        return ok("coverage", f"not judged: {facts.label} ended {facts.run.get('status')}", applies=False)
    if not pages:
        return ok("coverage", "no article page in this run", applies=False)
    shares: dict[str, float] = {}
    for name in CORE_FIELDS:
        shares[name] = (pages - facts.core_rejects.get(name, 0)) / pages
    stored = _coverage_json(facts.run.get("field_coverage"))
    for name, share in stored.items():
        if share is not None and name not in shares:
            shares[name] = float(share)
    low = [
        f"{name} {_percent(shares[name])} (floor {floor:g}%)"
        for name, floor in thresholds.coverage_percent.items()
        if name in shares and shares[name] * 100 < floor - 1e-9
    ]
    if low:
        return failed("coverage", "warning", f"{', '.join(low)} of {pages} article pages")
    judged = ", ".join(f"{n} {_percent(shares[n])}" for n in thresholds.coverage_percent if n in shares)
    return ok("coverage", f"every floor met over {pages} article pages: {judged}")


def _coverage_json(text: Any) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text) if isinstance(text, str) else text
    return dict(value) if isinstance(value, Mapping) else {}


def drift(facts: RunFacts, thresholds: Monitors) -> Verdict:
    """The run's layout-drift warning (articles needing fallbacks, a widget missing or found by its shape,
    no next listing page, no feed, no view count): the site changed under the selectors."""
    if facts.run.get("status") != "ok":
        return ok("drift", f"not judged: {facts.label} ended {facts.run.get('status')}", applies=False)
    warning = facts.run.get("warning")
    if warning:
        return failed("drift", "warning", str(warning))
    return ok("drift", "no layout drift")


def _asked(monitor: str, part: str, facts: RunFacts) -> Verdict | None:
    if part not in facts.parts:
        return ok(monitor, f"not asked for ({facts.label} collected {', '.join(sorted(facts.parts))})", applies=False)
    if facts.run.get("status") != "ok":
        return ok(monitor, f"not judged: {facts.label} ended {facts.run.get('status')}", applies=False)
    return None


def sidebar(facts: RunFacts, thresholds: Monitors) -> Verdict:
    """No most-read snapshot stored by a run that asked for one."""
    skip = _asked("sidebar", "most_read", facts)
    if skip:
        return skip
    if not facts.most_read:
        return failed(
            "sidebar", "critical", f"no most-read snapshot stored by {facts.label}, which asked for most_read"
        )
    return ok("sidebar", f"{facts.most_read} most-read entries stored")


def rates(facts: RunFacts, thresholds: Monitors) -> Verdict:
    """No currency rates stored by a run that asked for them."""
    skip = _asked("rates", "rates", facts)
    if skip:
        return skip
    if not facts.rates:
        return failed("rates", "critical", f"no currency rates stored by {facts.label}, which asked for rates")
    return ok("rates", f"{facts.rates} currency rates stored")


def finish_reason(facts: RunFacts, thresholds: Monitors) -> Verdict:
    """Scrapy's finish reason other than ``finished`` (a close-spider limit, a shutdown, a store failure)."""
    reason = facts.finish_reason
    if reason is None:
        return ok("finish_reason", "no finish reason recorded (the crawl did not run)", applies=False)
    if reason != "finished":
        return failed("finish_reason", "warning", f"Scrapy finished {facts.label} with {reason!r}, not 'finished'")
    return ok("finish_reason", "finished")


#: Every monitor of a run, by name (core.config.RUN_MONITORS lists the same names, for ``disabled``).
RUN_MONITORS: dict[str, Callable[[RunFacts, Monitors], Verdict]] = {
    "run_failed": run_failed,
    "page_errors": page_errors,
    "rejects": rejects,
    "coverage": coverage,
    "drift": drift,
    "sidebar": sidebar,
    "rates": rates,
    "finish_reason": finish_reason,
}


def guarded(
    functions: Mapping[str, Callable[..., Verdict]],
    disabled: frozenset[str],
    *args: Any,
    error: str = MONITOR_ERROR,
) -> list[Verdict]:
    """Each function's verdict, the disabled ones left out; whatever raises is one failed ``error`` verdict
    naming each broken monitor (a passed one when none broke, so its incident can recover)."""
    verdicts: list[Verdict] = []
    broken: list[str] = []
    for name, function in functions.items():
        if name in disabled:
            continue
        try:
            verdict = function(*args)
        except Exception as exc:
            logger.error("monitor %s raised %s: %s", name, type(exc).__name__, exc)
            broken.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        verdicts.append(verdict)
    if broken:
        verdicts.append(failed(error, "warning", "; ".join(broken)))
    else:
        verdicts.append(ok(error, "every monitor ran"))
    return verdicts


def evaluate_run(facts: RunFacts, thresholds: Monitors) -> list[Verdict]:
    """Every enabled monitor's verdict on one closed run, and ``monitor_error``'s."""
    return guarded(RUN_MONITORS, thresholds.disabled, facts, thresholds)
