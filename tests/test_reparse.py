"""``informburo reparse`` never loses or degrades what the database holds.

Reparse rebuilds only what it can rebuild from archived pages, replays them in fetch order,
never deletes a version it cannot rebuild, and leaves every table identical when the
extractor has not changed. The fast tests build their history in-process (each fetch archived
and stored through the very functions the spider and the pipelines use); the slow one crawls
the mirror for real, then prunes the archive, and reparses through the command line.

What a reparse may add, and nothing else: its own ``crawl_runs`` row; rebuilt versions (with
the run and fetch time of their page); the ``articles`` columns its latest page changes; and
``rejects`` / ``crawl_errors`` rows, under its own run id, for problems not yet on record for
that page.
"""

from __future__ import annotations

import json
import random
import sqlite3
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import Headers, Response
from scrapy.responsetypes import responsetypes

import crawler.pages.versions as page_versions
import pipelines.store
import storage.writes
from crawler.items import Article, MostReadEntry, PageError, RateQuote
from crawler.pages.article import parse_article
from crawler.pages.versions import PageVersion, check_registry
from crawler.spiders.informburo import page_problem, page_selector
from jobs.reparse import ReparseOutcome, reparse
from mirror.server import MirrorServer
from mirror.site import Site, body_text, encode_page, render_article
from pipelines.store import Store, store_item
from storage.archive import Archive, RawPage, archive_path
from storage.db import writer
from storage.ledger import start_run
from tests.conftest import crawl, informburo, rows
from tests.test_history import RECHECK

BASE = "https://informburo.kz"
T1, T2, T3, T4 = (f"2026-01-{day}T10:00:00+05:00" for day in (16, 17, 18, 19))

Tables = dict[str, list[tuple[Any, ...]]]


def every_table(db: Path, *leave_out_runs: int) -> Tables:
    """Every row of every table of the database (search index included), but the run rows of ``leave_out_runs``."""
    conn = sqlite3.connect(db)
    try:
        names = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        found = {}
        for name in sorted(names):
            cursor = conn.execute(f'SELECT * FROM "{name}"')
            table = cursor.fetchall()
            if name == "crawl_runs":
                table = [r for r in table if r[0] not in leave_out_runs]
            found[name] = sorted(table, key=repr)
        return found
    finally:
        conn.close()


def differences(before: Tables, after: Tables) -> dict[str, tuple[list[Any], list[Any]]]:
    """Per table, the rows only before and the rows only after (empty when identical)."""
    found = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, []), after.get(name, [])
        if old != new:
            found[name] = ([r for r in old if r not in new], [r for r in new if r not in old])
    return found


# --- an in-process history: what the spider and the pipelines do with each fetched page ---


def page(site: Site, article: dict[str, Any]) -> tuple[str, str, bytes]:
    """(URL, Content-Type, body) of an article as the mirror serves it."""
    content_type, body = encode_page(article, render_article(site, article, BASE))
    return BASE + site.path_of(article), content_type, body


def collect(
    db: Path,
    at: str,
    pages: list[tuple[str, str, bytes]],
    *,
    archived: bool = True,
    extra: list[Any] | None = None,
) -> int:
    """One run at ``at``: each page archived (unless ``archived`` is off, as in distributed mode), then read and
    stored as the spider's ``parse_article`` and the three pipelines do; ``extra`` items stored as they come."""
    with writer(db) as database, Archive(archive_path(db)) as archive:
        run_id = start_run(database, at, job="articles")
        store = Store(database, run_id)
        for url, content_type, body in pages:
            headers = {"Content-Type": content_type, "Etag": f'"{zlib.crc32(body):x}"'}
            raw = RawPage(url, at, 200, headers, body, run_id, None)
            if archived:
                archive.add(raw)
            response = response_of(raw)
            problem = page_problem(response)
            if problem:
                store.store(PageError(url, "parse", problem, 200, at))
                continue
            item = parse_article(page_selector(response), url, at, None)
            item.http = {"url": url, "etag": headers["Etag"], "last_modified": None}
            store_item(store, item, url=url)
        for item in extra or []:
            store_item(store, item, url=BASE)
        store.finish("ok", pages=len(pages), drift_threshold=0.5)
        return run_id


