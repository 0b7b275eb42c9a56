"""Faults and hostile answers: every one ends in a recorded, explained outcome, with nothing lost."""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from crawler.fields import parse_datetime, shared_words
from mirror.server import MirrorServer
from mirror.site import DISALLOWED, Site, body_text
from pipelines.store import SHARED_WORDS
from tests.conftest import FAST, ROOT, crawl, informburo, rows
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
    # The size limits must trip before the short timeout does, even on a loaded machine.
    roomy = ("-s", "DOWNLOAD_TIMEOUT=30") if fault in ("huge", "gzip-bomb") else ()
    url, mirror, path = crawl_with_fault(site, db, fault, *roomy)
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


def test_a_good_row_is_never_replaced_by_a_broken_page(site: Site, db: Path) -> None:
    """Three stored articles come back broken on a re-crawl (no body, no title, a body cut to one
    line): each is a reject with its field, and every stored row is untouched."""
    broken = dict(zip(("empty-body", "no-title", "short-body"), plain_articles(site), strict=False))
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url).returncode == 0
        url = {name: mirror.url + site.path_of(article) for name, article in broken.items()}
        good = {name: rows(db, "SELECT * FROM articles WHERE url = ?", (u,)) for name, u in url.items()}
        broken["empty-body"]["blocks"] = []
        broken["no-title"]["title"] = ""
        broken["short-body"]["blocks"] = [{"tag": "p", "html": "Коротко.", "text": "Коротко."}]
        assert crawl(db, mirror.url, *RECHECK).returncode == 0
    for name, u in url.items():
        assert rows(db, "SELECT * FROM articles WHERE url = ?", (u,)) == good[name], name
    rejects = {r["url"]: r for r in rows(db, "SELECT url, field, reason FROM rejects")}
    assert set(rejects) == set(url.values())
    expected_field = {"empty-body": "body", "no-title": "title", "short-body": "body"}
    assert {name: rejects[u]["field"] for name, u in url.items()} == expected_field
    assert rejects[url["short-body"]]["reason"].startswith("worse than the stored version")


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


# -- complete pages without optional end tags; bodies shorter than declared ------------------------


def test_a_complete_page_without_optional_end_tags_is_stored_whole(site: Site, tmp_path: Path) -> None:
    """No ``</body></html>`` (and, minified, no ``</p>``, ``</li>``, ``</head>``): a site that turns
    on a minifier is still collected, exactly as before. One crawl, a page of each kind."""
    reference, db = tmp_path / "reference.db", tmp_path / "minified.db"
    pages = zip(("unclosed", "minified"), plain_articles(site), strict=False)
    paths = {fault: site.path_of(article) for fault, article in pages}
    with MirrorServer(site) as mirror:
        assert crawl(reference, mirror.url).returncode == 0
        for fault, path in paths.items():
            site.faults[path] = fault
        assert crawl(db, mirror.url, *QUICK).returncode == 0
    for fault, path in paths.items():
        assert [r.fault for r in mirror.requests if r.path == path] == [None, fault]
    assert rows(db, "SELECT url FROM crawl_errors UNION ALL SELECT url FROM rejects") == []
    assert article_table(db) == article_table(reference)
    the_rest_is_stored(site, db, mirror.url, set())


@pytest.mark.parametrize(
    ("setting", "stage", "reason", "http_status"),
    [
        ("DOWNLOAD_FAIL_ON_DATALOSS=True", "fetch", "ResponseDataLossError", None),  # Scrapy's default
        ("DOWNLOAD_FAIL_ON_DATALOSS=False", "parse", "truncated page (", 200),  # let through: we refuse it
    ],
)
def test_a_body_shorter_than_its_content_length_is_refused(
    site: Site, db: Path, setting: str, stage: str, reason: str, http_status: int | None
) -> None:
    url, mirror, _ = crawl_with_fault(site, db, "short", "-s", setting)
    errors = rows(db, "SELECT url, stage, reason, http_status FROM crawl_errors")
    assert len(errors) == 1 and errors[0]["url"] == url and errors[0]["stage"] == stage, errors
    assert errors[0]["reason"].startswith(reason) and errors[0]["http_status"] == http_status, errors
    if stage == "parse":
        assert "bytes its Content-Length declares" in errors[0]["reason"]
    the_rest_is_stored(site, db, mirror.url, {url})


