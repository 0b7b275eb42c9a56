"""One run plan, built once under the writer lock: a crawl opens the database once to plan and
once to write, and a crawl that waited for another plans from what that one stored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mirror.server import MirrorServer
from tests.conftest import FAST, ROOT, rows, wait_for

pytestmark = pytest.mark.slow

COUNT_OPENS = """
import json, sqlite3, sys
from pathlib import Path
import storage.lock as lock
db, lock_file = sys.argv[1], str(Path(sys.argv[1] + ".lock").resolve())
opens, real = [], sqlite3.connect
def connect(path, *args, **kwargs):
    if str(path) == db:
        opens.append(any(key[0] == lock_file for key in lock._HELD))
    return real(path, *args, **kwargs)
sqlite3.connect = connect
from cli import main
code = main(["crawl", "--db", db, *sys.argv[2:]])
print("OPENS " + json.dumps(opens))
sys.exit(code)
"""


def crawl_counting_opens(db: Path, base_url: str) -> list[bool]:
    """A crawl in a child process; for every connection to the database, was the writer lock held?"""
    proc = subprocess.run(
        [sys.executable, "-c", COUNT_OPENS, str(db), "--base-url", base_url, *FAST],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("OPENS "))
    return json.loads(line.removeprefix("OPENS "))


def test_a_crawl_opens_the_database_once_to_plan_and_once_to_write_both_under_the_lock(
    mirror: MirrorServer, db: Path
) -> None:
    assert crawl_counting_opens(db, mirror.url) == [True]  # a new database: nothing to plan from
    assert crawl_counting_opens(db, mirror.url) == [True, True]  # one with runs: plan, then write
    assert crawl_counting_opens(db, mirror.url) == [True, True]


def test_a_crawl_that_waited_for_another_plans_from_what_that_one_stored(mirror: MirrorServer, db: Path) -> None:
    slow = [*FAST, "-s", "DOWNLOAD_DELAY=0.3"]
    command = [sys.executable, "-m", "cli", "crawl", "--db", str(db), "--base-url", mirror.url]
    first = subprocess.Popen([*command, *slow], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(db, "SELECT id FROM crawl_runs WHERE status = 'running'", bool)  # it holds the lock
        second = subprocess.Popen(
            [*command, *FAST], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert second.wait(timeout=120) == 0, second.communicate()[1]
        finally:
            second.kill()
            second.communicate()
        assert first.wait(timeout=10) == 0, first.communicate()[1]
    finally:
        first.kill()
        first.communicate()
    stored = {r["url"].removeprefix(mirror.url) for r in rows(db, "SELECT url FROM articles")}
    assert len(stored) >= 10
    fetched = [path for path in mirror.paths() if path in stored]
    # the second run planned after the first had stored them: not one stored article fetched twice
    assert sorted(fetched) == sorted(stored)
    runs = rows(db, "SELECT status FROM crawl_runs ORDER BY id")
    assert [r["status"] for r in runs] == ["ok", "ok"]
