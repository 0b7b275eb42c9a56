"""``informburo backfill``: a first import of older listing pages or of the sitemaps, resumable
after an interruption."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

import cli
from mirror.server import MirrorServer
from mirror.site import ARTICLE_SITEMAP, gzipped_sitemap, sitemap_chunks
from tests.conftest import FAST, ROOT, informburo, rows, wait_for
from tests.test_end_to_end import expected_articles

pytestmark = pytest.mark.slow  # `informburo backfill` child processes
#: One request at a time, slowly enough to stop a backfill halfway.
SLOW = ["-s", "DOWNLOAD_DELAY=0.4", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1"]


def backfill_args(db: Path, mirror: MirrorServer, *extra: str) -> list[str]:
    return ["backfill", "--db", str(db), "--base-url", mirror.url, *FAST, *extra]


def article_fetches(mirror: MirrorServer, since: int = 0) -> list[str]:
    """The article pages the mirror served, in order, from its ``since``-th request on."""
    return [p for p in mirror.paths()[since:] if mirror.site.article_at(p.split("?")[0]) is not None]


def stored_urls(db: Path) -> list[str]:
    return [r["url"] for r in rows(db, "SELECT url FROM articles")]


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
    fetched_before = len(article_fetches(mirror))

    resumed = informburo(*backfill_args(db, mirror, "--pages", "3"))
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming the backfill" in resumed.stderr
    urls = [r["url"] for r in rows(db, "SELECT url FROM articles")]
    assert len(urls) == len(set(urls)) == len(expected_articles(mirror.site))
    assert len(article_fetches(mirror)) - fetched_before <= len(expected_articles(mirror.site)) - stored_before + 1
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


# --- backfill --sitemaps ---


#: Newer than the mirror's oldest numbered sitemap was last modified: it is passed over.
UNTIL = "2026-01-15T12:00:00+05:00"


def published_since(mirror: MirrorServer, until: str) -> set[str]:
    site, bound = mirror.site, datetime.fromisoformat(until)
    return {
        mirror.url + site.path_of(a) for a in expected_articles(site) if datetime.fromisoformat(a["published"]) >= bound
    }


def start_sitemap_backfill(db: Path, mirror: MirrorServer) -> subprocess.Popen[bytes]:
    """A slow sitemap backfill in the background, once it has stored a few articles."""
    command = [sys.executable, "-m", "cli", *backfill_args(db, mirror, "--sitemaps", *SLOW)]
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(db, "SELECT count(*) AS n FROM articles", lambda found: found and found[0]["n"] >= 3, 60)
    return child


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["interrupted", "killed"])
def test_a_sitemap_backfill_stores_every_listed_article_and_resumes_without_refetching(
    mirror: MirrorServer, db: Path, stop: signal.Signals
) -> None:
    first = start_sitemap_backfill(db, mirror)
    first.send_signal(stop)  # SIGINT: Scrapy keeps its queue; SIGKILL: only what it had written
    assert first.wait(timeout=60) == (3 if stop == signal.SIGINT else -signal.SIGKILL)
    jobdir = Path(f"{db}.backfill")
    assert jobdir.is_dir()
    stored_before = set(stored_urls(db))
    wanted = {mirror.url + mirror.site.path_of(a) for a in expected_articles(mirror.site)}
    assert stored_before < wanted
    since = len(mirror.paths())

    resumed = informburo(*backfill_args(db, mirror, "--sitemaps"))
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming the backfill" in resumed.stderr
    assert ("did not stop cleanly" in resumed.stderr) == (stop == signal.SIGKILL)
    urls = stored_urls(db)
    assert len(urls) == len(set(urls)) and set(urls) == wanted  # every article the sitemaps list, once
    assert not {mirror.url + p for p in article_fetches(mirror, since)} & stored_before  # nothing fetched twice
    assert not jobdir.exists()  # finished: the next backfill starts afresh
    assert [r["status"] for r in rows(db, "SELECT status FROM crawl_runs ORDER BY id")] == ["interrupted", "ok"]
    assert rows(db, "SELECT count(*) AS n FROM crawl_errors")[0]["n"] == 0  # the partner's pages never asked for

    since = len(mirror.paths())
    again = informburo(*backfill_args(db, mirror, "--sitemaps"))
    assert again.returncode == 0, again.stderr
    assert "Resuming" not in again.stderr and article_fetches(mirror, since) == []  # all stored: none fetched
    assert "/sitemap.xml" in mirror.paths()[since:]


def test_a_sitemap_backfill_until_a_date_passes_over_older_sitemaps(mirror: MirrorServer, db: Path) -> None:
    result = informburo(*backfill_args(db, mirror, "--sitemaps", "--until", UNTIL))
    assert result.returncode == 0, result.stderr
    site, bound = mirror.site, datetime.fromisoformat(UNTIL)
    stored = set(stored_urls(db))
    assert published_since(mirror, UNTIL) <= stored  # every article published since
    for article in expected_articles(site):  # and nothing the sitemaps date before it
        if mirror.url + site.path_of(article) in stored:
            assert datetime.fromisoformat(article.get("modified") or article["published"]) >= bound
    assert len(stored) < len(expected_articles(site))
    older = [
        ARTICLE_SITEMAP.format(n=n) + (".gz" if n == gzipped_sitemap(site) else "")
        for n, chunk in enumerate(sitemap_chunks(site), start=1)
        if max(datetime.fromisoformat(a.get("modified") or a["published"]) for a in chunk) < bound
    ]
    assert older and not set(older) & set(mirror.paths())  # last modified before --until: never fetched


def test_backfill_sitemaps_takes_no_pages_nor_another_walks_queue(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["backfill", "--db", str(db), "--sitemaps", "--pages", "3"]) == cli.EXIT_USAGE
    assert "not --pages" in capsys.readouterr().err
    from jobs.backfill import STATE_FILE, write_state

    jobdir = Path(f"{db}.backfill")
    write_state(jobdir, "stopped", "listing")  # an interrupted listing backfill
    assert cli.main(["backfill", "--db", str(db), "--sitemaps"]) == cli.EXIT_USAGE
    assert "resume it without --sitemaps" in capsys.readouterr().err
    assert not db.exists() and [p.name for p in jobdir.iterdir()] == [STATE_FILE]  # nothing touched


@pytest.mark.redis
def test_a_seeded_sitemap_backfill_is_walked_by_the_workers(tmp_path: Path, mirror: MirrorServer) -> None:
    from mirror.redis_server import RedisServer
    from tests.test_distributed import Cluster, run_done

    db = tmp_path / "distributed.db"
    redis = RedisServer(tmp_path / "redis").start()
    cluster = Cluster(tmp_path, redis.url, db, mirror.url)
    try:
        assert informburo("seed", *cluster.common, "--sitemaps", "--pages", "2").returncode == 2
        cluster.start("worker", "worker")
        cluster.start("store", "store")
        run = run_done(db, cluster.seed("--only", "articles", "--sitemaps", "--until", UNTIL))
    finally:
        cluster.stop_all()
        redis.stop()
    assert run["status"] == "ok", cluster.log("worker") + cluster.log("store")
    stored = set(stored_urls(db))
    assert published_since(mirror, UNTIL) <= stored and len(stored) < len(expected_articles(mirror.site))
    assert "/sitemap.xml" in mirror.paths() and "/novosti" not in mirror.paths()  # the sitemaps, not the listing