# -- any exception type: a field that cannot be read is NULL with its reason; an item is lost only
#    into rejects -------------------------------------------------------------------------------------


def test_unreadable_fields_are_null_with_their_reasons_and_the_article_is_stored(site: Site, tmp_path: Path) -> None:
    """A far ``dateModified`` (past datetime's range), a ``@type`` object (TypeError), a views counter past
    64 bits, a lead image and a canonical link that are no URLs (ValueError), title and paragraph
    nested 1,500 deep (RecursionError): the article is stored, each lost field on record, and the
    page is not fetched again by the next run. A value another layer still gives (the modification
    time in meta, the image in JSON-LD) is taken from there: an unreadable layer counts as absent."""
    reference, db = tmp_path / "reference.db", tmp_path / "hostile.db"
    path = site.path_of(victim(site))
    with MirrorServer(site) as mirror:
        assert crawl(reference, mirror.url).returncode == 0
        site.faults[path] = "hostile"
        assert crawl(db, mirror.url, *QUICK).returncode == 0
        assert crawl(db, mirror.url, *QUICK).returncode == 0  # stored: not refetched run after run
        url = mirror.url + path
    assert [r.fault for r in mirror.requests if r.path == path] == [None, "hostile"]
    sql = "SELECT title, lead, body, author, published_at, tags, lang, modified_at, views, image_url, sources"
    (good,) = rows(reference, sql + " FROM articles WHERE url = ?", (url,))
    (stored,) = rows(db, sql + " FROM articles WHERE url = ?", (url,))
    assert good["views"] is not None and stored["views"] is None
    assert {k: v for k, v in stored.items() if k not in ("views", "sources")} == {
        k: v for k, v in good.items() if k not in ("views", "sources")
    }
    layers = json.loads(stored["sources"])
    assert (layers["modified_at"], layers["image_url"]) == ("meta", "jsonld")
    errors = rows(db, "SELECT url, stage, reason FROM crawl_errors WHERE stage = 'parse' ORDER BY reason")
    assert [e["reason"].split(":")[0] for e in errors] == ["url", "views"], errors
    assert {e["url"] for e in errors} == {url} and "too large" in errors[1]["reason"]
    notes = rows(db, "SELECT url, reason FROM crawl_errors WHERE stage = 'layers' ORDER BY reason")
    assert [n["reason"].split(":")[0] for n in notes] == ["image_url", "modified_at"], notes
    assert "unreadable in site 'http://[::1'" in notes[0]["reason"]
    assert rows(db, "SELECT * FROM rejects") == []
    assert [r["status"] for r in rows(db, "SELECT status FROM crawl_runs")] == ["ok", "ok"]


def test_an_unreadable_publication_time_falls_to_the_next_layer_that_reads(site: Site, db: Path) -> None:
    """``<time datetime="0001-01-01T00:00:00+06:00">`` falls before year 1 in Kazakhstan time: the
    attribute counts as absent and the dateline's visible text gives the date. When every layer of
    the page (attribute, text, JSON-LD, meta) carries such a date, the listing's time for the entry
    is the date, with the unreadable layers on record. (No readable date anywhere is a reject:
    tests/test_layer_choice.py.)"""
    one, every = plain_articles(site)[:2]
    site.faults[site.path_of(one)] = "year-one"
    site.faults[site.path_of(every)] = "year-one-everywhere"
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url, *QUICK).returncode == 0
    sql = "SELECT published_at, sources FROM articles WHERE url = ?"
    for article, layer in ((one, "site"), (every, "listing")):
        (row,) = rows(db, sql, (mirror.url + site.path_of(article),))
        assert row["published_at"] == parse_datetime(article["published"]), layer
        assert json.loads(row["sources"])["published_at"] == layer
    (note,) = rows(db, "SELECT url, reason FROM crawl_errors WHERE stage = 'layers'")
    assert note["url"] == mirror.url + site.path_of(every)
    assert note["reason"].startswith("published_at: unreadable in site '0001-01-01T00:00:00+06:00', jsonld")
    assert rows(db, "SELECT * FROM rejects") == []
    the_rest_is_stored(site, db, mirror.url, set())