def response_of(raw: RawPage) -> Response:
    """The Scrapy response the download handler makes of such an answer (its class picked the same way)."""
    headers = Headers(raw.headers)
    cls = responsetypes.from_args(headers=headers, url=raw.url, body=raw.body)
    return cls(url=raw.url, status=raw.status, headers=headers, body=raw.body)


def snapshot_items(at: str, views: int) -> list[Any]:
    """A sidebar entry and a rate, so the tables a reparse must not touch hold something."""
    return [
        MostReadEntry(rank="1", title="🥩 Ярмарка", url=f"{BASE}/novosti/yarmarka", views=str(views), captured_at=at),
        RateQuote(currency="USD:", buy="505,1", sell="508,1", captured_at=at),
    ]


def edited(article: dict[str, Any], text: str, *, longer: int = 0) -> dict[str, Any]:
    """A copy of ``article`` whose first paragraph is ``text``, with ``longer`` long paragraphs added."""
    copy = {**article, "blocks": [dict(b) for b in article["blocks"]]}
    first = next(b for b in copy["blocks"] if b.get("tag") == "p" and not b.get("noise"))
    first["html"] = first["text"] = text
    for n in range(longer):
        sentence = f"Дополнение {n}: подробности, цифры и цитаты, которых в первой версии не было. "
        copy["blocks"].append({"tag": "p", "html": sentence * 4, "text": (sentence * 4).strip()})
    return copy


def versions(db: Path, article: dict[str, Any], site: Site) -> list[dict[str, Any]]:
    sql = "SELECT id, run_id, captured_at, title, body FROM article_versions WHERE url = ? ORDER BY id"
    return rows(db, sql, (BASE + site.path_of(article),))


def every_column(db: Path, article: dict[str, Any], site: Site) -> list[dict[str, Any]]:
    """An article's versions, every column, in ``id`` order."""
    return rows(db, "SELECT * FROM article_versions WHERE url = ? ORDER BY id", (BASE + site.path_of(article),))


def article_row(db: Path, article: dict[str, Any], site: Site) -> dict[str, Any]:
    return rows(db, "SELECT * FROM articles WHERE url = ?", (BASE + site.path_of(article),))[0]


def new_extractor(
    monkeypatch: pytest.MonkeyPatch, change: Callable[[Article], None], valid_from: str | None = None
) -> None:
    """A new article page version (crawler/pages/versions.py) that reads pages fetched from ``valid_from``
    (every page when ``None``) as today's extractor then ``change``s the item."""

    def parse_v2(sel: Any, url: str, captured_at: str | None = None, listing_published: str | None = None) -> Any:
        item = parse_article(sel, url, captured_at, listing_published)
        change(item)
        return item

    if valid_from is None:
        article = (PageVersion("v2", None, None, parse_v2),)
    else:
        moment = datetime.fromisoformat(valid_from)
        article = (PageVersion("v1", None, moment, parse_article), PageVersion("v2", moment, None, parse_v2))
    monkeypatch.setattr(page_versions, "VERSIONS", check_registry({**page_versions.VERSIONS, "article": article}))


def prune_before(db: Path, at: str) -> int:
    """Archive retention, as a run applies it, dropping every page fetched before ``at``."""
    with Archive(archive_path(db)) as archive:
        return archive.prune(max_days=1, max_mb=None, now=datetime.fromisoformat(at) + timedelta(days=1))


