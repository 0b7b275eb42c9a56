"""Faults and hostile answers: every one ends in a recorded, explained outcome, with nothing lost."""

from __future__ import annotations

import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mirror.server import MirrorServer
from mirror.site import DISALLOWED, Site
from tests.conftest import FAST, ROOT, crawl, rows
from tests.test_end_to_end import expected_articles
from tests.test_history import RECHECK

pytestmark = pytest.mark.slow  # crawls, each an `informburo` child process

# Quick retries for tests; the behaviour is the same as the defaults, only shorter.
QUICK = ["-s", "RETRY_TIMES=1", "-s", "INFORMBURO_RETRY_BACKOFF=0.1", "-s", "DOWNLOAD_TIMEOUT=1.5"]


def victim(site: Site) -> dict:
    """An article to spoil: one listed on page 1, not the seed."""
    return site.articles[2]


def crawl_with_fault(site: Site, db: Path, fault: str, *extra: str) -> tuple[str, MirrorServer, str]:
    article = victim(site)
    path = site.path_of(article)
    site.faults[path] = fault
    with MirrorServer(site) as mirror:
        result = crawl(db, mirror.url, *QUICK, *extra)
    assert result.returncode == 0, result.stderr
    return mirror.url + path, mirror, path


def the_rest_is_stored(site: Site, db: Path, base: str, missing: set[str]) -> None:
    stored = {r["url"] for r in rows(db, "SELECT url FROM articles")}
    wanted = {base + site.path_of(a) for a in expected_articles(site)} - missing
    assert stored == wanted
    assert rows(db, "SELECT status FROM crawl_runs") == [{"status": "ok"}]  # a bad page does not fail the pass


@pytest.mark.parametrize(
    ("fault", "stage", "reason", "http_status"),
    [
        ("500", "fetch", "HTTP 500", 500),
        ("slow", "fetch", "TimeoutError", None),
        ("reset", "fetch", "ResponseDataLossError", None),
        ("truncated", "parse", "truncated page", 200),
        ("empty", "parse", "empty page", 200),
        ("pdf", "parse", "not an HTML page (application/pdf)", 200),
        ("redirect-loop", "fetch", "max redirections reached", None),
        ("huge", "fetch", "download max size", None),
        ("gzip-bomb", "fetch", "DOWNLOAD_MAXSIZE", None),
    ],
)
def test_a_bad_answer_is_recorded_and_the_run_goes_on(
    site: Site, db: Path, fault: str, stage: str, reason: str, http_status: int | None
) -> None:
    url, mirror, path = crawl_with_fault(site, db, fault)
    errors = rows(db, "SELECT url, stage, reason, http_status, resolved_at FROM crawl_errors")
    assert len(errors) == 1, errors
    assert errors[0]["url"] == url and errors[0]["stage"] == stage and reason in errors[0]["reason"], errors
    assert errors[0]["http_status"] == http_status and errors[0]["resolved_at"] is None
    the_rest_is_stored(site, db, mirror.url, {url})
    if fault in ("500", "slow", "reset"):  # transient: retried once (RETRY_TIMES=1) before giving up
        assert mirror.paths().count(path) == 2


def test_a_failed_page_is_retried_by_the_next_run_and_resolved(site: Site, db: Path) -> None:
    path = site.path_of(victim(site))
    site.faults[path] = "500"
    with MirrorServer(site) as mirror:
        url = mirror.url + path
        assert crawl(db, mirror.url, *QUICK).returncode == 0
        assert rows(db, "SELECT resolved_at FROM crawl_errors WHERE url = ?", (url,)) == [{"resolved_at": None}]
        del site.faults[path]
        site.unlisted.add(path)  # the listing has moved on: only the record of the failure brings it back
        assert crawl(db, mirror.url, *QUICK).returncode == 0
    assert rows(db, "SELECT url FROM articles WHERE url = ?", (url,)) == [{"url": url}]
    resolved = rows(db, "SELECT resolved_at FROM crawl_errors WHERE url = ?", (url,))
    assert len(resolved) == 1 and resolved[0]["resolved_at"]