class RaiseInCallback:
    """A spider middleware for tests: the callback of one page (``TEST_RAISE_ON``) raises mid-output."""

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def from_crawler(cls, crawler: Any) -> RaiseInCallback:
        return cls(crawler.settings.get("TEST_RAISE_ON"))

    def process_spider_output(self, response: Any, result: Iterable[Any]) -> Iterator[Any]:
        for output in result:
            self._check(response)
            yield output

    async def process_spider_output_async(self, response: Any, result: AsyncIterable[Any]) -> AsyncIterator[Any]:
        async for output in result:
            self._check(response)
            yield output

    def _check(self, response: Any) -> None:
        if urlsplit(response.url).path == self.path:
            raise RuntimeError("injected fault in a spider callback")


def test_an_exception_in_a_spider_callback_is_an_error_of_its_page(site: Site, db: Path) -> None:
    path = site.path_of(victim(site))
    middleware = '{"tests.test_faults.RaiseInCallback": 10}'
    with MirrorServer(site) as mirror:
        result = crawl(db, mirror.url, "-s", f"SPIDER_MIDDLEWARES={middleware}", "-s", f"TEST_RAISE_ON={path}")
        assert result.returncode == 0, result.stderr
        url = mirror.url + path
    errors = rows(db, "SELECT url, stage, reason, http_status FROM crawl_errors")
    reason = "RuntimeError: injected fault in a spider callback"
    assert errors == [{"url": url, "stage": "parse", "reason": reason, "http_status": 200}]
    the_rest_is_stored(site, db, mirror.url, {url})


# -- layers that lie, text that is not the story (issue 13, findings 2 and 4) -------------------------

#: Fault → (the field it aims at, the layer that must give it, the field of the noted doubt or None).
FOLLOWED = {
    "logo-h1": ("title", "site", None),
    "logo-only-h1": ("title", "jsonld", "title"),
    "today-time": ("published_at", "jsonld", "published_at"),
    "site-time-off": ("published_at", "jsonld", "published_at"),
    "read-also-first": ("body", "site", None),
    "misdeclared-cp1251": ("title", "site", "encoding"),
}
#: Fault → (the rejected field, words of the reason).
REFUSED = {"consent": ("body", "a notice, not an article"), "double-encoded": ("title", "mojibake")}


def plain_articles(site: Site) -> list[dict]:
    """Listed articles with no variant of their own, the seed left out."""
    return [a for a in expected_articles(site) if a.get("variant") is None][1:]


def test_misleading_pages_are_read_by_their_truthful_layers_or_refused(site: Site, db: Path) -> None:
    """One crawl, a page per class: a logo h1, an h1 missing, a time that does not parse, a time
    that lies, a "read also" box first, cp1251 declared as UTF-8 are all stored exactly as the
    clean page would be, the doubt noted (stage ``layers``); a consent notice and a double-encoded
    page are rejects with their reason, and the run is ``ok``."""
    chosen = dict(zip([*FOLLOWED, *REFUSED], plain_articles(site), strict=True))
    for fault, article in chosen.items():
        site.faults[site.path_of(article)] = fault
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url).returncode == 0
    url = {fault: mirror.url + site.path_of(article) for fault, article in chosen.items()}
    for fault, (field, layer, noted) in FOLLOWED.items():
        article = chosen[fault]
        (row,) = rows(db, "SELECT title, body, published_at, sources FROM articles WHERE url = ?", (url[fault],))
        assert row["title"] == article["title"], fault
        assert row["body"] == body_text(article), fault
        assert row["published_at"] == parse_datetime(article["published"]), fault
        assert json.loads(row["sources"])[field] == layer, fault
        notes = rows(db, "SELECT reason FROM crawl_errors WHERE url = ? AND stage = 'layers'", (url[fault],))
        assert [n["reason"].split(":")[0] for n in notes] == ([noted] if noted else []), (fault, notes)
    rejects = {r["url"]: r for r in rows(db, "SELECT url, field, reason FROM rejects")}
    assert set(rejects) == {url[f] for f in REFUSED}
    for fault, (field, words) in REFUSED.items():
        assert rejects[url[fault]]["field"] == field and words in rejects[url[fault]]["reason"], rejects
    the_rest_is_stored(site, db, mirror.url, {url[f] for f in REFUSED})
    assert rows(db, "SELECT count(*) AS n FROM crawl_errors WHERE stage = 'parse'") == [{"n": 0}]


