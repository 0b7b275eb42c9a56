"""``informburo check-site``: the first command against a site says what it carries, by which layer.

The fast tests read the mirror's pages with the check's row builders; the slow ones run the
command as a child process against the served mirror, as a user would, in an empty directory
that must stay empty (no database, lock file or archive).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli import EXIT_USAGE, main
from crawler.pages import parse_article, parse_listing, parse_most_read, parse_rates
from crawler.spiders.check import (
    DRIFT,
    FOUND,
    MISSING,
    Row,
    article_rows,
    listing_rows,
    most_read_row,
    rates_row,
)
from jobs.check_site import CheckResult, render, unreached, verdict
from mirror.server import MirrorServer
from mirror.site import Site, render_article, render_home, render_listing
from tests.conftest import FAST, ROOT

PARTS = ("robots.txt", "home", "listing", "feed", "sitemap", "article 1", "article 2", "article 3")


def classless(html: str) -> str:
    """What the mirror's ``classless`` fault serves: every class attribute gone."""
    return re.sub(r' class="[^"]*"', "", html)


def check_site(base_url: str, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``informburo check-site`` in a child process, run from ``cwd`` with the default database path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFORMBURO_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "cli", "check-site", "--base-url", base_url, *FAST, *extra],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


def table(stdout: str) -> list[Row]:
    """The printed table read back into rows, column by column from the ruler under its header."""
    lines = stdout.splitlines()
    ruler = next(i for i, line in enumerate(lines) if line.startswith("----"))
    starts = [m.start() for m in re.finditer(r"-+", lines[ruler])]
    rows = []
    for line in lines[ruler + 1 :]:
        if not line.strip():
            break
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        rows.append(Row(*cells))
    return rows


def row(rows: list[Row], part: str, field: str) -> Row:
    found = [r for r in rows if r.part == part and r.field == field]
    assert len(found) == 1, (part, field, rows)
    return found[0]


# --- fast: the rows of each part, from the mirror's own pages ----------------------------------


def test_home_widgets_read_by_their_selectors_are_found_by_the_site() -> None:
    home = render_home(Site.default())
    sidebar, rates = most_read_row(parse_most_read(home, "http://127.0.0.1/")), rates_row(parse_rates(home, "/"))
    assert (sidebar.found, sidebar.layer) == (FOUND, "site")
    assert sidebar.detail.startswith("10 entries")
    assert (rates.found, rates.layer) == (FOUND, "site")
    assert "USD" in rates.detail


def test_home_widgets_found_only_by_their_shape_are_drift() -> None:
    home = classless(render_home(Site.default()))
    sidebar = most_read_row(parse_most_read(home, "http://127.0.0.1/"))
    rates = rates_row(parse_rates(home, "http://127.0.0.1/"))
    assert (sidebar.found, sidebar.layer) == (DRIFT, "shape")
    assert (rates.found, rates.layer) == (DRIFT, "shape")
    assert "found only by its shape" in sidebar.detail and "sidebar.py" in sidebar.detail


def test_a_page_without_the_widgets_says_they_are_missing() -> None:
    empty = "<html><body><p>nothing here</p></body></html>"
    assert most_read_row(parse_most_read(empty, "http://127.0.0.1/")).found == MISSING
    assert rates_row(parse_rates(empty, "http://127.0.0.1/")).found == MISSING


def test_article_fields_say_their_layer_and_a_core_fallback_is_drift() -> None:
    site = Site.default()
    article = site.articles[0]
    url = f"http://127.0.0.1{site.path_of(article)}"
    page = render_article(site, article, "http://127.0.0.1")
    rows = article_rows("article 1", url, parse_article(page, url))
    for field in ("title", "body", "published_at"):
        assert (row(rows, "article 1", field).found, row(rows, "article 1", field).layer) == (FOUND, "site")
    no_h1 = re.sub(r"<h1>.*?</h1>", "", page, count=1, flags=re.S)
    title = row(article_rows("article 1", url, parse_article(no_h1, url)), "article 1", "title")
    assert title.found == DRIFT and title.layer in ("jsonld", "meta")
    assert row(article_rows("article 1", url, "HTTP 404"), "article 1", "page").found == MISSING


def test_listing_says_how_the_next_page_is_named() -> None:
    url = "http://127.0.0.1/novosti"
    listing = parse_listing(render_listing(Site.default(), 1), url)
    rows = listing_rows(listing, [f"{url}?page=2"], listing.entries)
    assert row(rows, "listing", "next page").detail.startswith("rel=next")
    assert row(listing_rows(listing, [], listing.entries), "listing", "next page").detail.startswith("a ?page=N")


