"""Datasette over a crawled archive: every canned query, search, descriptions, chart queries, read-only.

The archive is the served mirror crawled twice, with an article edited, the sidebar
reordered and a rate changed in between; every expectation is derived from the mirror's
content, and every request goes through Datasette's own test client (no server).
"""

from __future__ import annotations

import asyncio
import copy
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from datasette.app import Datasette

from core.clock import KZ_TZ
from mirror.server import MirrorServer
from mirror.site import DISALLOWED, Site, body_text
from storage.browse import (
    CHART_PLUGIN,
    HOST,
    METADATA,
    METADATA_DATABASE,
    PLUGINS,
    TEMPLATES,
    database_name,
    datasette_args,
    load_metadata,
)
from storage.schema import migrate
from tests.conftest import crawl, rows

#: The second run: the sidebar and the rates again, and every stored article re-read (edits, views).
SECOND_RUN = ("--only", "most_read,rates,recheck", "-s", "INFORMBURO_RECHECK_DAYS=100000")


@dataclass
class Archive:
    """A database crawled twice from the mirror, and the mirror's content at each run."""

    db: Path
    base: str  # the mirror's URL: stored article URLs start with it
    site: Site  # the content the second run saw
    first: Site  # the content the first run saw
    edited: dict[str, Any]  # the article whose text and views changed between the runs
    today: dict[str, Any]  # the article dated today (Kazakhstan time)

    def url(self, article: dict[str, Any]) -> str:
        return self.base + self.site.path_of(article)

    def stored(self) -> list[dict[str, Any]]:
        """The articles a crawl stores: all but the one robots.txt forbids."""
        return [a for a in self.site.articles if not self.site.path_of(a).startswith(DISALLOWED)]


def build_archive(db: Path) -> Archive:
    """Crawl the mirror, edit an article, reorder the sidebar, move a rate, crawl again."""
    site = Site.default()
    today = site.articles[0]  # the newest: re-dated to today keeps the listing's order
    today["published"] = datetime.now(KZ_TZ).replace(second=0, microsecond=0).isoformat()
    edited = site.articles[3]
    with MirrorServer(site) as mirror:
        first = copy.deepcopy(site)
        result = crawl(db, mirror.url)
        assert result.returncode == 0, result.stderr
        edited["blocks"][0]["html"] = edited["blocks"][0]["text"] = "Исправлено: новый первый абзац."
        edited["views"] = (edited["views"] or 0) + 100
        site.most_read = [
            {**entry, "rank": str(rank), "views": str(int(entry["views"]) + 10)}
            for rank, entry in enumerate(reversed(site.most_read), 1)
        ]
        buy, sell = rate_of(site.rates[0])
        site.rates[0]["value"] = f"{buy + 5.1:.1f} / {sell + 4.3:.1f}"
        result = crawl(db, mirror.url, *SECOND_RUN)
        assert result.returncode == 0, result.stderr
        return Archive(db, mirror.url, site, first, edited, today)


def rate_of(widget_row: dict[str, str]) -> tuple[float, float]:
    buy, sell = widget_row["value"].split("/")
    return float(buy), float(sell)


def currency_of(widget_row: dict[str, str]) -> str:
    return widget_row["code"].rstrip(":").strip().upper()


def sidebar_entry(site: Site, article: dict[str, Any]) -> dict[str, str]:
    return next(e for e in site.most_read if e["href"] == site.path_of(article))


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    return build_archive(tmp_path_factory.mktemp("datasette") / "informburo.db")


def fetch(db: Path, *paths: str, metadata: Path = METADATA) -> list[tuple[int, Any]]:
    """GET each path from a Datasette on ``db`` as ``informburo serve`` sets it up (metadata, templates, plugins);
    ``metadata``: another metadata file (a test proving a check fails on an older one)."""
    ds = Datasette(
        [str(db)],
        metadata=load_metadata(database_name(db), path=metadata),
        template_dir=str(TEMPLATES),
        plugins_dir=str(PLUGINS),
    )

    async def get_all() -> list[tuple[int, Any]]:
        out = []
        for path in paths:
            response = await ds.client.get(path)
            is_json = response.headers.get("content-type", "").startswith("application/json")
            out.append((response.status_code, response.json() if is_json else response.text))
        return out

    return asyncio.run(get_all())