def test_a_recrawl_serving_another_text_leaves_the_stored_article_alone(site: Site, db: Path) -> None:
    """A stored story re-crawled as a consent notice, and one re-crawled with another story's text
    under its own title (as long, sharing almost no words): both rejects, every table unchanged."""
    plain = plain_articles(site)
    notice, swapped, donor = plain[1], plain[3], plain[4]
    assert shared_words(body_text(swapped), body_text(donor)) < SHARED_WORDS  # the case this test is about
    tables = ("articles", "article_versions")
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url).returncode == 0
        before = {t: rows(db, f"SELECT * FROM {t} ORDER BY 1") for t in tables}
        site.faults[site.path_of(notice)] = "consent"
        swapped["blocks"] = donor["blocks"]
        assert crawl(db, mirror.url, *RECHECK).returncode == 0
    after = {t: rows(db, f"SELECT * FROM {t} ORDER BY 1") for t in tables}
    seen = [{**row, "last_seen_at": None} for row in after["articles"]]  # the rest were seen again, unchanged
    assert seen == [{**row, "last_seen_at": None} for row in before["articles"]]
    assert after["article_versions"] == before["article_versions"]
    rejects = {r["url"]: r for r in rows(db, "SELECT url, field, reason FROM rejects")}
    assert set(rejects) == {mirror.url + site.path_of(a) for a in (notice, swapped)}
    assert "a notice" in rejects[mirror.url + site.path_of(notice)]["reason"]
    assert "another text" in rejects[mirror.url + site.path_of(swapped)]["reason"]


def test_widgets_the_selectors_miss_are_read_by_their_shape_and_the_run_says_it_drifted(site: Site, db: Path) -> None:
    """The home page with every class renamed away: the sidebar and the rates are still stored, found
    by their shape, and the run's warning (and ``informburo status``) names both parts as drifted."""
    site.faults["/"] = "classless"
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url, "--only", "most_read,rates").returncode == 0
    assert len(rows(db, "SELECT rank FROM most_read")) == len(site.most_read)
    assert len(rows(db, "SELECT currency FROM rates")) == len(site.rates)
    (run,) = rows(db, "SELECT status, warning FROM crawl_runs")
    assert run["status"] == "ok" and run["warning"].startswith("layout drift: most-read sidebar:"), run
    assert "currency rates:" in run["warning"]
    status = informburo("status", "--db", str(db))
    assert "WARNING run 1: layout drift: most-read sidebar" in status.stdout


def test_sidebar_counters_moved_to_a_script_are_null_and_the_run_says_it_drifted(site: Site, db: Path) -> None:
    """The sidebar's view counters filled by a script, as the article's are on the live site: the
    entries are stored with views NULL (the script's text is never read as a number), and the run's
    warning names the sidebar, with no error counted."""
    site.faults["/"] = "scripted-counters"
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url, "--only", "most_read").returncode == 0
    entries = rows(db, "SELECT rank, views, comments FROM most_read ORDER BY rank")
    assert len(entries) == len(site.most_read) and all(e["views"] is None for e in entries)
    assert all(e["comments"] is not None for e in entries)  # only the views moved
    (run,) = rows(db, "SELECT status, errors, warning FROM crawl_runs")
    assert (run["status"], run["errors"]) == ("ok", 0), run
    assert "most-read sidebar: 10 of the sidebar's counters are loaded by a script" in run["warning"]
    assert rows(db, "SELECT count(*) AS n FROM crawl_errors WHERE reason LIKE '%not a counter%'") == [{"n": 0}]