@pytest.mark.parametrize("fault", ["503x1", "429x1"])
def test_throttling_is_retried_after_the_time_the_site_asks(site: Site, db: Path, fault: str) -> None:
    _, mirror, path = crawl_with_fault(site, db, fault)
    the_rest_is_stored(site, db, mirror.url, set())  # nothing missing: the retry got it
    assert rows(db, "SELECT * FROM crawl_errors") == []
    assert mirror.paths().count(path) == 2


def test_retry_after_is_honoured(site: Site, db: Path) -> None:
    path = site.path_of(victim(site))
    site.faults[path] = "503x1"
    stamps: list[float] = []
    with MirrorServer(site) as mirror:
        original = mirror.fault_for

        def spy(target: str) -> str | None:
            if target == path:
                stamps.append(time.monotonic())
            return original(target)

        mirror.fault_for = spy  # type: ignore[method-assign]
        assert crawl(db, mirror.url, *QUICK).returncode == 0
    assert len(stamps) == 2 and stamps[1] - stamps[0] >= 0.95  # Retry-After: 1, not the 0.1 s backoff


@pytest.mark.parametrize("target", ["other-host", "127.0.0.2", "file"])
def test_redirects_off_the_site_are_refused_and_recorded(site: Site, db: Path, target: str) -> None:
    with MirrorServer(host="127.0.0.2") as second, MirrorServer() as other:
        location = {
            "other-host": f"{other.url}/novosti/elsewhere",
            "127.0.0.2": f"http://127.0.0.2:{second.port}/novosti/elsewhere",
            "file": "file:///etc/passwd",
        }[target]
        url, mirror, _ = crawl_with_fault(site, db, f"redirect:{location}")
        assert second.paths() == [] and other.paths() == []  # never touched
    errors = rows(db, "SELECT url, stage, reason FROM crawl_errors")
    assert len(errors) == 1 and errors[0]["stage"] == "fetch"
    assert errors[0]["reason"].startswith("refused") or "scheme" in errors[0]["reason"], errors
    the_rest_is_stored(site, db, mirror.url, {url})


def test_binary_garbage_is_a_structured_reject(site: Site, db: Path) -> None:
    url, mirror, _ = crawl_with_fault(site, db, "binary")
    recorded = rows(db, "SELECT url FROM rejects UNION ALL SELECT url FROM crawl_errors")
    assert recorded == [{"url": url}]
    the_rest_is_stored(site, db, mirror.url, {url})


def test_deeply_nested_malformed_html_is_read_or_explained(site: Site, db: Path) -> None:
    url, _, _ = crawl_with_fault(site, db, "nested")
    stored = rows(db, "SELECT title FROM articles WHERE url = ?", (url,))
    explained = rows(db, "SELECT url FROM rejects UNION ALL SELECT url FROM crawl_errors")
    assert stored == [{"title": victim(site)["title"]}] or explained == [{"url": url}]
    assert rows(db, "SELECT status FROM crawl_runs") == [{"status": "ok"}]


def test_undeclared_cp1251_is_decoded(site: Site, db: Path) -> None:
    article = victim(site)
    article["variant"] = "cp1251-bare"
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url).returncode == 0
        url = mirror.url + site.path_of(article)
    assert rows(db, "SELECT title FROM articles WHERE url = ?", (url,)) == [{"title": article["title"]}]