def query(archive: Archive, name: str, **params: str) -> list[dict[str, Any]]:
    """The rows of a canned query."""
    [(status, data)] = fetch(archive.db, f"/informburo/{name}.json?" + urlencode({**params, "_shape": "array"}))
    assert status == 200, data
    return data


@pytest.mark.slow
def test_latest_rates_are_the_last_snapshot(archive: Archive) -> None:
    expected = sorted((currency_of(r), *rate_of(r)) for r in archive.site.rates)
    got = query(archive, "latest_rates")
    assert [(r["currency"], r["buy"], r["sell"]) for r in got] == expected
    assert {r["run_id"] for r in got} == {2}


@pytest.mark.slow
def test_rate_history_has_every_snapshot_of_one_currency_newest_first(archive: Archive) -> None:
    code = currency_of(archive.site.rates[0])
    (old_buy, old_sell), (new_buy, new_sell) = rate_of(archive.first.rates[0]), rate_of(archive.site.rates[0])
    got = query(archive, "rate_history", currency=code.lower())  # case and spaces do not matter
    assert [(r["run_id"], r["buy"], r["sell"]) for r in got] == [(2, new_buy, new_sell), (1, old_buy, old_sell)]
    assert got[0]["buy_change"] == pytest.approx(new_buy - old_buy)
    assert got[0]["sell_change"] == pytest.approx(new_sell - old_sell)
    assert got[1]["buy_change"] is None
    assert query(archive, "rate_history", currency="XXX") == []


@pytest.mark.slow
def test_latest_most_read_is_the_last_sidebar_by_rank(archive: Archive) -> None:
    got = query(archive, "latest_most_read")
    expected = [
        (int(e["rank"]), archive.base + e["href"], int(e["views"]), int(e["comments"]), int(e["reactions"]))
        for e in archive.site.most_read
    ]
    assert [(r["rank"], r["url"], r["views"], r["comments"], r["reactions"]) for r in got] == expected
    assert {r["run_id"] for r in got} == {2}


@pytest.mark.slow
def test_article_rank_history_gives_rank_and_views_per_run(archive: Archive) -> None:
    edited = archive.edited
    before, after = sidebar_entry(archive.first, edited), sidebar_entry(archive.site, edited)
    got = query(archive, "article_rank_history", url=archive.url(edited))
    assert [(r["run_id"], r["most_read_rank"], r["most_read_views"], r["page_views"]) for r in got] == [
        (2, int(after["rank"]), int(after["views"]), edited["views"]),
        (1, int(before["rank"]), int(before["views"]), edited["views"] - 100),
    ]
    # An article never in the sidebar: its page's counter only.
    outsider = next(
        a
        for a in archive.stored()
        if a["views"] and not any(e["href"] == archive.site.path_of(a) for e in archive.site.most_read)
    )
    got = query(archive, "article_rank_history", url=archive.url(outsider))
    assert [(r["run_id"], r["most_read_rank"], r["page_views"]) for r in got] == [
        (2, None, outsider["views"]),
        (1, None, outsider["views"]),
    ]


@pytest.mark.slow
def test_published_today_uses_the_kazakhstan_date(archive: Archive) -> None:
    got = query(archive, "published_today")
    assert [(r["url"], r["published_at"]) for r in got] == [(archive.url(archive.today), archive.today["published"])]
    # At 20:30 UTC it is already the next day in Kazakhstan: the same SQL with that instant as "now".
    sql = load_metadata()["databases"][METADATA_DATABASE]["queries"]["published_today"]["sql"]
    assert sql.count("'now'") == 1
    evening = sql.replace("'now'", "'2026-01-15 20:30:00'")
    expected = {archive.url(a) for a in archive.stored() if a["published"].startswith("2026-01-16")}
    assert len(expected) > 1
    assert {r["url"] for r in rows(archive.db, evening)} == expected


@pytest.mark.slow
def test_published_on_a_day_lists_that_days_articles_newest_first(archive: Archive) -> None:
    day = archive.edited["published"][:10]
    expected = sorted(
        ((a["published"], archive.url(a)) for a in archive.stored() if a["published"][:10] == day), reverse=True
    )
    assert len(expected) > 1
    assert [(r["published_at"], r["url"]) for r in query(archive, "published_on", date=day)] == expected
    assert query(archive, "published_on", date="1999-01-01") == []


