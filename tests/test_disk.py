"""A full disk or a read-only database: the run fails cleanly, with one line, and the database stays intact.

These tests mount small tmpfs file systems, which needs root (as CI runs); without it they skip
(tests/conftest.py), and under ``make test`` the skip fails the run.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mirror.server import MirrorServer
from tests.conftest import crawl, rows

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    # room for the empty database (its schema, about 190 kB since schema 11, and its WAL), not for a crawl
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)], capture_output=True)
    assert done.returncode == 0, f"root, yet no tmpfs mount (a container without CAP_SYS_ADMIN?): {done.stderr!r}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def remount(mount: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mount)], check=True)


def intact(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_a_full_disk_fails_the_run_cleanly_and_the_next_run_completes(disk: Path, mirror: MirrorServer) -> None:
    db = disk / "informburo.db"
    result = crawl(db, mirror.url, "-s", "INFORMBURO_ARCHIVE_ENABLED=False")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("informburo: run") and "disk is full" in last
    assert "\n" not in last
    intact(db)
    stored_before = len(rows(db, "SELECT url FROM articles"))
    remount(disk, "size=20m")  # space freed
    assert crawl(db, mirror.url, "-s", "INFORMBURO_ARCHIVE_ENABLED=False").returncode == 0
    intact(db)
    urls = [r["url"] for r in rows(db, "SELECT url FROM articles")]
    assert len(urls) == len(set(urls)) > stored_before
    statuses = [r["status"] for r in rows(db, "SELECT status FROM crawl_runs ORDER BY id")]
    assert statuses[-1] == "ok" and statuses[0] in ("failed", "interrupted")  # never left `running`


def test_a_read_only_database_fails_the_run_with_one_line_and_is_not_touched(disk: Path, mirror: MirrorServer) -> None:
    remount(disk, "size=20m")
    db = disk / "informburo.db"
    assert crawl(db, mirror.url).returncode == 0
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in disk.iterdir()}
    remount(disk, "ro")
    try:
        result = crawl(db, mirror.url)
    finally:
        remount(disk, "rw")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("informburo: run") and ("read-only" in last or "readonly" in last), last
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in disk.iterdir()}
    assert after == before
    intact(db)
