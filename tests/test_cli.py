"""``informburo`` as its users call it: exit codes, messages, ``-s``, status, demo."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mirror.server import MirrorServer
from mirror.site import Site
from tests.conftest import crawl, informburo, rows
from tests.test_end_to_end import expected_articles, fallback_pages

pytestmark = pytest.mark.slow  # `informburo` child processes, most of them crawls


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_site_fails_with_a_one_line_reason(db: Path) -> None:
    base = f"http://127.0.0.1:{unused_port()}"
    result = crawl(db, base, "-s", "RETRY_TIMES=0")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("informburo: run 1 failed: ") and base in last and "onnection" in last
    run = rows(db, "SELECT * FROM crawl_runs")[0]
    assert run["status"] == "failed" and run["errors"] >= 1 and run["finished_at"]


def test_settings_pass_through_like_scrapy_crawl(mirror: MirrorServer, db: Path) -> None:
    result = crawl(db, mirror.url, "-s", "INFORMBURO_MAX_PAGES=1")
    assert result.returncode == 0, result.stderr
    assert "/novosti" in mirror.paths() and "/novosti?page=2" not in mirror.paths()


def test_max_pages_option_bounds_the_listing_walk(mirror: MirrorServer, db: Path) -> None:
    assert crawl(db, mirror.url, "--max-pages", "2").returncode == 0
    assert "/novosti?page=2" in mirror.paths() and "/novosti?page=3" not in mirror.paths()


def test_only_collects_the_named_parts(mirror: MirrorServer, db: Path) -> None:
    assert crawl(db, mirror.url, "--only", "rates").returncode == 0
    assert rows(db, "SELECT count(*) AS n FROM rates")[0]["n"] == 3
    assert rows(db, "SELECT count(*) AS n FROM most_read")[0]["n"] == 0
    assert rows(db, "SELECT count(*) AS n FROM articles")[0]["n"] == 0
    assert "/novosti" not in mirror.paths()


def test_bad_usage_exits_2(db: Path) -> None:
    assert informburo("crawl", "--db", str(db), "-s", "NO_EQUALS_SIGN").returncode == 2
    assert informburo("status", "--db", str(db)).returncode == 2  # no database yet
    assert not db.exists()


def test_status_lists_the_runs(site: Site, mirror: MirrorServer, db: Path) -> None:
    assert crawl(db, mirror.url).returncode == 0
    articles = len(expected_articles(site))
    result = informburo("status", "--db", str(db))
    assert result.returncode == 0
    assert f"{articles} articles, 10 most-read rows, 3 rate rows" in result.stdout
    run_line = next(line for line in result.stdout.splitlines() if line.strip().startswith("1 "))
    # robots.txt, home, the RSS feed, three listing pages, the articles and the answers of the views
    # widgets three of them load by script; every item stored.
    fallback, widgets = fallback_pages(site), sum(bool(a.get("views_widget")) for a in site.articles)
    pages = articles + 6 + widgets
    assert run_line.split()[3:] == ["ok", str(pages), str(articles + 13), "0", "0", f"{fallback}/{articles}"]
    assert "WARNING" not in result.stdout


def test_demo_collects_the_mirror_and_says_how_to_open_it(tmp_path: Path) -> None:
    result = informburo("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    db = tmp_path / "data" / "informburo.db"
    assert rows(db, "SELECT count(*) AS n FROM articles")[0]["n"] == len(expected_articles(Site.default()))
    assert "informburo serve --db data/informburo.db" in result.stdout
    assert "🥩🥒 Сельскохозяйственная ярмарка выходного дня пройдет в Астане" in result.stdout
    again = informburo("demo", cwd=tmp_path)  # a repeated demo adds no duplicate article
    assert again.returncode == 0, again.stderr
    assert rows(db, "SELECT count(*) AS n FROM articles")[0]["n"] == len(expected_articles(Site.default()))