@pytest.mark.slow
def test_articles_by_tag_reads_the_tags_array(archive: Archive) -> None:
    tag = archive.site.articles[0]["tags"][0]
    expected = {archive.url(a) for a in archive.stored() if tag in a["tags"]}
    assert len(expected) > 1
    got = query(archive, "articles_by_tag", tag=tag)
    assert {r["url"] for r in got} == expected
    assert [r["published_at"] for r in got] == sorted((r["published_at"] for r in got), reverse=True)
    assert query(archive, "articles_by_tag", tag=tag[:-1]) == []  # whole tags, not substrings


@pytest.mark.slow
def test_edited_articles_and_their_versions(archive: Archive) -> None:
    edited = archive.url(archive.edited)
    marked = {archive.url(a) for a in archive.stored() if a["modified"] and a["modified"] != a["published"]}
    got = {r["url"]: r for r in query(archive, "edited_articles")}
    assert set(got) == marked | {edited}
    assert got[edited]["versions"] == 2 and got[edited]["last_change_seen"] is not None
    assert all(got[url]["versions"] == 1 and got[url]["modified_at"] for url in marked)

    versions = query(archive, "article_versions_of", url=edited)
    assert [(v["version"], v["run_id"]) for v in versions] == [(1, 1), (2, 2)]
    assert versions[1]["body"] == body_text(archive.edited) != versions[0]["body"]
    assert versions[0]["body"] == body_text(
        next(a for a in archive.first.articles if a["slug"] == archive.edited["slug"])
    )


def _mentions(article: dict[str, Any], word: str) -> bool:
    text = " ".join([article["title"], article["lead"] or "", body_text(article), " ".join(article["tags"])])
    return word.casefold() in text.casefold()


@pytest.mark.slow
def test_search_query_ranks_highlights_and_agrees_with_the_search_box(archive: Archive) -> None:
    expected = {archive.url(a) for a in archive.stored() if _mentions(a, "КТК")}
    assert len(expected) > 1
    got = query(archive, "search", q="ктк")
    assert {r["url"] for r in got} == expected
    assert all("[КТК]" in r["snippet"] or "[КТК]" in r["title"] for r in got)
    seed = archive.site.articles[0]
    assert next(r["title"] for r in got if r["url"] == archive.url(seed)) == seed["title"].replace("КТК", "[КТК]")
    # The table's own search box, on the FTS5 index Datasette found by itself.
    [(status, data)] = fetch(
        archive.db, "/informburo/articles.json?" + urlencode({"_search": "ктк", "_shape": "array"})
    )
    assert status == 200 and {r["url"] for r in data} == expected
    [(status, page)] = fetch(archive.db, "/informburo/articles")
    assert 'action="/informburo/search_newest"' in page and 'name="q"' in page  # the box sends the words there


@pytest.mark.slow
def test_search_newest_finds_the_same_articles_newest_first(archive: Archive) -> None:
    ranked = query(archive, "search", q="ктк")
    newest = query(archive, "search_newest", q="ктк")
    assert {r["url"] for r in newest} == {r["url"] for r in ranked}
    dates = [r["published_at"] for r in newest]
    assert dates == sorted(dates, reverse=True) and len(dates) > 1


#: Every canned query, and the test above that checks its rows against the mirror.
CANNED = {
    "latest_rates": test_latest_rates_are_the_last_snapshot,
    "rate_history": test_rate_history_has_every_snapshot_of_one_currency_newest_first,
    "latest_most_read": test_latest_most_read_is_the_last_sidebar_by_rank,
    "article_rank_history": test_article_rank_history_gives_rank_and_views_per_run,
    "published_today": test_published_today_uses_the_kazakhstan_date,
    "published_on": test_published_on_a_day_lists_that_days_articles_newest_first,
    "articles_by_tag": test_articles_by_tag_reads_the_tags_array,
    "edited_articles": test_edited_articles_and_their_versions,
    "article_versions_of": test_edited_articles_and_their_versions,
    "search": test_search_query_ranks_highlights_and_agrees_with_the_search_box,
    "search_newest": test_search_newest_finds_the_same_articles_newest_first,
}