@pytest.mark.parametrize("breakage", ["empty-body", "no-title", "short-body"])
def test_a_good_row_is_never_replaced_by_a_broken_page(site: Site, db: Path, breakage: str) -> None:
    article = victim(site)
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url).returncode == 0
        url = mirror.url + site.path_of(article)
        good = rows(db, "SELECT * FROM articles WHERE url = ?", (url,))
        if breakage == "empty-body":
            article["blocks"] = []
        elif breakage == "no-title":
            article["title"] = ""
        else:
            article["blocks"] = article["blocks"][:1]
            article["blocks"][0] = {"tag": "p", "html": "Коротко.", "text": "Коротко."}
        assert crawl(db, mirror.url, *RECHECK).returncode == 0
    assert rows(db, "SELECT * FROM articles WHERE url = ?", (url,)) == good
    rejects = rows(db, "SELECT url, field, reason FROM rejects")
    assert len(rejects) == 1 and rejects[0]["url"] == url
    expected_field = {"empty-body": "body", "no-title": "title", "short-body": "body"}[breakage]
    assert rejects[0]["field"] == expected_field
    if breakage == "short-body":
        assert rejects[0]["reason"].startswith("worse than the stored version")


def test_soak_ten_percent_faults_three_crawls(tmp_path: Path, site: Site) -> None:
    db = tmp_path / "soak.db"
    with MirrorServer(site, random_faults=(0.1, 20261128)) as mirror:
        for _ in range(3):
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            result = crawl(db, mirror.url, *QUICK, "-s", "RETRY_TIMES=2")
            assert result.returncode == 0, result.stderr
            assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 400_000  # KB: memory bounded
            assert before >= 0
        faulted = [r for r in mirror.requests if r.fault]
        assert faulted, "the soak injected no fault"
        base = mirror.url
    stored = [r["url"] for r in rows(db, "SELECT url FROM articles")]
    assert len(stored) == len(set(stored))  # exactly once
    wanted = {base + site.path_of(a) for a in expected_articles(site)}
    missing = wanted - set(stored)
    unresolved = {r["url"] for r in rows(db, "SELECT url FROM crawl_errors WHERE resolved_at IS NULL")}
    assert missing <= unresolved  # every article not stored has its failure on record
    assert set(stored) <= wanted
    assert [r["status"] for r in rows(db, "SELECT status FROM crawl_runs")] == ["ok", "ok", "ok"]


def article_table(db: Path) -> list[tuple]:
    path_only = "substr(url, instr(substr(url, 8), '/') + 7)"
    sql = f"SELECT {path_only} AS path, section, lang, title, lead, body, author, published_at, modified_at, tags,"
    sql += " views, sources FROM articles ORDER BY path"
    return [tuple(r.values()) for r in rows(db, sql)]


def test_kill_minus_nine_twenty_times_then_a_clean_crawl_matches_a_never_killed_one(tmp_path: Path, site: Site) -> None:
    rng = random.Random(42)
    killed, reference = tmp_path / "killed.db", tmp_path / "reference.db"
    deadline = time.monotonic() + 150
    with MirrorServer(site) as mirror:
        assert crawl(reference, mirror.url).returncode == 0
        for attempt in range(20):
            assert time.monotonic() < deadline, f"kill loop over time at attempt {attempt}"
            child = subprocess.Popen(
                [sys.executable, "-m", "cli", "crawl", "--db", str(killed), "--base-url", mirror.url, *FAST,
                 "-s", "DOWNLOAD_DELAY=0.05"],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(rng.uniform(0.4, 2.0))
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            if killed.exists():
                conn = sqlite3.connect(killed)
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"attempt {attempt}"
                # killed before the schema's first transaction committed: an empty file is a consistent one
                has_articles = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'articles'").fetchone()
                urls = [r[0] for r in conn.execute("SELECT url FROM articles")] if has_articles else []
                conn.close()
                assert len(urls) == len(set(urls))
        assert crawl(killed, mirror.url).returncode == 0
    assert article_table(killed) == article_table(reference)
    statuses = {r["status"] for r in rows(killed, "SELECT status FROM crawl_runs")}
    assert "running" not in statuses and statuses <= {"ok", "interrupted"}
    assert not any(p.startswith(DISALLOWED) for p in mirror.paths())
