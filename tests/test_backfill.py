"""``informburo backfill``: a first import of older listing pages, resumable after an interruption."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mirror.server import MirrorServer
from tests.conftest import FAST, ROOT, informburo, rows, wait_for
from tests.test_end_to_end import expected_articles

pytestmark = pytest.mark.slow  # `informburo backfill` child processes


def backfill_args(db: Path, mirror: MirrorServer, *extra: str) -> list[str]:
    return ["backfill", "--db", str(db), "--base-url", mirror.url, *FAST, *extra]


def test_an_interrupted_backfill_resumes_where_it_stopped(mirror: MirrorServer, db: Path) -> None:
    slow = ["-s", "DOWNLOAD_DELAY=0.4", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1"]
    first = subprocess.Popen(
        [sys.executable, "-m", "cli", *backfill_args(db, mirror, "--pages", "3", *slow)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(db, "SELECT count(*) AS n FROM articles", lambda found: found and found[0]["n"] >= 3, 60)
    first.send_signal(signal.SIGINT)  # Scrapy stops gracefully and keeps its queue in the job directory
    assert first.wait(timeout=60) == 3  # interrupted
    jobdir = Path(f"{db}.backfill")
    assert jobdir.is_dir()
    stored_before = len(rows(db, "SELECT url FROM articles"))
    assert stored_before < len(expected_articles(mirror.site))
    fetched_before = len([p for p in mirror.paths() if p.count("/") == 2 and not p.startswith("/rss")])

    resumed = informburo(*backfill_args(db, mirror, "--pages", "3"))
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming the backfill" in resumed.stderr
    urls = [r["url"] for r in rows(db, "SELECT url FROM articles")]
    assert len(urls) == len(set(urls)) == len(expected_articles(mirror.site))
    article_fetches = [p for p in mirror.paths() if p.count("/") == 2 and not p.startswith("/rss")]
    assert len(article_fetches) - fetched_before <= len(expected_articles(mirror.site)) - stored_before + 1
    assert not jobdir.exists()  # finished: the next backfill starts afresh
    assert [r["status"] for r in rows(db, "SELECT status FROM crawl_runs ORDER BY id")] == ["interrupted", "ok"]


def test_backfill_until_a_date_keeps_only_newer_articles(mirror: MirrorServer, db: Path) -> None:
    result = informburo(*backfill_args(db, mirror, "--until", "2026-01-15"))
    assert result.returncode == 0, result.stderr
    stored = {r["published_at"] for r in rows(db, "SELECT published_at FROM articles")}
    wanted = {a["published"] for a in expected_articles(mirror.site) if a["published"] >= "2026-01-15"}
    assert stored == wanted


def test_backfill_needs_pages_or_until(db: Path) -> None:
    assert informburo("backfill", "--db", str(db)).returncode == 2