@pytest.mark.slow
def test_every_canned_query_is_tested_documented_and_runs_without_parameters(archive: Archive) -> None:
    queries = load_metadata()["databases"][METADATA_DATABASE]["queries"]
    assert set(queries) == set(CANNED)
    doc = (Path(__file__).resolve().parent.parent / "docs" / "datasette.md").read_text(encoding="utf-8")
    for name, spec in queries.items():
        assert spec.get("title") and spec.get("description"), name
        assert f"`{name}`" in doc, f"{name} is not in docs/datasette.md"
    results = fetch(archive.db, *(f"/informburo/{name}.json?_shape=array" for name in queries))
    for name, (status, data) in zip(queries, results, strict=True):
        assert status == 200 and isinstance(data, list), (name, data)  # an empty search matches nothing, quietly


def test_every_table_and_column_has_a_description() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    from sqlite_utils import Database

    migrate(Database(conn))
    shadow = re.compile(r"^articles_fts_(data|idx|docsize|config|content)$")  # FTS5's own storage, hidden by Datasette
    tables = [
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") if not shadow.match(r[0])
    ]
    described = load_metadata()["databases"][METADATA_DATABASE]["tables"]
    assert set(described) == set(tables), "metadata tables differ from the schema"
    for table in tables:
        assert described[table].get("description"), table
        columns = [r[0] for r in conn.execute("SELECT name FROM pragma_table_info(?)", (table,))]
        assert set(described[table].get("columns", {})) == set(columns), f"{table}: described columns differ"
        assert all(described[table]["columns"].values()), table


@pytest.mark.slow
def test_tables_open_sorted_and_faceted(archive: Archive) -> None:
    (_, articles), (_, most_read), (_, rates) = fetch(
        archive.db,
        "/informburo/articles.json?_shape=objects&_size=5",
        "/informburo/most_read.json?_shape=array&_size=12",
        "/informburo/rates.json?_shape=array",
    )
    newest = sorted(archive.stored(), key=lambda a: a["published"], reverse=True)[:5]
    assert [r["url"] for r in articles["rows"]] == [archive.url(a) for a in newest]
    assert {"section", "lang", "tags"} <= set(articles["facet_results"])
    tags = {f["value"]: f["count"] for f in articles["facet_results"]["tags"]["results"]}
    tag = archive.site.articles[0]["tags"][0]
    assert tags[tag] == sum(tag in a["tags"] for a in archive.stored())
    # The latest snapshot first (Datasette 0.65 sorts a table by one column: ranks within a run follow the index).
    assert [r["run_id"] for r in most_read] == [2] * 10 + [1] * 2
    assert sorted(r["rank"] for r in most_read[:10]) == list(range(1, 11))
    assert [r["captured_at"] for r in rates] == sorted((r["captured_at"] for r in rates), reverse=True)
    assert [r["run_id"] for r in rates][:3] == [2, 2, 2]


def _chart_rows(archive: Archive, dashboard: str, chart: str, **filters: str) -> list[dict[str, Any]]:
    """A chart's data, requested as datasette-dashboards' own JavaScript does."""
    from datasette_dashboards import replace_opts_in_query

    spec = load_metadata()["plugins"][CHART_PLUGIN][dashboard]["charts"][chart]
    sql = replace_opts_in_query(spec["query"], filters)
    [(status, data)] = fetch(
        archive.db, f"/{spec['db']}.json?" + urlencode({"sql": sql, **filters, "_shape": "objects"})
    )
    assert status == 200, data
    return data["rows"]