@pytest.fixture
def history(site: Site, db: Path) -> dict[str, dict[str, Any]]:
    """Four runs over seven articles, with every kind of page the store meets.

    ``grows``: version 1 is under half of version 2 (then a third version); ``cut``: its second
    page is worse than the first (rejected); ``stripped``: its second page lost the lead, author and
    image (rejected); ``broken``: truncated, then good; ``garbage``: binary bytes (rejected);
    ``counted``: only its view counter changes, then it is unreadable (a recorded problem);
    ``steady``: fetched every run, never changed; ``unsigned``: the same text throughout, but it
    loses its author, then its tags change (a version each).
    """
    a = site.articles
    names = {"grows": a[1], "cut": a[2], "stripped": a[3], "broken": a[4], "garbage": a[5], "counted": a[6]}
    names["steady"], names["unsigned"] = a[8], a[10]
    assert names["unsigned"]["author"]
    unsigned2 = {**names["unsigned"], "author": None}
    unsigned3 = {**unsigned2, "tags": [*unsigned2["tags"][:1], "Новый тег"]}
    grows2 = edited(names["grows"], "Обновлено: история выросла вдвое.", longer=6)
    grows3 = edited(grows2, "Обновлено ещё раз: уточнены цифры.", longer=6)
    cut = {**names["cut"], "blocks": names["cut"]["blocks"][:1]}
    stripped = {**names["stripped"], "lead": None, "author": None, "image": None}
    url, content_type, good = page(site, names["broken"])
    truncated = (url, content_type, good[: len(good) * 2 // 5])
    garbage = (page(site, names["garbage"])[0], "text/html", random.Random(5).randbytes(20_000))
    counted2, counted3 = {**names["counted"], "views": 9999}, {**names["counted"], "views": "много"}

    every = [names[n] for n in ("grows", "cut", "stripped", "counted", "steady", "unsigned")]
    collect(db, T1, [page(site, x) for x in every] + [(url, content_type, good)], extra=snapshot_items(T1, 10))
    run2 = [page(site, x) for x in (grows2, cut, stripped, counted2, names["steady"], unsigned2)]
    run2 += [truncated, garbage]
    collect(db, T2, run2, extra=[*snapshot_items(T2, 20), PageError(f"{BASE}/novosti/gone", "fetch", "HTTP 500", 500)])
    run3 = [page(site, x) for x in (grows3, names["cut"], names["stripped"], counted3, names["steady"], unsigned3)]
    collect(db, T3, [*run3, (url, content_type, good)], extra=snapshot_items(T3, 30))
    collect(db, T4, [page(site, names["steady"])], extra=snapshot_items(T4, 40))
    return names


def test_an_unchanged_extractor_leaves_every_table_identical(
    history: dict[str, dict[str, Any]], site: Site, db: Path
) -> None:
    grows = versions(db, history["grows"], site)
    assert len(grows) == 3 and len(grows[0]["body"]) * 2 < len(grows[1]["body"])  # the history is what we meant
    unsigned = every_column(db, history["unsigned"], site)
    assert [(v["run_id"], v["author"] is None, len(json.loads(v["tags"]))) for v in unsigned] == [
        (1, False, len(history["unsigned"]["tags"])),
        (2, True, len(history["unsigned"]["tags"])),
        (3, True, 2),
    ]
    assert len({v["content_hash"] for v in unsigned}) == 1  # versions of the same text
    worse = rows(db, "SELECT url FROM rejects WHERE reason LIKE 'worse than the stored version%'")
    assert {r["url"] for r in worse} == {BASE + site.path_of(history[n]) for n in ("cut", "stripped")}
    errors = {r["url"] for r in rows(db, "SELECT url FROM crawl_errors WHERE stage = 'parse'")}
    assert {BASE + site.path_of(history[n]) for n in ("broken", "counted")} <= errors
    before = every_table(db)

    outcome = reparse(db)
    assert differences(before, every_table(db, outcome.run_id)) == {}
    # not stored: the cut and the stripped pages, the truncated one, the binary one (rejected or unreadable)
    assert (outcome.pages, outcome.stored, outcome.rejected) == (7 + 8 + 7 + 1, 19, 4)
    assert (outcome.versions_rebuilt, outcome.versions_dropped, outcome.articles_changed) == (0, 0, 0)
    assert rows(db, "SELECT job, status, items_rejected, errors FROM crawl_runs WHERE id = ?", (outcome.run_id,)) == [
        {"job": "reparse", "status": "ok", "items_rejected": 0, "errors": 0}  # nothing new to record
    ]


def test_a_reparse_after_archive_retention_and_since_a_date_changes_nothing_either(
    history: dict[str, dict[str, Any]], site: Site, db: Path
) -> None:
    before = every_table(db)
    assert prune_before(db, T2) == 7  # the first run's pages: every first version has lost its page
    outcome = reparse(db)
    assert differences(before, every_table(db, outcome.run_id)) == {}
    since = reparse(db, T3)
    assert differences(before, every_table(db, outcome.run_id, since.run_id)) == {}
    assert (outcome.pages, since.pages) == (8 + 7 + 1, 7 + 1)


def test_a_first_version_under_half_of_the_next_survives(site: Site, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    short = site.articles[1]
    grown = edited(short, "Обновлено: история выросла вдвое.", longer=6)
    collect(db, T1, [page(site, short)])
    collect(db, T2, [page(site, grown)])
    stored = versions(db, short, site)
    assert len(stored[0]["body"]) * 2 < len(stored[1]["body"])

    unchanged = reparse(db)
    assert versions(db, short, site) == stored  # the same rows, ids included
    assert isinstance(unchanged, ReparseOutcome) and (unchanged.pages, unchanged.stored, unchanged.rejected) == (
        2,
        2,
        0,
    )

    new_extractor(monkeypatch, lambda item: setattr(item, "title", item.title + " (v2)"))
    outcome = reparse(db)
    rebuilt = versions(db, short, site)
    assert [(v["run_id"], v["captured_at"], v["body"]) for v in rebuilt] == [
        (v["run_id"], v["captured_at"], v["body"]) for v in stored
    ]
    assert all(v["title"] == short["title"] + " (v2)" for v in rebuilt) and outcome.rejected == 0


def test_a_version_whose_page_was_pruned_survives_untouched(
    site: Site, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = site.articles[3]
    two, three = edited(story, "Вторая редакция."), edited(story, "Третья редакция.")
    for at, text in ((T1, story), (T2, two), (T3, three)):
        collect(db, at, [page(site, text)])
    stored = versions(db, story, site)
    assert prune_before(db, T2) == 1

    new_extractor(monkeypatch, lambda item: setattr(item, "title", item.title + " (v2)"))
    outcome = reparse(db)
    rebuilt = versions(db, story, site)
    assert rebuilt[0] == stored[0]  # no page to rebuild it from: kept, row and id
    assert [(v["run_id"], v["captured_at"], v["body"]) for v in rebuilt[1:]] == [
        (v["run_id"], v["captured_at"], v["body"]) for v in stored[1:]
    ]
    assert [v["title"] for v in rebuilt] == [story["title"]] + [story["title"] + " (v2)"] * 2
    assert [v["id"] for v in rebuilt] == sorted(v["id"] for v in rebuilt)  # ids in fetch order
    row = article_row(db, story, site)
    assert row["title"] == story["title"] + " (v2)" and row["body"] == body_text(three)
    assert (row["versions"], row["last_change_seen"], row["last_seen_at"]) == (3, T3, T3)
    assert (outcome.versions_rebuilt, outcome.versions_dropped) == (2, 2)


def test_an_extractor_change_rebuilds_the_versions_of_its_pages_in_fetch_order(
    site: Site, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page version from T2 on: pages fetched before keep their versions; the rest are rebuilt."""
    story, ads = site.articles[3], site.articles[6]
    advert = {"tag": "p", "html": "Реклама: скидки недели.", "text": "Реклама: скидки недели."}
    with_ad = {**ads, "blocks": [*ads["blocks"], advert]}  # the old extractor read the advert as text
    collect(db, T1, [page(site, story), page(site, ads)], extra=snapshot_items(T1, 1))
    collect(db, T2, [page(site, edited(story, "Вторая редакция.")), page(site, with_ad)], extra=snapshot_items(T2, 2))
    uncounted = {**ads, "views": "много"}  # a recorded problem: the counter is not a number
    collect(db, T3, [page(site, edited(story, "Вторая редакция.")), page(site, uncounted)], extra=snapshot_items(T3, 3))
    failed = PageError(BASE + site.path_of(story), "fetch", "HTTP 500", 500, T4)  # the latest recheck failed
    collect(db, T4, [], extra=[failed])
    stored = versions(db, story, site)
    assert len(stored) == 2 and len(versions(db, ads, site)) == 3
    before = every_table(db)

    def v2(item: Article) -> None:
        item.title += " (v2)"
        item.body = [block for block in item.body if not block.startswith("Реклама")]

    new_extractor(monkeypatch, v2, valid_from=T2)
    outcome = reparse(db)
    after = every_table(db, outcome.run_id)
    rebuilt = versions(db, story, site)
    assert rebuilt[0] == stored[0]  # fetched before T2: read by v1, the same text, the same row
    assert (rebuilt[1]["run_id"], rebuilt[1]["captured_at"], rebuilt[1]["title"]) == (2, T2, story["title"] + " (v2)")
    assert rebuilt[1]["body"] == stored[1]["body"]
    # the advert was the only change of the second page: read without it, it is no new version
    ad_versions = versions(db, ads, site)
    assert [(v["run_id"], v["title"]) for v in ad_versions] == [(1, ads["title"]), (2, ads["title"] + " (v2)")]
    assert ad_versions[1]["body"] == body_text(ads)
    assert all([v["id"] for v in h] == sorted(v["id"] for v in h) for h in (rebuilt, ad_versions))  # fetch order
    for row, article in ((article_row(db, story, site), story), (article_row(db, ads, site), ads)):
        assert (row["title"], row["last_seen_at"], row["versions"]) == (article["title"] + " (v2)", T3, 2)
    # nothing else moved: views, snapshots, validators, the ledger (the failed recheck is still to retry)
    for table in ("article_views", "most_read", "rates", "http_validators", "crawl_errors", "rejects"):
        assert after[table] == before[table], table
    assert (outcome.versions_rebuilt, outcome.versions_dropped, outcome.articles_changed) == (2, 3, 2)
    again = reparse(db)  # the same extractor again: nothing left to rebuild
    assert differences(after, every_table(db, outcome.run_id, again.run_id)) == {}
    assert (again.versions_rebuilt, again.versions_dropped, again.articles_changed) == (0, 0, 0)


def test_the_row_keeps_a_later_sighting_that_is_not_in_the_archive(
    site: Site, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Distributed mode stores pages without archiving them: an older archived page must not overwrite them."""
    story, seen = site.articles[3], site.articles[6]
    collect(db, T1, [page(site, story), page(site, seen)])
    later = edited(story, "Правка, которую видел только распределённый режим.")
    collect(db, T2, [page(site, later), page(site, {**seen, "views": 99999})], archived=False)
    stored = versions(db, story, site)
    rows_before = {a["slug"]: article_row(db, a, site) for a in (story, seen)}
    assert rows_before[seen["slug"]]["views"] == 99999  # seen again, the same text: no version, a new count

    new_extractor(monkeypatch, lambda item: setattr(item, "title", item.title + " (v2)"))
    reparse(db)
    assert versions(db, story, site)[1] == {**stored[1], "id": versions(db, story, site)[1]["id"]}  # no page: kept
    assert versions(db, story, site)[0]["title"] == story["title"] + " (v2)"
    assert [v["title"] for v in versions(db, seen, site)] == [seen["title"] + " (v2)"]
    for article in (story, seen):  # the latest sighting stands: text, views, last_seen_at
        assert article_row(db, article, site) == rows_before[article["slug"]]


def test_since_leaves_older_versions_alone(site: Site, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    story = site.articles[1]
    two = edited(story, "Вторая редакция.")
    three = edited(story, "Третья редакция, намного длиннее.", longer=6)
    collect(db, T1, [page(site, story)])
    collect(db, T2, [page(site, two)])
    collect(db, T3, [page(site, three)], archived=False)  # a run with the archive off
    collect(db, T4, [page(site, edited(three, "Четвёртая редакция, такая же длинная."))])
    stored = versions(db, story, site)
    assert len(stored) == 4

    new_extractor(monkeypatch, lambda item: setattr(item, "title", item.title + " (v2)"))
    reparse(db, T2)
    rebuilt = versions(db, story, site)
    assert rebuilt[0] == stored[0]  # before --since: untouched
    assert rebuilt[2] == {**stored[2], "id": rebuilt[2]["id"]}  # no archived page: kept, in its place
    assert [(v["run_id"], v["captured_at"], v["title"]) for v in rebuilt] == [
        (1, T1, story["title"]),
        (2, T2, story["title"] + " (v2)"),  # under half of what followed, and still there
        (3, T3, story["title"]),
        (4, T4, story["title"] + " (v2)"),
    ]


def test_an_extractor_change_to_other_fields_than_the_text_is_carried_to_every_version(
    site: Site, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Versions record every field the site may change, so a reparse rebuilds those too, and a version
    that differed from the one before only by what the new extractor no longer reads is dropped."""
    story = site.articles[10]
    collect(db, T1, [page(site, story)])
    collect(db, T2, [page(site, {**story, "author": None})])  # only the author lost: a version
    collect(db, T3, [page(site, {**story, "author": None})])
    stored = every_column(db, story, site)
    assert [(v["run_id"], v["author"]) for v in stored] == [(1, story["author"]), (2, None)]

    new_extractor(monkeypatch, lambda item: setattr(item, "image_url", item.image_url.replace(".jpg", "-v2.jpg")))
    outcome = reparse(db)
    rebuilt = every_column(db, story, site)
    assert [(v["run_id"], v["captured_at"], v["author"]) for v in rebuilt] == [(1, T1, story["author"]), (2, T2, None)]
    assert all(v["image_url"].endswith("-v2.jpg") for v in rebuilt)
    assert article_row(db, story, site)["image_url"] == rebuilt[1]["image_url"]
    assert (outcome.versions_rebuilt, outcome.versions_dropped) == (2, 2)

    new_extractor(monkeypatch, lambda item: setattr(item, "author", None))  # no longer reads the byline
    outcome = reparse(db)
    assert [(v["run_id"], v["author"]) for v in every_column(db, story, site)] == [(1, None)]
    row = article_row(db, story, site)
    assert (row["author"], row["versions"], row["last_change_seen"]) == (None, 1, None)
    assert (outcome.versions_rebuilt, outcome.versions_dropped) == (1, 2)


def before_schema_10(db: Path, url: str, *, latest: int) -> None:
    """Make an article's history what the upgrade leaves of one stored before schema 10: only the first
    ``latest`` versions (the old store added one only for a new text), the last of them filled in from
    the ``articles`` row, the others with their fields not recorded; the row's counts to match."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        ids = [i for (i,) in conn.execute("SELECT id FROM article_versions WHERE url = ? ORDER BY id", (url,))]
        conn.execute("DELETE FROM article_versions WHERE id IN (SELECT value FROM json_each(?))", (str(ids[latest:]),))
        fields = ("lang", "author", "published_at", "modified_at", "tags", "image_url")
        unrecorded = ", ".join(f"{c} = NULL" for c in fields)
        conn.execute(f"UPDATE article_versions SET {unrecorded} WHERE url = ? AND id < ?", (url, ids[latest - 1]))
        filled = ", ".join(f"{c} = (SELECT {c} FROM articles WHERE url = ?)" for c in fields)
        conn.execute(f"UPDATE article_versions SET {filled} WHERE id = ?", (*[url] * len(fields), ids[latest - 1]))
        changed_at = conn.execute("SELECT captured_at FROM article_versions WHERE id = ?", (ids[latest - 1],))
        conn.execute(
            "UPDATE articles SET versions = ?, last_change_seen = ? WHERE url = ?",
            (latest, changed_at.fetchone()[0] if latest > 1 else None, url),
        )
    finally:
        conn.close()


def test_versions_from_before_schema_10_stand_and_a_change_the_old_store_missed_is_recovered(
    site: Site, db: Path
) -> None:
    """An upgraded history: versions of the text alone, the latest filled in from the row. With the
    extractor unchanged, a version whose page gives the same text stands as it is; where the archive
    shows a field the old store let change without a version (a lost author), the reparse records it."""
    plain, story = site.articles[6], site.articles[10]
    collect(db, T1, [page(site, plain), page(site, story)])
    plain2, story2 = edited(plain, "Вторая редакция."), edited(story, "Вторая редакция.")
    collect(db, T2, [page(site, plain2), page(site, story2)])
    collect(db, T3, [page(site, plain2), page(site, {**story2, "author": None})])
    before_schema_10(db, BASE + site.path_of(plain), latest=2)
    before_schema_10(db, BASE + site.path_of(story), latest=2)  # the old store added no version at T3
    assert [v["author"] for v in every_column(db, story, site)] == [None, None]  # not recorded, then the row's
    assert every_column(db, story, site)[0]["published_at"] is None
    before = every_table(db)

    outcome = reparse(db)
    after = every_table(db, outcome.run_id)
    changed = differences(before, after)
    assert set(changed) - {"articles_fts_data", "articles_fts_idx"} == {"article_versions", "articles"}, changed
    assert [r[0] for r in changed["articles"][1]] == [BASE + site.path_of(story)]  # only its counts moved
    rebuilt = every_column(db, story, site)
    first = [v for v in rebuilt if v["run_id"] == 1]
    assert first == [v for v in before_rows(before, story, site) if v["run_id"] == 1]  # stands, row and id
    assert [(v["run_id"], v["captured_at"], v["author"]) for v in rebuilt] == [
        (1, T1, None),  # not recorded, and left so
        (2, T2, story["author"]),  # the page of T2 had the author
        (3, T3, None),  # lost at T3: now a version
    ]
    assert [v["content_hash"] for v in rebuilt[1:]] == [rebuilt[1]["content_hash"]] * 2
    row = article_row(db, story, site)
    assert (row["versions"], row["last_change_seen"], row["author"]) == (3, T3, None)
    plain_rows = [r for r in changed["article_versions"][0] + changed["article_versions"][1] if plain["slug"] in r[1]]
    assert plain_rows == []  # the plain history stood whole: nothing the archive shows was missed
    assert (outcome.versions_rebuilt, outcome.versions_dropped) == (2, 1)
    again = reparse(db)
    assert differences(after, every_table(db, outcome.run_id, again.run_id)) == {}


def before_rows(tables: Tables, article: dict[str, Any], site: Site) -> list[dict[str, Any]]:
    """An article's versions in a snapshot of ``every_table``, as dicts of ``article_versions`` columns."""
    names = ["id", "url", "run_id", "captured_at", "content_hash", "title", "lead", "body"]
    names += ["lang", "author", "published_at", "modified_at", "tags", "image_url"]
    url = BASE + site.path_of(article)
    return sorted(
        (dict(zip(names, r, strict=True)) for r in tables["article_versions"] if r[1] == url), key=lambda v: v["id"]
    )


def test_pages_the_extractor_cannot_read_are_recorded_and_keep_their_versions(
    site: Site, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashes, untitled, fine = site.articles[1], site.articles[3], site.articles[6]
    collect(db, T1, [page(site, a) for a in (crashes, untitled, fine)])
    collect(db, T2, [page(site, edited(a, "Вторая редакция.")) for a in (crashes, untitled, fine)])
    before = {a["slug"]: versions(db, a, site) for a in (crashes, untitled, fine)}

    def v2(item: Article) -> None:
        if item.url.endswith(crashes["slug"]):
            raise RuntimeError("extractor bug")
        if item.url.endswith(untitled["slug"]):
            item.title = None
        item.title = item.title and item.title + " (v2)"

    new_extractor(monkeypatch, v2, valid_from=T2)
    outcome = reparse(db)
    for a in (crashes, untitled):
        assert versions(db, a, site) == before[a["slug"]]  # nothing rebuilt, nothing lost
    assert versions(db, fine, site)[1]["title"] == fine["title"] + " (v2)"
    assert outcome.rejected == 2 and outcome.unreadable == 1
    assert rows(db, "SELECT url, stage, reason FROM crawl_errors WHERE run_id = ?", (outcome.run_id,)) == [
        {"url": BASE + site.path_of(crashes), "stage": "parse", "reason": "RuntimeError: extractor bug"}
    ]
    assert rows(db, "SELECT url, field, reason FROM rejects WHERE run_id = ?", (outcome.run_id,)) == [
        {"url": BASE + site.path_of(untitled), "field": "title", "reason": "missing"}
    ]
    again = reparse(db)  # recorded once: a second reparse finds them on record
    assert rows(db, "SELECT count(*) AS n FROM rejects WHERE run_id = ?", (again.run_id,)) == [{"n": 0}]
    assert rows(db, "SELECT count(*) AS n FROM crawl_errors WHERE run_id = ?", (again.run_id,)) == [{"n": 0}]


def test_a_database_that_fails_mid_reparse_fails_the_run_and_keeps_each_article_whole(
    site: Site, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = site.articles[3]
    collect(db, T1, [page(site, story)])
    collect(db, T2, [page(site, edited(story, "Вторая редакция."))])
    before = every_table(db)

    def disk_full(*args: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(storage.writes, "add_version", disk_full)
    monkeypatch.setattr(pipelines.store, "add_version", disk_full)
    new_extractor(monkeypatch, lambda item: setattr(item, "title", item.title + " (v2)"))
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        reparse(db)
    run = rows(db, "SELECT id, status FROM crawl_runs ORDER BY id DESC LIMIT 1")[0]
    assert run["status"] == "failed"  # closed, not left `running`
    assert differences(before, every_table(db, run["id"])) == {}  # the article's writes were undone whole


def test_an_unreadable_archive_row_is_recorded_and_loses_nothing(site: Site, db: Path) -> None:
    story = site.articles[3]
    collect(db, T1, [page(site, story)])
    with Archive(archive_path(db)) as archive:
        archive.conn.execute("UPDATE raw_pages SET body = x'00ff00ff'")
    before = every_table(db)
    outcome = reparse(db)
    after = every_table(db, outcome.run_id)
    assert [r[3:5] for r in after["crawl_errors"]] == [("parse", f"archive unreadable: error: {_zlib_message()}")]
    assert differences(before, {**after, "crawl_errors": []}) == {}
    again = reparse(db)  # on record already: not recorded twice
    assert differences(after, every_table(db, outcome.run_id, again.run_id)) == {}


def _zlib_message() -> str:
    try:
        zlib.decompress(b"\x00\xff\x00\xff")
    except zlib.error as exc:
        return str(exc)
    raise AssertionError("not an error")


# --- the real thing: crawls of the mirror, retention, the command line ---


@pytest.mark.slow
def test_reparse_after_real_crawls_and_retention_changes_no_table(site: Site, db: Path) -> None:
    grows, cut, stripped, broken, garbage, unsigned = (site.articles[i] for i in (1, 2, 3, 4, 5, 10))
    grows_path, first, author = site.path_of(grows), dict(grows), unsigned["author"]
    original_cut, original_stripped = cut["blocks"], {k: stripped[k] for k in ("lead", "author", "image")}
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url).returncode == 0
        grows.update(edited(grows, "Обновлено: история выросла вдвое.", longer=6))
        cut["blocks"] = cut["blocks"][:1]
        stripped.update(lead=None, author=None, image=None)
        site.faults[site.path_of(broken)] = "truncated"
        site.faults[site.path_of(garbage)] = "binary"
        unsigned["author"] = None  # only the author lost: a version of the same text
        assert crawl(db, mirror.url, *RECHECK).returncode == 0
        grows.update(edited(grows, "Обновлено ещё раз: уточнены цифры."))
        cut["blocks"] = original_cut
        stripped.update(original_stripped)
        site.faults.clear()
        assert crawl(db, mirror.url, *RECHECK).returncode == 0
    history = rows(
        db, "SELECT run_id, body FROM article_versions WHERE url = ? ORDER BY id", (mirror.url + grows_path,)
    )
    assert [v["run_id"] for v in history] == [1, 2, 3] and len(history[0]["body"]) * 2 < len(history[1]["body"])
    assert history[0]["body"] == body_text(first)
    sql = "SELECT run_id, author FROM article_versions WHERE url = ? ORDER BY id"
    assert rows(db, sql, (mirror.url + site.path_of(unsigned),)) == [
        {"run_id": 1, "author": author},
        {"run_id": 2, "author": None},
    ]
    worse = rows(db, "SELECT url FROM rejects WHERE reason LIKE 'worse than the stored version%'")
    assert {r["url"] for r in worse} == {mirror.url + site.path_of(a) for a in (cut, stripped)}
    before = every_table(db)

    def reparsed(*args: str) -> int:
        result = informburo("reparse", "--db", str(db), *args)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        return rows(db, "SELECT max(id) AS id FROM crawl_runs")[0]["id"]

    run = reparsed()
    assert differences(before, every_table(db, run)) == {}
    with Archive(archive_path(db)) as archive:
        run2_start = archive.conn.execute("SELECT min(fetched_at) FROM raw_pages WHERE run_id = 2").fetchone()[0]
    assert prune_before(db, run2_start) > 0  # every first version has lost its page
    runs = [reparsed(), reparsed("--since", run2_start)]
    assert differences(before, every_table(db, run, *runs)) == {}