def test_the_verdict_names_what_drifted_and_what_is_missing() -> None:
    ok = CheckResult([Row("home", "rates", FOUND, "site")], ["http://h/robots.txt", "http://h/"])
    assert ok.ok and verdict(ok, "http://h").startswith("check-site: OK")
    assert "2 requests to h, robots.txt first" in verdict(ok, "http://h")
    bad = CheckResult([Row("home", "rates", DRIFT, "shape"), Row("listing", "entries", MISSING)], [])
    assert not bad.ok
    assert "drift: 1 found only by a fallback: home rates (shape)" in verdict(bad, "http://h")
    assert "MISSING: listing entries" in verdict(bad, "http://h")
    assert not CheckResult([], []).ok  # nothing read is nothing found
    # A part the check never reported on (a lost request, a failed callback) is missing, never silent.
    quiet = unreached([Row("home", "rates", FOUND, "site"), Row("article 1", "page", FOUND)], articles=2)
    assert [(r.part, r.found) for r in quiet] == [
        (part, MISSING) for part in ("robots.txt", "listing", "feed", "sitemap", "article 2")
    ]
    assert table(render(bad.rows)) == [Row("home", "rates", DRIFT, "shape"), Row("listing", "entries", MISSING, "-")]


def test_a_bad_base_url_is_a_usage_error_that_touches_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["check-site", "--base-url", "ftp://example.org"]) == EXIT_USAGE
    assert main(["check-site", "--base-url", "http://127.0.0.1", "-s", "DOWNLOAD_DELAY=abc"]) == EXIT_USAGE
    assert list(tmp_path.iterdir()) == []


# --- slow: the command against the served mirror -------------------------------------------------


@pytest.mark.slow
def test_check_site_on_the_mirror_finds_every_part_by_the_site(mirror: MirrorServer, tmp_path: Path) -> None:
    result = check_site(mirror.url, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = table(result.stdout)
    assert [p for p in PARTS if not any(r.part == p for r in rows)] == []
    assert not [r for r in rows if r.found in (DRIFT, MISSING)]
    for n in (1, 2, 3):
        for field in ("title", "body", "published_at"):
            assert (row(rows, f"article {n}", field).found, row(rows, f"article {n}", field).layer) == (FOUND, "site")
    assert row(rows, "home", "most-read sidebar").layer == "site"
    assert row(rows, "home", "rates").layer == "site"
    assert row(rows, "home", "cards").found == FOUND and row(rows, "home", "cards").detail.startswith("5 articles")
    assert row(rows, "sitemap", "article URLs").found == FOUND
    assert result.stdout.strip().splitlines()[-1].startswith("check-site: OK")
    # Nothing written where it ran: no database, lock file, archive or data directory.
    assert list(tmp_path.iterdir()) == []
    # Politely: robots.txt first and once, a handful of requests, every one of them to the mirror.
    paths = mirror.paths()
    assert paths[0] == "/robots.txt" and paths.count("/robots.txt") == 1
    assert len(paths) <= 12
    said = re.search(r"(\d+) requests to (\S+?),", result.stdout)
    assert said is not None and (int(said[1]), said[2]) == (len(paths), f"127.0.0.1:{mirror.port}")
    assert all(r.user_agent.startswith("informburo-pipeline/") for r in mirror.requests)


@pytest.mark.slow
def test_check_site_says_when_the_sidebar_markup_changed(site: Site, tmp_path: Path) -> None:
    site.faults["/"] = "classless"
    with MirrorServer(site) as server:
        result = check_site(server.url, tmp_path)
        paths = server.paths()
    assert result.returncode == 1, result.stdout + result.stderr
    rows = table(result.stdout)
    for field in ("most-read sidebar", "rates"):
        assert (row(rows, "home", field).found, row(rows, "home", field).layer) == (DRIFT, "shape")
    assert row(rows, "article 1", "title").layer == "site"  # only the home page changed
    last = result.stdout.strip().splitlines()[-1]
    assert "drift" in last and "home most-read sidebar (shape)" in last and "home rates (shape)" in last
    assert list(tmp_path.iterdir()) == []
    assert paths[0] == "/robots.txt"


@pytest.mark.slow
def test_check_site_loads_each_articles_views_widget_as_the_crawl_does(site: Site, tmp_path: Path) -> None:
    for article in site.articles:  # as on the live site: every counter loaded by its script
        if isinstance(article.get("views"), int):
            article["views_widget"] = article.get("views_widget") or "post"
    with MirrorServer(site) as server:
        result = check_site(server.url, tmp_path)
        widget_calls = server.statuses("/arrilot/load-widget")
        site.faults["/arrilot/load-widget"] = "500"
        failed = check_site(server.url, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = table(result.stdout)
    for n in (1, 2, 3):
        views = row(rows, f"article {n}", "views")
        assert (views.found, views.layer) == (FOUND, "widget") and re.search(r"\d", views.detail), views
    assert len(widget_calls) == 3 and all(status == 200 for _, status in widget_calls)
    views = row(table(failed.stdout), "article 1", "views")
    assert views.layer == "-" and "widget /arrilot/load-widget failed: HTTP 500" in views.detail, views