@pytest.mark.slow
def test_chart_queries_return_the_series_they_draw(archive: Archive) -> None:
    code = currency_of(archive.site.rates[0])
    got = _chart_rows(archive, "rates", "rates-chart", currency=code)
    assert sorted((r["buy"], r["sell"]) for r in got) == sorted(
        [rate_of(archive.first.rates[0]), rate_of(archive.site.rates[0])]
    )
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", r["time"]) for r in got)  # Kazakhstan wall time
    day = got[0]["time"][:10]
    assert len(_chart_rows(archive, "rates", "rates-chart", currency=code, date_start=day, date_end=day)) == 2
    assert _chart_rows(archive, "rates", "rates-chart", currency=code, date_end="2000-01-01") == []

    edited = archive.edited
    got = _chart_rows(archive, "article-views", "views-chart", url=archive.url(edited))
    sidebar = [int(sidebar_entry(s, edited)["views"]) for s in (archive.first, archive.site)]
    assert sorted((r["counter"], r["views"]) for r in got) == sorted(
        [("article page", edited["views"] - 100), ("article page", edited["views"])]
        + [("most-read sidebar", v) for v in sidebar]
    )
    assert {r["article"] for r in got} == {edited["title"]}
    ranks = _chart_rows(archive, "article-views", "rank-chart", url=archive.url(edited))
    assert sorted(r["rank"] for r in ranks) == sorted(
        int(sidebar_entry(s, edited)["rank"]) for s in (archive.first, archive.site)
    )
    # Without a URL: the current first of the most-read list.
    top = archive.base + archive.site.most_read[0]["href"]
    assert {r["views"] for r in _chart_rows(archive, "article-views", "views-chart")} == {
        r["views"] for r in rows(archive.db, "SELECT views FROM article_views WHERE url = ?", (top,))
    }


@pytest.mark.slow
def test_chart_pages_load_only_this_servers_files(archive: Archive) -> None:
    (s1, rates), (s2, views) = fetch(
        archive.db, "/-/dashboards/rates?currency=USD", f"/-/dashboards/article-views?url={archive.url(archive.edited)}"
    )
    assert s1 == s2 == 200
    for page in (rates, views):
        assets = re.findall(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=\"([^\"]+)\"", page)
        assert any(a.endswith("/vega-lite.min.js") for a in assets)
        assert all(a.startswith("/") and not a.startswith("//") for a in assets), assets
        for status, _ in fetch(archive.db, *assets):
            assert status == 200


@pytest.mark.slow
def test_writes_through_sql_are_refused(archive: Archive) -> None:
    before = rows(archive.db, "SELECT count(*) AS n FROM rates")
    attempts = [
        "INSERT INTO rates VALUES (99, 'now', 'XXX', 1, 1)",
        "WITH x AS (SELECT 1) INSERT INTO rates SELECT 99, 'now', 'XXX', 1, 1 FROM x",  # passes Datasette's check
        "WITH x AS (SELECT 1) DELETE FROM rates",
    ]
    results = fetch(archive.db, *(f"/informburo.json?{urlencode({'sql': sql})}" for sql in attempts))
    assert results[0][0] == 400 and "must be a SELECT" in results[0][1]["error"]
    for status, data in results[1:]:
        assert status == 400 and "readonly" in data["error"], data  # the file is opened mode=ro
    assert rows(archive.db, "SELECT count(*) AS n FROM rates") == before


def test_datasette_args_bind_localhost_read_only() -> None:
    args = datasette_args("data/informburo.db", 8123, "/tmp/m.json")
    assert args[:2] == ["serve", "data/informburo.db"]
    assert args[args.index("--host") + 1] == HOST == "127.0.0.1"
    assert args[args.index("--port") + 1] == "8123"
    assert args[args.index("--metadata") + 1] == "/tmp/m.json"
    assert not {"-i", "--immutable", "--inspect-file", "--root", "--crossdb"} & set(args)


def test_metadata_follows_the_database_files_name() -> None:
    assert database_name("backups/archive-2026.db") == "archive-2026"
    metadata = load_metadata("archive-2026")
    assert set(metadata["databases"]) == {"archive-2026"}
    assert set(metadata["databases"]["archive-2026"]["queries"]) == set(CANNED)
    for dashboard in metadata["plugins"][CHART_PLUGIN].values():
        for part in (*dashboard.get("filters", {}).values(), *dashboard["charts"].values()):
            assert part.get("db", "archive-2026") == "archive-2026"


def test_serve_refuses_a_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli import EXIT_USAGE, main

    assert main(["serve", "--db", str(tmp_path / "nothing.db"), "--port", "8123"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no database at" in err
    assert not (tmp_path / "nothing.db").exists()
