"""Shared fixtures: a served mirror, and crawls run as real ``informburo`` subprocesses.

Scrapy's reactor cannot restart inside one process, so every crawl in the suite is
its own process, exactly as cron runs it.

The suite is tiered by markers (declared in pyproject.toml): ``root``, ``redis`` and
``chromium`` tests skip, with the reason, when that is missing here; ``slow`` ones take
more than about a second. ``make test-fast`` runs none of them. ``make test`` and
``.ci/run`` set ``INFORMBURO_FULL_SUITE=1``, and then a single skipped test fails the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mirror.server import MirrorServer
from mirror.site import Site

ROOT = Path(__file__).resolve().parent.parent
FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "LOG_LEVEL=WARNING"]


@dataclass
class Crawl:
    returncode: int
    stdout: str
    stderr: str


def informburo(*args: str, cwd: Path | None = None, timeout: float = 120) -> Crawl:
    """Run the ``informburo`` CLI in a child process."""
    proc = subprocess.run(
        [sys.executable, "-m", "cli", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT
    )
    return Crawl(proc.returncode, proc.stdout, proc.stderr)


def crawl(db: Path, base_url: str, *extra: str) -> Crawl:
    """One collection pass over ``base_url`` into ``db``, polite delays off (it is our own server)."""
    return informburo("crawl", "--db", str(db), "--base-url", base_url, *FAST, *extra)


def rows(db: Path, sql: str, params: tuple = ()) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def start_daemon(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "run", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def ended(process: subprocess.Popen[str]) -> None:
    """Make sure a child is gone and its pipes are closed, whatever the test did (no leaked process)."""
    if process.poll() is None:
        process.kill()
    process.communicate()


def stop(daemon: subprocess.Popen[str]) -> str:
    daemon.send_signal(signal.SIGTERM)
    try:
        output, _ = daemon.communicate(timeout=60)
    finally:
        ended(daemon)
    return output


def wait_for(db: Path, sql: str, predicate, timeout: float = 90) -> list[dict]:
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        if db.exists():
            try:
                found = rows(db, sql)
            except sqlite3.OperationalError:  # schema not there yet
                found = []
            if predicate(found):
                return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting; last rows: {found}")


@pytest.fixture
def site() -> Site:
    """A private copy of the mirror's content; a test may edit it before serving."""
    return Site.default()


@pytest.fixture
def mirror(site: Site) -> Iterator[MirrorServer]:
    with MirrorServer(site) as server:
        yield server


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "informburo.db"


# --- The daemon's TOML config ---------------------------------------------------------------


def daemon_config(
    path: Path,
    *,
    db: Path | str,
    base_url: str,
    jobs: dict[str, dict[str, Any]],
    settings: dict[str, Any] | None = None,
    monitors: dict[str, Any] | None = None,
    **top: Any,
) -> Path:
    """Write a config for ``informburo run --config`` to ``path`` and return ``path``.

    ``top`` holds the other top-level keys (``log_file``, ``run_timeout``, ``redis_url``, ...),
    ``settings`` the ``[settings]`` table, ``monitors`` the ``[monitors]`` table, and a job's own
    ``"settings"`` dict becomes its ``[jobs.<name>.settings]`` table. Paths are written as strings.
    """
    document: dict[str, Any] = {"db": db, "base_url": base_url, **top}
    lines = _toml_pairs(document)
    if settings is not None:
        document["settings"] = settings
        lines += ["[settings]", *_toml_pairs(settings)]
    if monitors is not None:
        document["monitors"] = monitors
        lines += ["[monitors]", *_toml_pairs(monitors)]
    document["jobs"] = jobs
    for name, spec in jobs.items():
        table = f"jobs.{_toml_key(name)}"
        lines += [f"[{table}]", *_toml_pairs({k: v for k, v in spec.items() if k != "settings"})]
        if "settings" in spec:
            lines += [f"[{table}.settings]", *_toml_pairs(spec["settings"])]
    text = "\n".join(lines) + "\n"
    assert tomllib.loads(text) == _as_toml_reads_it(document), text  # the file says exactly what was asked
    path.write_text(text, encoding="utf-8")
    return path


def _toml_pairs(table: dict[str, Any]) -> list[str]:
    return [f"{_toml_key(key)} = {_toml_value(value)}" for key, value in table.items()]


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def _toml_string(text: str) -> str:
    # JSON's escapes are TOML's, but for DEL, which TOML wants escaped and JSON leaves alone.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # also inf, which TOML spells the same
    if isinstance(value, str | Path):
        return _toml_string(str(value))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def _as_toml_reads_it(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _as_toml_reads_it(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_toml_reads_it(v) for v in value]
    return str(value) if isinstance(value, Path) else value


# --- Tiers: skip what this machine cannot run; under INFORMBURO_FULL_SUITE=1 a skip fails the run ---

#: Debian's headless Chromium, which tests/test_browser.py drives (.ci/run installs it).
CHROMIUM = "/usr/bin/chromium"

#: Each tool marker: whether this machine has it, and the reason a test marked with it skips.
#: redis-server is looked up on PATH, as mirror/redis_server.py's RedisServer does.
NEEDS: dict[str, tuple[Callable[[], bool], str]] = {
    "root": (lambda: os.geteuid() == 0, "needs root (tmpfs mounts)"),
    "redis": (lambda: shutil.which("redis-server") is not None, "needs redis-server: apt-get install redis-server"),
    "chromium": (lambda: Path(CHROMIUM).exists(), "needs chromium: apt-get install chromium"),
}


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("INFORMBURO_FULL_SUITE") == "1":
        config.pluginmanager.register(FullSuite(), "informburo-full-suite")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = {marker: reason for marker, (present, reason) in NEEDS.items() if not present()}
    for item in items:
        reasons = [missing[m.name] for m in item.iter_markers() if m.name in missing]
        if reasons:
            item.add_marker(pytest.mark.skip(reason="; ".join(dict.fromkeys(reasons))))


class FullSuite:
    """``make test`` and ``.ci/run``: every test must run, so a skipped one fails the session, by name."""

    def __init__(self) -> None:
        self.skipped: list[tuple[str, str]] = []

    def _note(self, report: pytest.CollectReport | pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            self.skipped.append((report.nodeid, reason.removeprefix("Skipped: ")))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._note(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._note(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.skipped and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.skipped:
            return
        terminalreporter.section(
            f"INFORMBURO_FULL_SUITE=1: {len(self.skipped)} skipped test(s) fail the run", sep="=", red=True, bold=True
        )
        for nodeid, reason in self.skipped:
            terminalreporter.line(f"SKIPPED {nodeid}: {reason}")
        terminalreporter.line("Install what they need (bash .ci/run does), or run `make test-fast` for the fast tier.")


@contextlib.contextmanager
def writer_lock_held(db: Path) -> Iterator[None]:
    """The database's writer lock held by another thread, as a running crawl holds it, for the block."""
    from storage.lock import WriterLock

    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with WriterLock(db, timeout=5):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(5), "the writer lock could not be taken"
        yield
    finally:
        release.set()
        holder.join()
