"""Shared fixtures: a served mirror, and crawls run as real ``informburo`` subprocesses.

Scrapy's reactor cannot restart inside one process, so every crawl in the suite is
its own process, exactly as cron runs it.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
